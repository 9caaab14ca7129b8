"""
The PostgreSQL backend: every table group in one database that several
hosts share, through a psycopg 3 connection pool.

Each write transaction first takes a transaction-level advisory lock of its
table group, so writes of one group run one at a time across every host, as
SQLite's C{BEGIN IMMEDIATE} makes them in one file: a check and the write it
guards (a free user id, the reports to prune) cannot interleave with
another host's. Reads take no lock. Migrations run under the same lock, so
two hosts starting at once migrate once.
"""

from __future__ import annotations

import threading
import zlib
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

from wtvserv.store.errors import IntegrityError, StorageBusy, StorageUnavailable
from wtvserv.store.migrations import Migrations, postgresqlStatement

_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS wtvserv_schema (
    component TEXT PRIMARY KEY,
    version BIGINT NOT NULL)"""


def redactedURL(url: str) -> str:
    """@return: C{url} with any password replaced by C{***}, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


class PostgreSQLPool:
    """
    The connections to one PostgreSQL database, opened at once.

    A statement waits at most C{lockTimeout} seconds for a lock, then raises
    L{StorageBusy}; a connection lost, or none to be had within C{timeout}
    seconds, raises L{StorageUnavailable}.

    @raise StorageUnavailable: psycopg is not installed, or the database
        cannot be reached within C{timeout} seconds.
    """

    def __init__(self, url: str, size: int = 4, timeout: float = 10.0,
                 lockTimeout: float = 30.0) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise StorageUnavailable(
                "PostgreSQL storage needs psycopg: pip install 'wtvserv[postgresql]'") from None
        self._psycopg = psycopg
        self._poolTimeout = PoolTimeout
        self._url = redactedURL(url)
        self.size = size
        options = f"-c lock_timeout={max(1, int(lockTimeout * 1000))}"
        self._pool = ConnectionPool(url, min_size=1, max_size=size, open=False, timeout=timeout,
                                    kwargs={"autocommit": True, "options": options},
                                    name="wtvserv")
        try:
            self._pool.open(wait=True, timeout=timeout)
        except (PoolTimeout, psycopg.Error) as error:
            self._pool.close()
            raise StorageUnavailable(
                f"cannot reach the database {redactedURL(url)}: {error}") from None

    def database(self, migrations: Migrations, migrate: bool = True) -> PostgreSQLDatabase:
        """@return: the table group of C{migrations}, migrated unless told otherwise."""
        return PostgreSQLDatabase(self, migrations, migrate)

    @contextmanager
    def connection(self) -> Iterator:
        """
        Lend one connection of the pool for the block. A lock waited for
        too long raises L{StorageBusy}, a lost or unreachable server
        L{StorageUnavailable}, not psycopg's own errors.
        """
        errors = self._psycopg.errors
        try:
            with self._pool.connection() as connection:
                yield connection
        except (errors.LockNotAvailable, errors.DeadlockDetected,
                errors.SerializationFailure) as error:
            raise StorageBusy(f"the database {self._url} is busy ({_firstLine(error)});"
                              " try again") from None
        except (self._psycopg.OperationalError, self._poolTimeout) as error:
            raise StorageUnavailable(f"cannot reach the database {self._url}:"
                                     f" {_firstLine(error)}") from None

    def run(self, connection, sql: str, parameters) -> Rows:
        """Run one statement; a refused write raises L{IntegrityError} (to catch in a transaction)."""
        try:
            return Rows(connection.execute(sql, parameters))
        except self._psycopg.IntegrityError as error:
            raise IntegrityError(str(error)) from error

    def close(self) -> None:
        self._pool.close()


class Rows:
    """The rows of one statement, read in full before its connection goes back."""

    def __init__(self, cursor) -> None:
        self.rowcount = cursor.rowcount
        self._rows = cursor.fetchall() if cursor.description is not None else []

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list:
        return list(self._rows)

    def __iter__(self):
        return iter(self._rows)


class PostgreSQLDatabase:
    """
    One table group in the shared database; safe to use from the threads of
    a pool: each statement outside a transaction borrows a connection, and a
    transaction keeps its own for the thread that opened it.
    """

    dialect = "postgresql"

    def __init__(self, pool: PostgreSQLPool, migrations: Migrations,
                 migrate: bool = True) -> None:
        self.pool = pool
        self.migrations = migrations
        self._lockKey = _lockKey(migrations.component)
        self._local = threading.local()
        if migrate:
            self._migrate()

    def execute(self, sql: str, parameters=()) -> Rows:
        """Run one statement written with C{?} placeholders, as for SQLite."""
        sql = sql.replace("%", "%%").replace("?", "%s")
        current = getattr(self._local, "connection", None)
        if current is not None:
            return self.pool.run(current, sql, parameters)
        with self.pool.connection() as connection:
            return self.pool.run(connection, sql, parameters)

    @contextmanager
    def transaction(self, lockKey: int | None = None) -> Iterator[None]:
        """One write transaction, holding the group's lock (or C{lockKey}) until it ends."""
        with self.pool.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)",
                               (self._lockKey if lockKey is None else lockKey,))
            self._local.connection = connection
            try:
                yield
            finally:
                self._local.connection = None

    def schemaVersion(self) -> int:
        if self.execute("SELECT to_regclass('wtvserv_schema')").fetchone()[0] is None:
            return 0
        row = self.execute("SELECT version FROM wtvserv_schema WHERE component = ?",
                           (self.migrations.component,)).fetchone()
        return 0 if row is None else row[0]

    def close(self) -> None:
        """Nothing of its own to close: the pool's owner closes the pool."""

    def _migrate(self) -> None:
        # One lock for every group: the schema table is shared.
        with self.transaction(_lockKey("schema")):
            self.execute(_SCHEMA_TABLE)
            version = self.schemaVersion()
            self.migrations.check(version, f"the database's {self.migrations.component} tables")
            for number in range(version, len(self.migrations.steps)):
                for statement in self.migrations.steps[number]:
                    self.execute(postgresqlStatement(statement))
            if version < len(self.migrations.steps):
                self.execute("INSERT INTO wtvserv_schema (component, version) VALUES (?, ?)"
                             " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                             (self.migrations.component, len(self.migrations.steps)))


def _firstLine(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _lockKey(name: str) -> int:
    """@return: the advisory lock number of C{name}, the same on every host."""
    return zlib.crc32(f"wtvserv:{name}".encode()) - 2 ** 31
