"""
Open a process's account and log stores on the backend its configuration
names: C{[storage] url} for PostgreSQL, else SQLite files in the data
directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wtvserv.accounts import ACCOUNT_DB_NAME, SCHEMA as ACCOUNT_SCHEMA, AccountStore
from wtvserv.config import Config
from wtvserv.logstore import LOG_DB_NAME, SCHEMA as LOG_SCHEMA, LogStore
from wtvserv.store.shared import SCHEMA as SHARED_SCHEMA, SharedState
from wtvserv.store.sqlite import SQLiteDatabase
from wtvserv.store.threads import StoreThreads
from wtvserv.usernames import DEFAULT_RULES, UsernameRules

SCHEMAS = (ACCOUNT_SCHEMA, LOG_SCHEMA)
#: PostgreSQL's deployment shares more than SQLite's (see wtvserv.store.shared).
POSTGRESQL_SCHEMAS = (*SCHEMAS, SHARED_SCHEMA)
SQLITE_FILES = {ACCOUNT_SCHEMA.component: ACCOUNT_DB_NAME, LOG_SCHEMA.component: LOG_DB_NAME}


@dataclass
class Databases:
    """
    The open databases of each table group, and what owns them.

    @ivar threads: how many threads may use them at once: one for SQLite
        (a connection serves one thread at a time), the pool's size for
        PostgreSQL.
    """

    byComponent: dict
    threads: int
    pool: object | None = None

    def close(self) -> None:
        for database in self.byComponent.values():
            database.close()
        if self.pool is not None:
            self.pool.close()


def describe(config: Config) -> str:
    """@return: where C{config} keeps its data, for a log line (no password)."""
    if config.storageURL is None:
        return f"SQLite files in {config.dataDir}"
    from wtvserv.store.postgresql import redactedURL
    return f"PostgreSQL at {redactedURL(config.storageURL)}"


def openDatabases(config: Config, migrate: bool = True) -> Databases:
    """
    @param migrate: bring each schema up to date (a server, C{db migrate});
        L{False} opens them as they are (C{db status}).
    @raise wtvserv.store.errors.StorageUnavailable: the database cannot be reached.
    @raise wtvserv.store.errors.UnknownSchemaVersion: it is newer than this code.
    """
    if config.storageURL is None:
        dataDir = Path(config.dataDir)
        dataDir.mkdir(mode=0o700, parents=True, exist_ok=True)
        opened = {}
        try:
            for schema in SCHEMAS:
                opened[schema.component] = SQLiteDatabase(
                    dataDir / SQLITE_FILES[schema.component], schema, migrate)
        except BaseException:
            Databases(opened, 1).close()
            raise
        return Databases(opened, 1)
    from wtvserv.store.postgresql import PostgreSQLPool
    pool = PostgreSQLPool(config.storageURL, size=config.storagePoolSize,
                          timeout=config.storageConnectionTimeout,
                          lockTimeout=config.storageLockTimeout)
    try:
        opened = {schema.component: pool.database(schema, migrate)
                  for schema in POSTGRESQL_SCHEMAS}
    except BaseException:
        pool.close()
        raise
    return Databases(opened, pool.size, pool)


@dataclass
class Stores:
    """
    A process's synchronous stores, the databases under them and their
    threads. C{shared} is L{None} for SQLite, whose shared state is files.
    """

    accounts: AccountStore
    logs: LogStore
    databases: Databases
    shared: SharedState | None = None

    def threadPool(self) -> StoreThreads:
        """@return: the threads (not started), as many as the databases allow."""
        return StoreThreads(self.databases.threads, "wtvserv-store")

    def close(self) -> None:
        self.databases.close()


def openStores(config: Config, clock: Callable[[], float] = time.time,
               usernameRules: Callable[[], UsernameRules] = lambda: DEFAULT_RULES) -> Stores:
    """
    @param clock: the time of the shared state (its windows and offers); the
        server's reactor.
    @param usernameRules: see L{AccountStore}.
    @raise wtvserv.store.errors.StorageUnavailable: see L{openDatabases}.
    """
    databases = openDatabases(config)
    shared = databases.byComponent.get(SHARED_SCHEMA.component)
    return Stores(AccountStore(databases.byComponent["accounts"],
                               max_users=config.maxUsersPerAccount, usernameRules=usernameRules),
                  LogStore(databases.byComponent["logs"], per_ssid=config.logsPerSSID,
                           total=config.logsTotal),
                  databases, None if shared is None else SharedState(shared, clock))

