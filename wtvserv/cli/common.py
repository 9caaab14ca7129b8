"""
What the subcommands share: where the data directory is, and how a mistake
is reported (one line on stderr, a non-zero exit).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from wtvserv.config import Config, ConfigError, loadConfig
from wtvserv.store.errors import StorageUnavailable, UnknownSchemaVersion


class CommandError(Exception):
    """A mistake or a refusal: the message is the one line the operator sees."""


def addDataOptions(parser: argparse.ArgumentParser) -> None:
    """
    C{--data} and C{--config}, accepted before or after the subcommand
    (C{SUPPRESS}: a level that is not given them keeps what another level got).
    """
    parser.add_argument("--data", metavar="DIR", default=argparse.SUPPRESS,
                        help=f"the server's data directory (default ./{Config.dataDir}, "
                             "or [server] data of --config)")
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="the server's configuration file, for its data directory "
                             "and settings")


def settings(arguments: argparse.Namespace) -> Config:
    """
    @return: the server's configuration, with the data directory the
        arguments name (an existing one: a command never creates it).
    @raise CommandError: the configuration cannot be read, or the directory
        does not exist.
    """
    configPath = getattr(arguments, "config", None)
    try:
        config = loadConfig(Path(configPath) if configPath else None)
    except ConfigError as error:
        raise CommandError(str(error)) from None
    data = getattr(arguments, "data", None)
    if data is not None:
        config.dataDir = Path(data)
    if not config.dataDir.is_dir():
        raise CommandError(f"no data directory at {config.dataDir} "
                           "(name the server's with --data DIR)")
    return config


def replaceFile(path: Path, text: str, mode: int = 0o644) -> None:
    """
    Write C{text} to C{path} in one step (a temporary file, then a rename),
    so a server reading it never sees half of it. The folder must exist.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def openStoresFor(config: Config, usernameRules=None):
    """
    @return: the L{wtvserv.store.stores.Stores} the server of C{config}
        uses (SQLite files, or the PostgreSQL of C{[storage] url}).
    @param usernameRules: see L{wtvserv.accounts.AccountStore}.
    @raise CommandError: they cannot be opened.
    """
    import sqlite3
    import time

    from wtvserv.store.stores import describe, openStores
    try:
        if usernameRules is None:
            return openStores(config)
        return openStores(config, time.time, usernameRules)
    except (StorageUnavailable, UnknownSchemaVersion, sqlite3.Error) as error:
        raise CommandError(f"cannot open {describe(config)}: {error}") from None
