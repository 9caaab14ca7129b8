"""
Tests for L{wtvserv.logstore}, on real SQLite files.
"""

import json
import sqlite3

import pytest
from zope.interface.verify import verifyObject

from wtvserv.interfaces import ILogStore
from wtvserv.logstore import (
    LOG_DB_NAME,
    MAX_FIELD_LENGTH,
    MAX_FIELDS,
    MIGRATIONS,
    LogEntry,
    SQLiteLogStore,
    bound_fields,
    sanitise_kind,
)
from wtvserv.sqlitedb import UnknownSchemaVersion

SSID = "91a2b3c4d5e6f708"
OTHER_SSID = "81f00dfeedbeef01"


class TickingClock:
    """A clock that moves on one second each time it is read."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def path(tmp_path):
    return tmp_path / LOG_DB_NAME


def open_store(path, **kwargs):
    kwargs.setdefault("clock", TickingClock())
    return SQLiteLogStore(path, **kwargs)


@pytest.fixture
def store(path):
    store = open_store(path)
    yield store
    store.close()


def test_the_store_provides_the_interface(store):
    assert verifyObject(ILogStore, store)


def test_a_report_is_read_back_with_its_fields_and_body(store):
    log_id = store.add(SSID, "crash", {"type": "crash", "v": "1"}, b"boom\r\n")
    assert store.get(log_id) == LogEntry(
        log_id, 1_700_000_001.0, SSID, "crash", 6, False,
        {"type": "crash", "v": "1"}, b"boom\r\n")


def test_an_unknown_id_gets_none(store):
    assert store.get(12345) is None


def test_list_gives_summaries_newest_first(store):
    first = store.add(SSID, "a", {}, b"1")
    second = store.add(OTHER_SSID, "b", {}, b"22")
    third = store.add(SSID, "c", {}, b"333")

    entries = store.list()
    assert [entry.id for entry in entries] == [third, second, first]
    assert entries[0] == LogEntry(third, 1_700_000_003.0, SSID, "c", 3, False)
    assert entries[0].body is None and entries[0].fields is None
    assert [entry.id for entry in store.list(ssid=SSID)] == [third, first]
    assert [entry.id for entry in store.list(limit=2)] == [third, second]
    assert store.list(ssid="nobody") == []


def test_reports_survive_reopening_the_file(path):
    store = open_store(path)
    log_id = store.add(SSID, "log", {"a": "b"}, b"body")
    store.close()

    reopened = open_store(path)
    try:
        assert reopened.get(log_id).body == b"body"
        assert [entry.id for entry in reopened.list()] == [log_id]
        assert reopened.add(SSID, "log", {}, b"") > log_id
    finally:
        reopened.close()


def test_the_file_is_in_wal_mode_at_the_current_schema_version(store, path):
    with sqlite3.connect(path) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert mode == "wal"
    assert version == len(MIGRATIONS) == 2


def test_a_file_with_a_future_schema_version_is_refused(path):
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(UnknownSchemaVersion):
        SQLiteLogStore(path)


def test_only_the_newest_reports_of_each_ssid_are_kept(path):
    store = open_store(path, per_ssid=3)
    ids = [store.add(SSID, "log", {}, b"%d" % n) for n in range(5)]
    other = store.add(OTHER_SSID, "log", {}, b"other")

    assert [entry.id for entry in store.list(ssid=SSID)] == ids[:1:-1]
    assert store.get(ids[0]) is None and store.get(ids[1]) is None
    assert store.get(other) is not None
    store.close()


def test_only_the_newest_reports_overall_are_kept(path):
    store = open_store(path, per_ssid=10, total=4)
    ids = [store.add(f"ssid{n % 3}", "log", {}, b"") for n in range(7)]

    assert [entry.id for entry in store.list()] == ids[:2:-1]
    store.close()


def test_ids_are_not_reused_after_pruning(path):
    store = open_store(path, total=1)
    first = store.add(SSID, "log", {}, b"")
    second = store.add(SSID, "log", {}, b"")
    store.close()
    store = open_store(path, total=1)
    third = store.add(SSID, "log", {}, b"")
    store.close()
    assert first < second < third


def test_a_long_body_is_truncated_and_marked(path):
    store = open_store(path, max_body=10)
    log_id = store.add(SSID, "log", {}, b"0123456789abcdef")
    short_id = store.add(SSID, "log", {}, b"0123456789")

    entry = store.get(log_id)
    assert (entry.body, entry.length, entry.truncated) == (
        b"0123456789", 16, True)
    assert store.list(limit=2)[1].truncated
    short = store.get(short_id)
    assert (short.body, short.length, short.truncated) == (
        b"0123456789", 10, False)
    store.close()


def test_the_default_body_bound_is_64_kib(store):
    log_id = store.add(SSID, "log", {}, b"x" * (64 * 1024 + 1))
    assert len(store.get(log_id).body) == 64 * 1024


def test_fields_beyond_the_bounds_are_dropped_or_truncated(store):
    fields = {f"field{n:02d}": "v" for n in range(MAX_FIELDS + 5)}
    fields["field00"] = "x" * 1000
    fields["k" * 1000] = "v"

    log_id = store.add(SSID, "log", fields, b"")
    stored = store.get(log_id).fields
    assert len(stored) == MAX_FIELDS
    assert stored["field00"] == "x" * MAX_FIELD_LENGTH
    assert "field32" not in stored


def test_bound_fields_truncates_names_and_values():
    assert bound_fields({"n" * 300: "v" * 300}) == {
        "n" * MAX_FIELD_LENGTH: "v" * MAX_FIELD_LENGTH}


def test_fields_are_stored_as_json(store, path):
    store.add(SSID, "log", {"type": "crash", "é": "\x00"}, b"")
    with sqlite3.connect(path) as connection:
        text = connection.execute("SELECT fields FROM logs").fetchone()[0]
    assert json.loads(text) == {"type": "crash", "é": "\x00"}


@pytest.mark.parametrize("kind, expected", [
    ("crash", "crash"),
    ("Phone-Log", "phone-log"),
    ("crash_log", "crash-log"),
    ("../../etc/passwd", "------etc-passwd"),
    ("", "unknown"),
    ("x" * 40, "x" * 32),
    ("Ünïcode", "-n-code"),
])
def test_kinds_are_sanitised(kind, expected):
    assert sanitise_kind(kind) == expected


def test_the_stored_kind_is_sanitised(store):
    log_id = store.add(SSID, "Crash Log!", {}, b"")
    assert store.get(log_id).kind == "crash-log-"


def test_a_strangers_reports_under_an_ssid_push_out_only_the_strangers(path):
    """Issue 12, item 17: 50 reports under a victim's SSID removed all of its own."""
    store = open_store(path, per_ssid=3)
    own = [store.add(SSID, "log", {}, b"mine") for _ in range(3)]
    for _ in range(50):
        store.add(SSID, "log", {}, b"forged", sender="198.51.100.9")
    kept = store.list(ssid=SSID)
    assert sorted(e.id for e in kept if e.sender is None) == own
    assert [e.sender for e in kept if e.sender is not None] == ["198.51.100.9"] * 3
    store.close()


def test_a_flood_from_many_sources_leaves_a_quiet_boxs_reports(path):
    """Issue 12, item 17: 10,320 reports from 172 addresses emptied everyone else's."""
    store = open_store(path, per_ssid=5, total=20)
    # Below its fair share (20 among 5 sources), a quiet box keeps every report.
    quiet = [store.add(SSID, "log", {}, b"quiet") for _ in range(3)]
    for n in range(200):
        store.add(f"ssid{n % 40}", "log", {}, b"flood", sender=f"198.51.100.{n % 40}")
    for n in range(200):                 # users of accounts of their own, too
        store.add(f"fresh{n % 4}", "log", {}, b"flood")
    assert [e.id for e in store.list(ssid=SSID)] == quiet[::-1]
    assert len(store.list(limit=100)) == 40, "20 of each kind"
    store.close()


def test_a_version_1_file_is_upgraded_with_its_reports_as_their_ssids_own(path):
    connection = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("INSERT INTO logs (time, ssid, kind, fields, length, truncated, body)"
                       " VALUES (1, ?, 'log', '{}', 2, 0, x'6869')", (SSID,))
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    store = open_store(path, per_ssid=1)
    [old] = store.list()
    assert old.sender is None and store.get(old.id).body == b"hi"
    store.add(SSID, "log", {}, b"new", sender="198.51.100.9")
    assert store.get(old.id) is not None
    store.close()
