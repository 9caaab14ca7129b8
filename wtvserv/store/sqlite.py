"""
The SQLite backend: one private file per table group in the data
directory, in WAL mode, its schema version in C{PRAGMA user_version}.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from wtvserv.store.errors import IntegrityError
from wtvserv.store.migrations import Migrations


class SQLiteDatabase:
    """
    One SQLite file, used from one thread at a time (the store's thread,
    or a command's main thread).

    The connection is in autocommit mode: writers open their transaction
    with L{transaction}, which takes the write lock at once
    (C{BEGIN IMMEDIATE}), so a check and the write it guards happen under
    one lock, even across processes.
    """

    dialect = "sqlite"

    def __init__(self, path: Path, migrations: Migrations, migrate: bool = True) -> None:
        """
        Open (creating if need be) C{path} and bring its schema up to date
        unless told not to.

        @param path: created readable by its owner only.
        @raise wtvserv.store.errors.UnknownSchemaVersion: the file is newer
            than C{migrations}.
        """
        self.path = Path(path)
        self.migrations = migrations
        _create_private_file(self.path)
        # The store's one thread uses the connection after it is opened here.
        self._conn = sqlite3.connect(self.path, isolation_level=None,
                                     check_same_thread=False, timeout=30)
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            if migrate:
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def execute(self, sql: str, parameters=()) -> sqlite3.Cursor:
        """Run one statement (C{?} placeholders); a refused write raises L{IntegrityError}."""
        try:
            return self._conn.execute(sql, parameters)
        except sqlite3.IntegrityError as error:
            raise IntegrityError(str(error)) from error

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, committed unless the block raises."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            yield

    def schemaVersion(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def _migrate(self) -> None:
        if self.schemaVersion() == len(self.migrations.steps):
            return
        with self.transaction():
            version = self.schemaVersion()
            self.migrations.check(version, self.path.name)
            for number in range(version, len(self.migrations.steps)):
                for statement in self.migrations.steps[number]:
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number + 1}")


def _create_private_file(path: Path) -> None:
    """
    Create C{path} with mode 0600 if it is missing; SQLite gives its WAL and
    shared-memory files the same mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
