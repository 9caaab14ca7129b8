"""C{wtvserv db}: status, migrate, and copying a SQLite deployment into PostgreSQL."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest

from wtvserv.accounts import ACCOUNT_DB_NAME, AccountStore
from wtvserv.logstore import LOG_DB_NAME, LogStore
from wtvserv.passwords import hash_password
from wtvserv.cli.main import main
from wtvserv.store.postgresql import PostgreSQLPool
from wtvserv.store.shared import SCHEMA as SHARED_SCHEMA, TICKET_SECRET, SharedState
from wtvserv.store.stores import SCHEMAS
from wtvserv.tickets import load_or_create_secret


def configFile(tmp_path, url: str, extra: str = ""):
    path = tmp_path / "wtvserv.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n{extra}')
    return str(path)


def test_status_of_an_empty_data_directory_fails_readably(tmp_path, capsys):
    assert main(["db", "--data", str(tmp_path), "status"]) == 1
    assert capsys.readouterr().err == \
        f"wtvserv: no SQLite databases in {tmp_path} (wrong --data?)\n"


def test_migrate_then_status_on_sqlite(tmp_path, capsys):
    assert main(["db", "--data", str(tmp_path), "migrate"]) == 0
    assert main(["db", "--data", str(tmp_path), "status"]) == 0
    out = capsys.readouterr().out
    for schema in SCHEMAS:
        assert f"{schema.component}: version {len(schema.steps)} of {len(schema.steps)}, " \
               "up to date" in out


def test_status_reports_pending_migrations_on_postgresql(tmp_path, postgresURL, capsys):
    config = ["--config", configFile(tmp_path, postgresURL), "--data", str(tmp_path)]
    assert main(["db", *config, "status"]) == 1
    assert "accounts: version 0 of" in capsys.readouterr().out
    assert main(["db", *config, "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["db", *config, "status"]) == 0


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, capsys):
    config = configFile(tmp_path, "postgresql://ann:sekrit@127.0.0.1:1/none?connect_timeout=1",
                        "connection_timeout = 1\n")
    started = time.monotonic()
    assert main(["db", "--config", config, "--data", str(tmp_path), "status"]) == 1
    assert time.monotonic() - started < 8, "it gave up after connection_timeout, not 10 s"
    err = capsys.readouterr().err
    assert err.startswith("wtvserv: cannot reach the database postgresql://ann:***@")
    assert "sekrit" not in err and err.count("\n") <= 3


def sqliteRows(path, table):
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute(f"SELECT * FROM {table}"))


def test_copy_moves_every_row_and_ids_continue(tmp_path, postgresURL, capsys):
    data = tmp_path / "data"
    data.mkdir()
    accounts = AccountStore(data / ACCOUNT_DB_NAME)
    for n in range(20):
        ssid = f"81123456{n:04X}026b"
        accounts.createAccount(ssid, f"Owner {n}", f"owner{n}", hash_password("pw") if n < 2
                               else None)
        if n % 3 == 0:
            accounts.addUser(ssid, "Kid", f"kid{n}", None)
    logs = LogStore(data / LOG_DB_NAME, per_ssid=2)
    for n in range(7):          # 7 made, 5 pruned: the next id must still be 8
        logs.add("8112345600B0026b", "crash", {"n": str(n)}, bytes(range(256)) * n)
    accounts.close()
    logs.close()
    secret = load_or_create_secret(data)
    (data / "bans.txt").write_text("address 203.0.113.7  # spam\nssid 8112345600B0026b\nnonsense\n")
    config = ["--config", configFile(tmp_path, postgresURL), "--data", str(tmp_path)]

    assert main(["db", *config, "copy", "--from", str(data)]) == 0
    out = capsys.readouterr().out
    assert "accounts: 20 accounts, 27 users" in out and "logs: 2 logs" in out
    assert "ticket secret: copied" in out and "bans: 2 copied" in out
    with psycopg.connect(postgresURL) as connection:
        for path, table in ((data / ACCOUNT_DB_NAME, "accounts"),
                            (data / ACCOUNT_DB_NAME, "users"), (data / LOG_DB_NAME, "logs")):
            copied = sorted(tuple(row) for row in connection.execute(f"SELECT * FROM {table}"))
            assert copied == sqliteRows(path, table), table
    pool = PostgreSQLPool(postgresURL)
    try:
        moved = LogStore(pool.database(SCHEMAS[1]))
        assert moved.add("8112345600B0026b", "log", {}, b"") == 8
        account = AccountStore(pool.database(SCHEMAS[0])).accountFor("811234560000026b")
        assert account.primary.username == "owner0" and len(account.users) == 2
        shared = SharedState(pool.database(SHARED_SCHEMA))
        assert shared.secret(TICKET_SECRET, lambda: b"x" * 32) == secret
        assert [ban[:2] for ban in shared.bans()] == [("address", "203.0.113.7"),
                                                     ("ssid", "8112345600b0026b")]
    finally:
        pool.close()

    assert main(["db", *config, "copy", "--from", str(data)]) == 1
    assert "the database's accounts table is not empty" in capsys.readouterr().err

    assert main(["logs", *config, "list"]) == 0                # the operator's view of it
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["8", "7", "6"]


@pytest.mark.parametrize("argv, message", [
    (["copy", "--from", "x"], "copy needs [storage] url"),
])
def test_copy_without_postgresql_is_refused(tmp_path, capsys, argv, message):
    assert main(["db", "--data", str(tmp_path), *argv]) == 1
    assert message in capsys.readouterr().err
