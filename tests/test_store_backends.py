"""
The account and log stores behave the same on both backends: each test runs
on a SQLite file and on a database of a real, throwaway PostgreSQL server
(L{tests.postgres}), including under concurrent writers and two hosts
migrating one database at once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from wtvserv.accounts import (
    SCHEMA as ACCOUNT_SCHEMA,
    AccountStore,
    StoreFull,
    TooManyUsers,
    UsernameTaken,
)
from wtvserv.logstore import SCHEMA as LOG_SCHEMA, LogStore
from wtvserv.store.errors import UnknownSchemaVersion
from wtvserv.store.migrations import Migrations
from wtvserv.store.sqlite import SQLiteDatabase

SSID = "8112345600B0026b"


class Backend:
    """Opens databases of one backend; the same location each time, as a restart would."""

    def __init__(self, name: str, tmp_path, postgresURL: str | None) -> None:
        self.name = name
        self._tmp = tmp_path
        self._url = postgresURL
        self._pools = []

    def open(self, schema: Migrations, migrate: bool = True):
        if self._url is None:
            return SQLiteDatabase(self._tmp / f"{schema.component}.sqlite3", schema, migrate)
        from wtvserv.store.postgresql import PostgreSQLPool
        pool = PostgreSQLPool(self._url, size=8)
        self._pools.append(pool)
        return pool.database(schema, migrate)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    url = request.getfixturevalue("postgresURL") if request.param == "postgresql" else None
    opened = Backend(request.param, tmp_path, url)
    yield opened
    opened.close()


def test_an_account_survives_reopening(backend):
    AccountStore(backend.open(ACCOUNT_SCHEMA)).createAccount(SSID, "Ann", "Annie", "hash")
    account = AccountStore(backend.open(ACCOUNT_SCHEMA)).accountFor(SSID)
    assert (account.primary.username, account.primary.human_name,
            account.primary.password_hash) == ("Annie", "Ann", "hash")


def test_usernames_are_unique_ignoring_case(backend):
    store = AccountStore(backend.open(ACCOUNT_SCHEMA))
    store.createAccount(SSID, "Ann", "Annie", None)
    with pytest.raises(UsernameTaken):
        store.createAccount("8112345600B0027b", "Bob", "ANNIE", None)
    assert store.accountFor("8112345600B0027b") is None        # rolled back whole
    assert store.usernameTaken(" annie ") and store.userCount() == 1


def test_concurrent_additions_get_distinct_user_ids_up_to_the_limit(backend):
    """Eight writers at once: the limit holds, no id twice, no false 'taken'."""
    database = backend.open(ACCOUNT_SCHEMA)
    stores = [AccountStore(database if backend.name == "postgresql"
                           else backend.open(ACCOUNT_SCHEMA), max_users=6) for _ in range(8)]
    stores[0].createAccount(SSID, "Ann", "annie", None)
    start = threading.Barrier(8)

    def add(number: int):
        start.wait()
        try:
            return stores[number].addUser(SSID, "Kid", f"kid{number}", None).user_id
        except TooManyUsers:
            return "full"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(8)))
    ids = [r for r in results if r != "full"]
    assert sorted(ids) == [1, 2, 3, 4, 5] and results.count("full") == 3
    assert len(stores[0].accountFor(SSID).users) == 6


def test_reports_round_trip_bytes_and_are_pruned_per_ssid(backend):
    store = LogStore(backend.open(LOG_SCHEMA), per_ssid=3, max_body=8)
    ids = [store.add(SSID, "Crash Log", {"n": str(n)}, bytes([0, 255, n]) * 4) for n in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    kept = store.list(SSID)
    assert [entry.id for entry in kept] == ids[:1:-1]
    report = store.get(ids[-1])
    assert (report.kind, report.fields, report.body, report.length, report.truncated) == \
        ("crash-log", {"n": "4"}, bytes([0, 255, 4]) * 2 + bytes([0, 255]), 12, True)
    assert store.get(ids[0]) is None
    assert isinstance(report.time, float) and report.time > 1e9


def test_two_hosts_migrating_at_once_migrate_once(tmp_path, postgresURL):
    """Every host opens (and so migrates) the shared database when it starts."""
    hosts = Backend("postgresql", tmp_path, postgresURL)
    start = threading.Barrier(4)

    def open_(_):
        start.wait()
        return hosts.open(ACCOUNT_SCHEMA).schemaVersion()

    try:
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(open_, range(4))) == [len(ACCOUNT_SCHEMA.steps)] * 4
    finally:
        hosts.close()


def test_a_newer_schema_is_refused_and_an_older_one_reported(backend):
    older = Migrations(ACCOUNT_SCHEMA.component, ACCOUNT_SCHEMA.steps[:1])
    assert backend.open(older).schemaVersion() == 1
    newer = Migrations(ACCOUNT_SCHEMA.component, (*ACCOUNT_SCHEMA.steps, ("SELECT 1",)))
    assert backend.open(newer).schemaVersion() == len(newer.steps)
    with pytest.raises(UnknownSchemaVersion):
        backend.open(ACCOUNT_SCHEMA)
    unmigrated = Migrations("logs", LOG_SCHEMA.steps)
    assert backend.open(unmigrated, migrate=False).schemaVersion() == 0


def test_generations_transfers_and_expiry_work_alike(backend):
    clock = [1000.0]
    store = AccountStore(backend.open(ACCOUNT_SCHEMA), clock=lambda: clock[0])
    store.createAccount(SSID, "Ann", "annie", None)
    store.bumpGeneration(SSID)
    store.bumpGeneration(SSID)
    assert store.generationOf(SSID) == 2 == store.accountFor(SSID).generation
    store.transferAccount(SSID, "8112345600B0027b")
    assert store.accountFor(SSID) is None and store.generationOf(SSID) == 3
    assert store.accountFor("8112345600B0027b").primary.username == "annie"
    store.createAccount("8112345600B0028b", "Never", "never", None)
    store.confirm("8112345600B0027b")
    clock[0] += 3600
    assert store.expireUnconfirmed(60) == ["8112345600B0028b"]
    assert store.accountFor("8112345600B0028b") is None
    assert not store.usernameTaken("never")


def test_a_lookup_gives_the_account_or_the_generation_alone(backend):
    """accountAndGeneration: one statement, with or without an account."""
    store = AccountStore(backend.open(ACCOUNT_SCHEMA))
    assert store.accountAndGeneration(SSID) == (None, 0)
    store.createAccount(SSID, "Ann", "annie", None)
    store.addUser(SSID, "Bob", "bobby", "hash")
    store.bumpGeneration(SSID)
    account, generation = store.accountAndGeneration(SSID)
    assert account == store.accountFor(SSID) and generation == 1 == account.generation
    assert [user.username for user in account.users] == ["annie", "bobby"]
    store.deleteAccount(SSID)
    assert store.accountAndGeneration(SSID) == (None, 2)
    assert store.accountAndGeneration("8112345600B0027b") == (None, 0)


def test_concurrent_sign_ups_stop_at_the_most_users(backend):
    """
    The count is checked in the sign-up's own transaction: of many
    sign-ups at once, exactly as many as fit are made.
    """
    database = backend.open(ACCOUNT_SCHEMA)
    stores = [AccountStore(database if backend.name == "postgresql"
                           else backend.open(ACCOUNT_SCHEMA)) for _ in range(8)]
    stores[0].createAccount(SSID, "Ann", "annie", None)
    stores[0].checkSignUp("bobby", 3)
    with pytest.raises(UsernameTaken):
        stores[0].checkSignUp(" ANNIE ", 3)
    with pytest.raises(StoreFull):
        stores[0].checkSignUp("bobby", 1)
    start = threading.Barrier(8)

    def signUp(number: int) -> bool:
        start.wait()
        try:
            stores[number].createAccount(f"81123456{number:02d}B0027b", "Box", f"box{number}",
                                         None, maxUsers=3)
        except StoreFull:
            return False
        return True
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(signUp, range(8)))
    assert made.count(True) == 2 and stores[0].userCount() == 3


def test_reports_count_against_their_sender(backend):
    store = LogStore(backend.open(LOG_SCHEMA), per_ssid=2)
    for n in range(3):
        store.add(SSID, "log", {}, b"own")
        store.add(SSID, "log", {}, b"stranger", sender="203.0.113.7")
    kept = store.list(SSID)
    assert len(kept) == 4
    assert sorted(entry.sender or "" for entry in kept) == ["", "", "203.0.113.7", "203.0.113.7"]
