"""
What the hosts of a PostgreSQL deployment share besides accounts and logs:
the ticket secret, the ban list, the switches, the count of wrong
passwords, the initial keys wtv-1800 offered, each host's rate counts and
the login challenges answered. (On one machine, SQLite's deployment shares
the first three as files in the data directory, C{ticket-secret},
C{bans.txt} and C{switches.txt}, and keeps the others in memory.)

The ticket secret is created by whichever host starts first: every host
offers a fresh one with C{INSERT ... ON CONFLICT DO NOTHING} and then uses
the one that is stored, so all of them agree. Bans are rows, one per entry,
unique by kind and value; the hosts read them all every few seconds. A
password check is counted as a failure before it runs, in a transaction
holding the group's lock, and refunded when it was right: however many
hosts check at once, no more than the limit of checks per window runs.
"""

from __future__ import annotations

import time
from typing import Callable

from zope.interface import implementer

from wtvserv.interfaces import ISharedState
from wtvserv.store.database import transaction
from wtvserv.store.migrations import Migrations

TICKET_SECRET = "ticket"
#: The most rate-count rows one statement upserts.
BATCH = 500

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
    (
        # Wrong passwords, counted before each check runs (L{reserveFailures}).
        """CREATE TABLE login_failures (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               scope TEXT NOT NULL,
               key TEXT NOT NULL,
               at REAL NOT NULL)""",
        "CREATE INDEX login_failures_by_key ON login_failures (scope, key, at)",
        # The initial keys wtv-1800 handed out, per SSID and client address.
        """CREATE TABLE offered_keys (
               ssid TEXT NOT NULL,
               origin TEXT NOT NULL,
               key BLOB NOT NULL,
               at REAL NOT NULL,
               PRIMARY KEY (ssid, origin))""",
        "CREATE INDEX offered_keys_by_time ON offered_keys (at)",
    ),
    (
        # The operator's settings every host reads (the switches), by name.
        """CREATE TABLE settings (
               name TEXT PRIMARY KEY,
               value TEXT NOT NULL)""",
        # Each host's count of events per rate window, key and time bucket
        # (L{wtvserv.sharedwindows}); a row counts until C{ends}.
        """CREATE TABLE rate_counts (
               name TEXT NOT NULL,
               key TEXT NOT NULL,
               bucket INTEGER NOT NULL,
               host TEXT NOT NULL,
               count INTEGER NOT NULL,
               ends REAL NOT NULL,
               PRIMARY KEY (name, key, bucket, host))""",
        "CREATE INDEX rate_counts_by_end ON rate_counts (ends)",
        # The login challenges answered, so each is answered once on any host.
        """CREATE TABLE answered_challenges (
               ssid TEXT NOT NULL,
               id BLOB NOT NULL,
               ends REAL NOT NULL,
               PRIMARY KEY (ssid, id))""",
        "CREATE INDEX answered_challenges_by_end ON answered_challenges (ends)",
    ),
))


@implementer(ISharedState)
class SharedState:
    """The shared table group; methods synchronous, as the other stores'."""

    def __init__(self, database, clock: Callable[[], float] = time.time) -> None:
        self._conn = database
        self._clock = clock
        self._prunedAnswers = float("-inf")

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

    def setting(self, name: str) -> str | None:
        """@return: the operator's setting C{name} (the switches' text), or L{None}."""
        row = self._conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def changeSetting(self, name: str, change: Callable[[str | None], str]) -> str:
        """
        Replace setting C{name} by C{change(its current value)}, in one
        transaction holding the group's lock, so two operators' changes
        never overwrite each other. @return: the new value.
        """
        with transaction(self._conn):
            value = change(self.setting(name))
            self._conn.execute("INSERT INTO settings (name, value) VALUES (?, ?)"
                               " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                               (name, value))
        return value

    def reserveFailures(self, limits: list[tuple[str, str, int]], window: float
                        ) -> tuple[float, list[int]]:
        """
        Count a password check as a failure of each C{(scope, key, limit)},
        unless one of them has had C{limit} failures within C{window}
        seconds already.

        @return: C{(0, ids)} with the ids of the failures counted (to
            L{refund} if the check was right), or C{(seconds, [])}: how long
            until the first key that is over its limit may try again.
        """
        now = self._clock()
        with transaction(self._conn):
            self._conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - window,))
            wait = 0.0
            for scope, key, limit in limits:
                row = self._conn.execute(
                    "SELECT at FROM login_failures WHERE scope = ? AND key = ?"
                    " ORDER BY at DESC LIMIT 1 OFFSET ?", (scope, key, limit - 1)).fetchone()
                if row is not None:
                    wait = max(wait, row[0] + window - now)
            if wait > 0:
                return wait, []
            return 0.0, [self._conn.execute(
                "INSERT INTO login_failures (scope, key, at) VALUES (?, ?, ?) RETURNING id",
                (scope, key, now)).fetchone()[0] for scope, key, _ in limits]

    def refund(self, ids: list[int]) -> None:
        """Take back failures L{reserveFailures} counted for a check that was right."""
        with transaction(self._conn):
            for failure in ids:
                self._conn.execute("DELETE FROM login_failures WHERE id = ?", (failure,))

    def exchangeCounts(self, host: str, rows: list[tuple[str, str, int, int, float]],
                       now: float, most: int) -> list[tuple[str, str, int, float]]:
        """
        Add what C{host} counted to its rows and read back the others'
        (L{wtvserv.sharedwindows}). Each row is only ever written by its
        host, and each addition is one atomic upsert: no lock is taken.

        @param rows: C{(window, key, bucket, events, ends)}: events counted
            (a refund is negative) and when they stop counting.
        @param now: the time of C{host}'s clock, which every host's should
            agree with; rows ending by then are deleted.
        @return: per window and key, the other hosts' events that still
            count and when the first of them stops counting; the C{most}
            largest counts only.
        """
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            self._conn.execute(
                "INSERT INTO rate_counts (name, key, bucket, count, ends, host) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch))
                + " ON CONFLICT (name, key, bucket, host)"
                " DO UPDATE SET count = rate_counts.count + excluded.count",
                [value for row in batch for value in (*row, host)])
        self._conn.execute("DELETE FROM rate_counts WHERE ends <= ?", (now,))
        return [tuple(row) for row in self._conn.execute(
            "SELECT name, key, CAST(SUM(count) AS BIGINT), MIN(ends) FROM rate_counts"
            " WHERE host <> ? AND ends > ? GROUP BY name, key HAVING SUM(count) > 0"
            " ORDER BY SUM(count) DESC LIMIT ?", (host, now, most))]

    def answerChallenge(self, ssid: str, challengeId: bytes, ends: float) -> bool:
        """
        Record that the challenge C{challengeId} of C{ssid} was answered,
        until C{ends}: one atomic insert, refused by the key for a second
        answer on any host. Records that have ended are dropped, at most
        once a minute per process.

        @return: whether this was its first answer.
        """
        now = self._clock()
        if now - self._prunedAnswers >= 60:
            self._prunedAnswers = now
            self._conn.execute("DELETE FROM answered_challenges WHERE ends <= ?", (now,))
        return self._conn.execute(
            "INSERT INTO answered_challenges (ssid, id, ends) VALUES (?, ?, ?)"
            " ON CONFLICT (ssid, id) DO NOTHING", (ssid, challengeId, ends)).rowcount == 1

    def offerKey(self, ssid: str, origin: str, key: bytes, lifetime: float,
                 capacity: int) -> None:
        """
        Record the initial key wtv-1800 handed C{origin} for C{ssid}, so the
        headwaiter of any host can challenge with it. Offers older than
        C{lifetime} seconds, and the oldest beyond C{capacity}, are dropped.
        """
        now = self._clock()
        with transaction(self._conn):
            self._conn.execute(
                "INSERT INTO offered_keys (ssid, origin, key, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (ssid, origin) DO UPDATE SET key = excluded.key, at = excluded.at",
                (ssid, origin, bytes(key), now))
            self._conn.execute("DELETE FROM offered_keys WHERE at <= ?", (now - lifetime,))
            self._conn.execute(
                "DELETE FROM offered_keys WHERE at < (SELECT at FROM offered_keys"
                " ORDER BY at DESC LIMIT 1 OFFSET ?)", (capacity - 1,))

    def offeredKey(self, ssid: str, origin: str, lifetime: float
                   ) -> tuple[bytes, float] | None:
        """
        @return: the key last offered to C{origin} for C{ssid} within
            C{lifetime} and when (POSIX time), or L{None}.
        """
        row = self._conn.execute(
            "SELECT key, at FROM offered_keys WHERE ssid = ? AND origin = ? AND at > ?",
            (ssid, origin, self._clock() - lifetime)).fetchone()
        return None if row is None else (bytes(row[0]), row[1])
