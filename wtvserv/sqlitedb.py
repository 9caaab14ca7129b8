"""
SQLite files of the data directory: private, in WAL mode, with a schema
version in C{PRAGMA user_version} brought up to date on open.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class UnknownSchemaVersion(Exception):
    """The database file was written by a newer wtvserv than this one."""


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taking the write lock at once (C{BEGIN IMMEDIATE})."""
    with connection:
        connection.execute("BEGIN IMMEDIATE")
        yield


def open_database(path: Path,
                  migrations: tuple[tuple[str, ...], ...]
                  ) -> sqlite3.Connection:
    """
    Open (creating if need be) a SQLite file in WAL mode and bring its schema
    up to date.

    The connection is in autocommit mode: writers open their transaction
    with C{BEGIN IMMEDIATE} inside C{with connection:}, so a check and the
    write it guards happen under one lock, even across processes.

    @param path: the database file; created readable by its owner only.
    @param migrations: see L{MIGRATIONS}.
    @raise UnknownSchemaVersion: the file is newer than C{migrations}.
    """
    _create_private_file(path)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection, path, migrations)
    except BaseException:
        connection.close()
        raise
    return connection


def _create_private_file(path: Path) -> None:
    """
    Create C{path} with mode 0600 if it is missing; SQLite gives its WAL and
    shared-memory files the same mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _migrate(connection: sqlite3.Connection, path: Path,
             migrations: tuple[tuple[str, ...], ...]) -> None:
    if _schema_version(connection) == len(migrations):
        return
    with transaction(connection):
        version = _schema_version(connection)
        if version > len(migrations):
            raise UnknownSchemaVersion(
                f"{path.name} has schema version {version}, but this version"
                f" of wtvserv only knows up to {len(migrations)}; use a newer"
                " wtvserv.")
        for number in range(version, len(migrations)):
            for statement in migrations[number]:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")


def _schema_version(connection: sqlite3.Connection) -> int:
    return connection.execute("PRAGMA user_version").fetchone()[0]
