"""
The commands against a PostgreSQL server that is locked, or gone: one
line and a non-zero exit, never a traceback or a hang (issue 15 item 5).
"""

from __future__ import annotations

import io
import time

import psycopg
import pytest

from tests.harness import SSID
from tests.postgres import PostgresServer, requireBinaries
from wtvserv.cli.main import main
from wtvserv.passwords import hash_password
from wtvserv.config import loadConfig
from wtvserv.store.stores import openStores


@pytest.fixture
def deployment(tmp_path, postgresURL):
    """A data directory and a configuration naming the database, locks waited for 1 s."""
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "shared.toml"
    config.write_text(f'[storage]\nurl = "{postgresURL}"\nlock_timeout = 1\n')
    stores = openStores(loadConfig(config))
    stores.accounts.createAccount(SSID, "Ann", "annpw", hash_password("secret1"))
    stores.close()
    return ["--config", str(config), "--data", str(data)]


def test_a_locked_table_is_busy_in_one_line(deployment, postgresURL, capsys):
    with psycopg.connect(postgresURL) as other:          # another tool's long transaction
        other.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        assert main(["accounts", *deployment, "add-user", SSID, "bob"]) == 1
        waited = time.monotonic() - started
    err = capsys.readouterr().err
    assert err.startswith("wtvserv: the database ") and "is busy" in err and "try again" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert waited < 10, "it gave up after the lock timeout, not never"
    assert main(["accounts", *deployment, "add-user", SSID, "bob"]) == 0   # free again


def test_a_stopped_server_is_one_line(tmp_path, capsys, monkeypatch, caplog):
    server = PostgresServer(requireBinaries())
    server.start()
    stopped = []
    try:
        config = tmp_path / "shared.toml"
        # A server that went away is given up on after connection_timeout.
        config.write_text(f'[storage]\nurl = "{server.newDatabase()}"\nconnection_timeout = 3\n')
        arguments = ["--config", str(config), "--data", str(tmp_path)]
        assert main(["accounts", *arguments, "list"]) == 0
        openStores(loadConfig(config)).accounts.createAccount(SSID, "Ann", "annpw", None)

        # Gone while the command runs: between opening the store and the change.
        class Typing(io.StringIO):
            def readline(self):
                server.stop()
                stopped.append(True)
                return "newpassword1\n"
        monkeypatch.setattr("sys.stdin", Typing())
        assert main(["accounts", *arguments, "set-password", SSID, "0"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("wtvserv: cannot reach the database "), err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert not [r for r in caplog.records if r.name.startswith("psycopg")], \
            "only that line: none of the pool's own"

        # Gone before it starts.
        assert main(["accounts", *arguments, "list"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("wtvserv: cannot open PostgreSQL at ") and len(err.splitlines()) == 1
    finally:
        if not stopped:
            server.stop()
