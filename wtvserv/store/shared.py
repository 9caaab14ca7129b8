"""
What the hosts of a PostgreSQL deployment share besides accounts and logs:
the ticket secret and the ban list. (On one machine, SQLite's deployment
shares them as files in the data directory: C{ticket-secret}, C{bans.txt}.)

The ticket secret is created by whichever host starts first: every host
offers a fresh one with C{INSERT ... ON CONFLICT DO NOTHING} and then uses
the one that is stored, so all of them agree. Bans are rows, one per entry,
unique by kind and value; the hosts read them all every few seconds.
"""

from __future__ import annotations

import time
from typing import Callable

from wtvserv.store.database import transaction
from wtvserv.store.migrations import Migrations

TICKET_SECRET = "ticket"

SCHEMA = Migrations("shared", (
    (
        """CREATE TABLE secrets (
               name TEXT PRIMARY KEY,
               value BLOB NOT NULL)""",
        """CREATE TABLE bans (
               kind TEXT NOT NULL,
               value TEXT NOT NULL,
               note TEXT NOT NULL,
               created INTEGER NOT NULL,
               PRIMARY KEY (kind, value))""",
    ),
))


class SharedState:
    """The shared table group; methods synchronous, as the other stores'."""

    def __init__(self, database, clock: Callable[[], float] = time.time) -> None:
        self._conn = database
        self._clock = clock

    def secret(self, name: str, fresh: Callable[[], bytes]) -> bytes:
        """
        @param fresh: makes a new secret, offered in case none is stored yet.
        @return: the secret C{name}, the same for every host.
        """
        with transaction(self._conn):
            self._conn.execute("INSERT INTO secrets (name, value) VALUES (?, ?)"
                               " ON CONFLICT (name) DO NOTHING", (name, fresh()))
        return bytes(self._conn.execute("SELECT value FROM secrets WHERE name = ?",
                                        (name,)).fetchone()[0])

    def bans(self) -> list[tuple[str, str, str]]:
        """@return: every ban as C{(kind, value, note)}, oldest first."""
        return [tuple(row) for row in self._conn.execute(
            "SELECT kind, value, note FROM bans ORDER BY created, kind, value")]

    def addBan(self, kind: str, value: str, note: str = "") -> bool:
        """@return: whether the ban is new (L{False}: it was there already)."""
        with transaction(self._conn):
            return self._conn.execute(
                "INSERT INTO bans (kind, value, note, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (kind, value) DO NOTHING",
                (kind, value, note, int(self._clock()))).rowcount == 1

    def removeBan(self, kind: str, value: str) -> bool:
        """@return: whether there was such a ban."""
        with transaction(self._conn):
            return self._conn.execute("DELETE FROM bans WHERE kind = ? AND value = ?",
                                      (kind, value)).rowcount == 1
