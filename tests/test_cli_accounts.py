"""
C{wtvserv accounts} on a real account database: every action, its one-line
refusals, and the generation bump that ends a box's session.
"""

import io

import pytest

from wtvserv.accounts import ACCOUNT_DB_NAME, AccountStore
from wtvserv.cli.main import main
from wtvserv.passwords import hash_password, verify_password

SSID = "8112345600B0026b"
OTHER = "8112345700B002e4"


@pytest.fixture
def data(tmp_path):
    store = AccountStore(tmp_path / ACCOUNT_DB_NAME)
    store.createAccount(SSID, "Ann Box", "ann", hash_password("secret1"))
    store.addUser(SSID, "Bob Box", "bob", None)
    store.close()
    return tmp_path


def accounts(data, *args):
    return main(["accounts", "--data", str(data), *args])


def stored(data, ssid=SSID):
    store = AccountStore(data / ACCOUNT_DB_NAME)
    try:
        return store.accountFor(ssid)
    finally:
        store.close()


def test_list_shows_full_ssids_and_users(data, capsys):
    assert accounts(data, "list") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{SSID}  20") and line.endswith("  0:ann*, 1:bob")


def test_show_gives_every_user(data, capsys):
    assert accounts(data, "show", SSID.lower()) == 0, "found ignoring case"
    shown = capsys.readouterr().out
    assert f"ssid          {SSID}\n" in shown and "first login   not yet\n" in shown
    assert "user 0        ann (Ann Box), password, since 20" in shown
    assert "user 1        bob (Bob Box), no password" in shown


def test_each_change_bumps_the_generation(data):
    generation = stored(data).generation
    assert accounts(data, "clear-password", SSID, "0") == 0
    assert stored(data).primary.password_hash is None
    assert stored(data).generation == generation + 1
    assert accounts(data, "remove-user", SSID, "1") == 0
    assert [u.username for u in stored(data).users] == ["ann"]
    assert stored(data).generation == generation + 2


def test_set_password_reads_one_line_from_a_pipe(data, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter22\n"))
    assert accounts(data, "set-password", SSID, "1") == 0
    assert verify_password("hunter22", stored(data).user(1).password_hash)
    assert "hunter22" not in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("abc\n"))
    assert accounts(data, "set-password", SSID, "1") == 1
    assert "a password has 4 to 64 characters" in capsys.readouterr().err


def test_add_user_follows_the_username_rules(data, capsys):
    assert accounts(data, "add-user", SSID, "cleo", "--name", "Cleo Box") == 0
    assert stored(data).user(2).human_name == "Cleo Box"
    assert accounts(data, "add-user", SSID, "Admin") == 1
    assert accounts(data, "add-user", SSID, "ann") == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == ['wtvserv: The user name "Admin" is reserved. Please choose another.',
                      'wtvserv: The user name "ann" is already taken. Please choose another.']


def test_transfer_moves_the_account_to_a_valid_ssid_only(data, capsys):
    assert accounts(data, "transfer", SSID, "8112345700B002e5") == 1
    assert "is not a serial number the server accepts" in capsys.readouterr().err
    before = stored(data).generation
    assert accounts(data, "transfer", SSID, OTHER) == 0
    assert stored(data) is None
    moved = stored(data, OTHER)
    assert [u.username for u in moved.users] == ["ann", "bob"]
    store = AccountStore(data / ACCOUNT_DB_NAME)
    assert store.generationOf(SSID) == before + 1
    store.close()


def test_delete_asks_first_unless_told_yes(data, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda: "n")
    assert accounts(data, "delete", SSID) == 1
    assert stored(data) is not None and "not deleted" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda: "y")
    assert accounts(data, "delete", SSID) == 0
    assert stored(data) is None


def test_delete_from_a_pipe_that_says_nothing_deletes_nothing(data, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert accounts(data, "delete", SSID) == 1
    assert stored(data) is not None
    assert accounts(data, "delete", SSID, "--yes") == 0
    assert stored(data) is None


@pytest.mark.parametrize("args, message", [
    (["show", OTHER], f"no account for {OTHER}"),
    (["remove-user", SSID, "0"], "user 0 is the subscriber; delete the account instead"),
    (["remove-user", SSID, "5"], f"{SSID} has no user 5 (users: 0, 1)"),
    (["clear-password", OTHER, "0"], f"no account for {OTHER}"),
])
def test_mistakes_are_one_line(data, capsys, args, message):
    assert accounts(data, *args) == 1
    assert capsys.readouterr().err == f"wtvserv: {message}\n"


def test_a_data_directory_without_accounts_is_left_alone(tmp_path, capsys):
    assert accounts(tmp_path, "list") == 1
    assert capsys.readouterr().err == f"wtvserv: no account database at " \
                                      f"{tmp_path / ACCOUNT_DB_NAME}\n"
    assert list(tmp_path.iterdir()) == []
