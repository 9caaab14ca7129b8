"""
C{wtvserv-ban}: change the ban list a running server reads.

    wtvserv-ban --data DIR list
    wtvserv-ban --data DIR add address 203.0.113.7 [--why "..."]
    wtvserv-ban --data DIR add address 198.51.100.0/24
    wtvserv-ban --data DIR add ssid 8112345600B0026b
    wtvserv-ban --data DIR remove ssid 8112345600B0026b

C{--file PATH} names the list when the configuration moved it; C{--config
FILE} reads where from the server's file, and with C{[storage] url} changes
the bans every host of that PostgreSQL database applies. The file is
replaced in one step (write, then rename), so the server never reads half
of it; comments and unknown lines are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from wtvserv.bans import KINDS, BanEntryError, parseEntry
from wtvserv.config import ConfigError, commandConfig

EXIT_ERROR = 2
DEFAULT_NAME = "bans.txt"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.config:
        try:
            config = commandConfig(arguments.config, None)
        except ConfigError as error:
            return _fail(str(error))
        if config.storageURL is not None:
            return _changeShared(config, arguments)
        arguments.file = str(Path(config.dataDir) / config.banFile)
    path = Path(arguments.file) if arguments.file else Path(arguments.data) / DEFAULT_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    except OSError as error:
        return _fail(f"cannot read {path}: {error}")
    if arguments.command == "list":
        for entry in _entries(lines):
            print(*entry)
        return 0
    try:
        kind, value = parseEntry(arguments.kind, arguments.value)
    except BanEntryError as problem:
        return _fail(str(problem))
    present = (kind, value) in _entries(lines)
    if arguments.command == "add":
        if present:
            print(f"{kind} {value} is already banned")
            return 0
        note = f"  # {' '.join(arguments.why.split())}" if arguments.why else ""
        lines.append(f"{kind} {value}{note}")
    else:
        if not present:
            return _fail(f"{kind} {value} is not banned")
        lines = [line for line in lines if _entry(line) != (kind, value)]
    try:
        _replace(path, "".join(line + "\n" for line in lines))
    except OSError as error:
        return _fail(f"cannot write {path}: {error}")
    print(f"{'banned' if arguments.command == 'add' else 'unbanned'} {kind} {value}")
    return 0


def _changeShared(config, arguments: argparse.Namespace) -> int:
    """The same commands on the ban rows of a PostgreSQL deployment."""
    from wtvserv.store.errors import StorageUnavailable, UnknownSchemaVersion
    from wtvserv.store.stores import openStores
    try:
        stores = openStores(config)
    except (StorageUnavailable, UnknownSchemaVersion) as error:
        return _fail(str(error))
    try:
        if arguments.command == "list":
            for kind, value, note in stores.shared.bans():
                print(kind, value, *([f"# {note}"] if note else []))
            return 0
        try:
            kind, value = parseEntry(arguments.kind, arguments.value)
        except BanEntryError as problem:
            return _fail(str(problem))
        if arguments.command == "add":
            if not stores.shared.addBan(kind, value, " ".join((arguments.why or "").split())):
                print(f"{kind} {value} is already banned")
                return 0
        elif not stores.shared.removeBan(kind, value):
            return _fail(f"{kind} {value} is not banned")
    finally:
        stores.close()
    print(f"{'banned' if arguments.command == 'add' else 'unbanned'} {kind} {value}")
    return 0


def _entry(line: str) -> tuple[str, str] | None:
    kind, _, value = line.split("#", 1)[0].strip().partition(" ")
    try:
        return parseEntry(kind, value.strip())
    except BanEntryError:
        return None


def _entries(lines: list[str]) -> list[tuple[str, str]]:
    return [entry for entry in map(_entry, lines) if entry is not None]


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".bans-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wtvserv-ban",
        description="Ban or unban client addresses and box serial numbers. "
                    "A running server applies the change within seconds.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", metavar="DIR", help=f"the data directory (uses DIR/{DEFAULT_NAME})")
    where.add_argument("--file", metavar="PATH", help="the ban list itself")
    where.add_argument("--config", metavar="FILE",
                       help="the server's TOML file: its ban list, or with [storage] url, "
                            "the bans of every host sharing that database")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="every ban, one per line")
    for name, help in (("add", "ban an address, a CIDR range or an SSID"),
                       ("remove", "lift a ban")):
        command = commands.add_parser(name, help=help)
        command.add_argument("kind", choices=KINDS)
        command.add_argument("value")
        if name == "add":
            command.add_argument("--why", help="a comment kept beside the entry")
    return parser


def _fail(message: str) -> int:
    print(f"wtvserv-ban: {message}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
