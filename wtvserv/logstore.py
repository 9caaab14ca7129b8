"""
What boxes report through C{wtv-log}, kept in a SQLite file.

Everything a box sends is bounded before it is stored (kind, query fields,
body), and the number of reports is bounded per source and in total: each
L{SQLiteLogStore.add} deletes the oldest reports beyond those bounds in the
same transaction. Box-supplied strings are only ever stored as values, never
used to build file paths.

A report sent by a logged-in user of its SSID's account counts against that
SSID; any other counts against the address that sent it, whatever SSID it
names, and is listed as that address's. The two kinds
are kept apart, each up to C{total}, and beyond that a report is dropped
from the source that has the most (the busiest, of those with as many): a
stranger's flood pushes out the stranger's reports, not a quiet box's.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Mapping

from zope.interface import implementer

from wtvserv.interfaces import ILogStore
from wtvserv.sqlitedb import open_database, transaction

LOG_DB_NAME = "logs.sqlite3"

MAX_KIND_LENGTH = 32
MAX_SSID_LENGTH = 64
MAX_FIELDS = 32
MAX_FIELD_LENGTH = 256
UNKNOWN_KIND = "unknown"

_NOT_KIND_CHARACTERS = re.compile(r"[^a-z0-9-]")

# See wtvserv.accounts.MIGRATIONS: entry i takes a file from version i to i+1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # AUTOINCREMENT: ids are never reused, so an id an operator noted
        # never comes to name another report after pruning.
        """CREATE TABLE logs (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               time REAL NOT NULL,
               ssid TEXT NOT NULL,
               kind TEXT NOT NULL,
               fields TEXT NOT NULL,
               length INTEGER NOT NULL,
               truncated INTEGER NOT NULL,
               body BLOB NOT NULL)""",
        "CREATE INDEX logs_by_ssid ON logs (ssid, id)",
    ),
    (
        # The source a report counts against: the SSID for its ticket
        # holder's own reports (sender NULL), else the sending address.
        "ALTER TABLE logs ADD COLUMN sender TEXT",
        "ALTER TABLE logs ADD COLUMN quota TEXT NOT NULL DEFAULT ''",
        "UPDATE logs SET quota = 'ssid ' || ssid",
        "CREATE INDEX logs_by_quota ON logs (quota, id)",
    ),
)


@dataclass(frozen=True)
class LogEntry:
    """
    One report. L{SQLiteLogStore.list} leaves C{fields} and C{body} unset;
    L{SQLiteLogStore.get} fills them in.

    @ivar length: the size of the body the box sent, in bytes.
    @ivar truncated: whether only the first C{max_body} bytes were kept.
    @ivar sender: L{None} when the SSID's ticket holder sent it, else the
        address that did (the SSID is only what it claimed).
    """

    id: int
    time: float
    ssid: str
    kind: str
    length: int
    truncated: bool
    fields: dict[str, str] | None = None
    body: bytes | None = None
    sender: str | None = None


def sanitise_kind(kind: str) -> str:
    """
    @return: C{kind} in lower case, with each character outside C{[a-z0-9-]}
        replaced by C{-}, cut to L{MAX_KIND_LENGTH}; L{UNKNOWN_KIND} if empty.
    """
    lowered = kind[:MAX_KIND_LENGTH].lower()[:MAX_KIND_LENGTH]
    return _NOT_KIND_CHARACTERS.sub("-", lowered) or UNKNOWN_KIND


def bound_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """
    @return: the first L{MAX_FIELDS} fields, names and values cut to
        L{MAX_FIELD_LENGTH} characters.
    """
    bounded = {}
    for name, value in islice(fields.items(), MAX_FIELDS):
        bounded[str(name)[:MAX_FIELD_LENGTH]] = str(value)[:MAX_FIELD_LENGTH]
    return bounded


@implementer(ILogStore)
class SQLiteLogStore:
    """
    L{ILogStore} in a SQLite file, used from one thread.

    @param path: the database file, created (readable by its owner only) if
        missing; its folder must exist.
    @param per_ssid: the most reports kept for one source (an SSID's
        ticket holder, or one address).
    @param total: the most reports kept of each kind (ticket holders' own,
        and others').
    @param max_body: the most body bytes kept of one report.
    @param clock: returns the current POSIX time.
    @raise wtvserv.sqlitedb.UnknownSchemaVersion: the file has a newer
        schema than this code.
    """

    def __init__(self, path: Path, per_ssid: int = 50, total: int = 10_000,
                 max_body: int = 64 * 1024,
                 clock: Callable[[], float] = time.time) -> None:
        self._per_ssid = per_ssid
        self._total = total
        self._max_body = max_body
        self._clock = clock
        self._conn = open_database(Path(path), MIGRATIONS)

    def close(self) -> None:
        self._conn.close()

    def add(self, ssid: str, kind: str, fields: dict[str, str],
            body: bytes, sender: str | None = None) -> int:
        """
        Store one report and prune the oldest beyond the bounds.

        @param sender: L{None} when the SSID's ticket holder sent it, else
            the sending address.
        @return: the new report's id.
        """
        ssid = ssid[:MAX_SSID_LENGTH]
        quota = f"ssid {ssid}" if sender is None else f"address {sender[:MAX_SSID_LENGTH]}"
        row = (self._clock(), ssid, sanitise_kind(kind),
               json.dumps(bound_fields(fields)), len(body),
               len(body) > self._max_body, bytes(body[:self._max_body]), sender, quota)
        with transaction(self._conn):
            log_id = self._conn.execute(
                "INSERT INTO logs (time, ssid, kind, fields, length,"
                " truncated, body, sender, quota) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row).lastrowid
            self._prune(quota, sender is None)
        return log_id

    def list(self, ssid: str | None = None,
             limit: int = 100) -> list[LogEntry]:
        """
        @param ssid: only this SSID's reports, or all when L{None}.
        @return: up to C{limit} summaries, newest first.
        """
        columns = "SELECT id, time, ssid, kind, length, truncated, sender FROM logs"
        if ssid is None:
            rows = self._conn.execute(
                f"{columns} ORDER BY id DESC LIMIT ?", (max(0, limit),))
        else:
            rows = self._conn.execute(
                f"{columns} WHERE ssid = ? ORDER BY id DESC LIMIT ?",
                (ssid, max(0, limit)))
        return [_summary(row) for row in rows]

    def get(self, logId: int) -> LogEntry | None:
        """@return: the report with its fields and body, or L{None}."""
        row = self._conn.execute(
            "SELECT id, time, ssid, kind, length, truncated, fields, body, sender"
            " FROM logs WHERE id = ?", (logId,)).fetchone()
        if row is None:
            return None
        return LogEntry(*row[:5], truncated=bool(row[5]),
                        fields=json.loads(row[6]), body=bytes(row[7]), sender=row[8])

    def _prune(self, quota: str, own: bool) -> None:
        """
        Delete the reports of C{quota} beyond C{per_ssid}, oldest first;
        then, while the reports of its kind (C{own} or not) are over
        C{total}, the oldest of the source with the most, the busiest
        first. An C{id} compared with an empty subquery is never true, so
        nothing goes while under the bound.
        """
        self._conn.execute(
            "DELETE FROM logs WHERE quota = ? AND id <= (SELECT id FROM logs"
            " WHERE quota = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (quota, quota, self._per_ssid))
        kind = "(sender IS NULL) = ?"
        count = self._conn.execute(f"SELECT COUNT(*) FROM logs WHERE {kind}", (own,)).fetchone()[0]
        for _ in range(count - self._total):
            self._conn.execute(
                "DELETE FROM logs WHERE id = (SELECT MIN(id) FROM logs WHERE quota ="
                f" (SELECT quota FROM logs WHERE {kind} GROUP BY quota"
                " ORDER BY COUNT(*) DESC, MAX(id) DESC LIMIT 1))", (own,))


def _summary(row: tuple) -> LogEntry:
    log_id, when, ssid, kind, length, truncated, sender = row
    return LogEntry(log_id, when, ssid, kind, length, bool(truncated), sender=sender)
