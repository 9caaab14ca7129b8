"""
What the account and log stores need of a database, whichever the backend:
C{execute(sql, parameters)} with C{?} placeholders, returning rows to
iterate or C{fetchone}, and C{rowcount}; C{transaction()}; C{close()}.
L{wtvserv.store.sqlite.SQLiteDatabase} and
L{wtvserv.store.postgresql.PostgreSQLDatabase} provide it.
"""

from __future__ import annotations

from pathlib import Path

from wtvserv.store.migrations import Migrations
from wtvserv.store.sqlite import SQLiteDatabase


def openDatabase(location, migrations: Migrations):
    """
    @param location: an open database of either backend, or the path of a
        SQLite file to open (and migrate).
    """
    if isinstance(location, (str, Path)):
        return SQLiteDatabase(Path(location), migrations)
    return location


def transaction(database):
    """One write transaction of C{database}, committed unless the block raises."""
    return database.transaction()
