"""
Tests for L{wtvserv.accounts}, on real SQLite files.
"""

import sqlite3
import stat

import pytest
from zope.interface.verify import verifyObject

from wtvserv.accounts import (
    ACCOUNT_DB_NAME,
    MIGRATIONS,
    Account,
    AccountExists,
    InvalidName,
    InvalidUsername,
    NoSuchAccount,
    SQLiteAccountStore,
    TooManyUsers,
    User,
    UsernameTaken,
    check_human_name,
    check_username,
)
from wtvserv.interfaces import IAccountStore
from wtvserv.sqlitedb import UnknownSchemaVersion

SSID = "91a2b3c4d5e6f708"
OTHER_SSID = "81f00dfeedbeef01"


class FakeClock:
    """A clock that says what it is told."""

    def __init__(self, now: float = 1_700_000_000.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path):
    return tmp_path / ACCOUNT_DB_NAME


@pytest.fixture
def store(path):
    store = SQLiteAccountStore(path, max_users=3, clock=FakeClock())
    yield store
    store.close()


def test_the_store_provides_the_interface(store):
    assert verifyObject(IAccountStore, store)


def test_an_unknown_ssid_has_no_account(store):
    assert store.accountFor(SSID) is None


def test_a_created_account_is_read_back_after_reopening(path):
    """Accounts survive closing and reopening the file."""
    store = SQLiteAccountStore(path, clock=FakeClock(1234.9))
    created = store.createAccount(SSID, " Ada Lovelace ", " Ada ", "scrypt$x")
    store.close()

    reopened = SQLiteAccountStore(path)
    try:
        account = reopened.accountFor(SSID)
    finally:
        reopened.close()
    primary = User(0, "Ada", "Ada Lovelace", "scrypt$x", 1234)
    assert account == created == Account(SSID, 1234, (primary,))
    assert account.primary == primary
    assert account.primary.has_password


def test_a_user_without_a_password_hash_has_no_password(store):
    account = store.createAccount(SSID, "Ada", "ada", None)
    assert not account.primary.has_password


def test_the_file_is_in_wal_mode_at_the_current_schema_version(store, path):
    with sqlite3.connect(path) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert mode == "wal"
    assert version == len(MIGRATIONS) == 2


def test_the_file_is_readable_by_its_owner_only(store, path):
    """Password hashes are not for other local users to read."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_users_are_added_up_to_the_limit_then_too_many_users(store):
    store.createAccount(SSID, "Ada", "ada", None)
    second = store.addUser(SSID, "Byron", "byron", "scrypt$b")
    third = store.addUser(SSID, "Charles", "charles", None)
    with pytest.raises(TooManyUsers) as raised:
        store.addUser(SSID, "Dora", "dora", None)

    assert (second.user_id, third.user_id) == (1, 2)
    assert "3 users" in raised.value.message
    account = store.accountFor(SSID)
    assert [user.username for user in account.users] == [
        "ada", "byron", "charles"]
    assert account.user(1) == second
    assert account.user(5) is None
    assert store.userCount() == 3


def test_adding_a_user_to_an_unknown_ssid_is_no_such_account(store):
    with pytest.raises(NoSuchAccount):
        store.addUser(SSID, "Byron", "byron", None)
    assert store.userCount() == 0


def test_a_second_account_for_one_ssid_is_refused(store):
    store.createAccount(SSID, "Ada", "ada", None)
    with pytest.raises(AccountExists):
        store.createAccount(SSID, "Bob", "bob", None)
    assert store.userCount() == 1


def test_usernames_are_unique_case_insensitively_across_accounts(store):
    store.createAccount(SSID, "Ada", "Ada", None)
    with pytest.raises(UsernameTaken) as raised:
        store.createAccount(OTHER_SSID, "Other Ada", "aDA", None)
    assert '"aDA" is already taken' in raised.value.message
    with pytest.raises(UsernameTaken):
        store.addUser(SSID, "Ada again", "ADA", None)
    assert store.usernameTaken("ada")
    assert not store.usernameTaken("bob")


def test_a_create_that_fails_on_a_taken_username_leaves_nothing(store, path):
    """The account row of a failed createAccount is rolled back."""
    store.createAccount(SSID, "Ada", "ada", None)
    with pytest.raises(UsernameTaken):
        store.createAccount(OTHER_SSID, "Bob", "ADA", None)

    assert store.accountFor(OTHER_SSID) is None
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT ssid FROM accounts").fetchall()
    assert rows == [(SSID,)]
    store.createAccount(OTHER_SSID, "Bob", "bob", None)


def test_the_store_checks_usernames_and_names(store):
    with pytest.raises(InvalidUsername):
        store.createAccount(SSID, "Ada", "admin", None)
    with pytest.raises(InvalidName):
        store.createAccount(SSID, "   ", "ada", None)
    assert store.accountFor(SSID) is None


def test_a_password_hash_is_set_and_removed(store):
    store.createAccount(SSID, "Ada", "ada", None)
    store.setPasswordHash(SSID, 0, "scrypt$new")
    assert store.accountFor(SSID).primary.password_hash == "scrypt$new"
    store.setPasswordHash(SSID, 0, None)
    assert not store.accountFor(SSID).primary.has_password


def test_setting_the_password_of_an_unknown_user_is_no_such_account(store):
    store.createAccount(SSID, "Ada", "ada", None)
    with pytest.raises(NoSuchAccount):
        store.setPasswordHash(SSID, 4, "scrypt$new")


def test_a_file_with_a_future_schema_version_is_refused(path):
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(UnknownSchemaVersion, match="schema version 3"):
        SQLiteAccountStore(path)


@pytest.mark.parametrize("name", ["ada", "Ada_Lovelace", "a-b", "x12",
                                  "Abcdefghijklmnop"])
def test_good_usernames_are_accepted(name):
    assert check_username(name) == name


def test_usernames_are_stripped_of_surrounding_blanks():
    assert check_username("  ada\t") == "ada"


@pytest.mark.parametrize("name, message", [
    ("", "Please choose a user name."),
    ("   ", "Please choose a user name."),
    ("ab", "at least 3 characters"),
    ("a" * 17, "at most 16 characters"),
    ("ada lovelace", "only contain letters, numbers, _ and -"),
    ("ada.l", "only contain letters, numbers, _ and -"),
    ("adé", "only contain letters, numbers, _ and -"),
    ("ada\nx", "only contain letters, numbers, _ and -"),
    ("1ada", "must start with a letter"),
    ("_ada", "must start with a letter"),
    ("-ada", "must start with a letter"),
])
def test_bad_usernames_are_refused_with_a_readable_message(name, message):
    with pytest.raises(InvalidUsername) as raised:
        check_username(name)
    assert message in raised.value.message
    assert str(raised.value) == raised.value.message


@pytest.mark.parametrize("name", ["admin", "Administrator", "ROOT",
                                  "postmaster", "WebTV", "msntv", "guest",
                                  "nobody", "mailer-daemon"])
def test_reserved_usernames_are_refused_whatever_their_case(name):
    with pytest.raises(InvalidUsername, match="reserved"):
        check_username(name)


def test_human_names_are_stripped():
    assert check_human_name("  Ada Lovelace ") == "Ada Lovelace"
    assert check_human_name("Zoë") == "Zoë"


@pytest.mark.parametrize("name, message", [
    ("", "Please enter your name."),
    ("  \t ", "Please enter your name."),
    ("x" * 33, "at most 32 characters"),
    ("Ada\x1b[31m", "printable"),
    ("Ada\nLovelace", "printable"),
])
def test_bad_human_names_are_refused_with_a_readable_message(name, message):
    with pytest.raises(InvalidName) as raised:
        check_human_name(name)
    assert message in raised.value.message


def test_every_change_that_ends_a_login_bumps_the_generation(store):
    store.createAccount(SSID, "Ada", "ada", None)
    store.addUser(SSID, "Byron", "byron", None)
    seen = [store.accountFor(SSID).generation]
    store.setPasswordHash(SSID, 0, "scrypt$new")
    seen.append(store.generationOf(SSID))
    store.removeUser(SSID, 1)
    seen.append(store.generationOf(SSID))
    store.bumpGeneration(SSID)
    seen.append(store.accountFor(SSID).generation)
    store.deleteAccount(SSID)
    seen.append(store.generationOf(SSID))
    assert seen == [0, 1, 2, 3, 4]
    again = store.createAccount(SSID, "Eve", "eve", None)
    assert again.generation == store.accountFor(SSID).generation == 4, \
        "a new account of the SSID never has a generation an old ticket carries"


def test_a_change_that_fails_bumps_nothing(store):
    store.createAccount(SSID, "Ada", "ada", None)
    for change in (lambda: store.setPasswordHash(SSID, 3, None),
                   lambda: store.removeUser(SSID, 0), lambda: store.deleteAccount(OTHER_SSID),
                   lambda: store.transferAccount(OTHER_SSID, SSID)):
        with pytest.raises(NoSuchAccount):
            change()
    store.createAccount(OTHER_SSID, "Bo", "bob", None)
    with pytest.raises(AccountExists):
        store.transferAccount(SSID, OTHER_SSID)
    assert (store.generationOf(SSID), store.generationOf(OTHER_SSID)) == (0, 0)
    assert store.accountFor(SSID).primary.username == "ada"


def test_a_transferred_account_moves_with_its_users(store):
    store.createAccount(SSID, "Ada", "ada", "scrypt$a")
    store.addUser(SSID, "Byron", "byron", None)
    store.transferAccount(SSID, OTHER_SSID)
    assert store.accountFor(SSID) is None
    moved = store.accountFor(OTHER_SSID)
    assert [u.username for u in moved.users] == ["ada", "byron"]
    assert (store.generationOf(SSID), moved.generation) == (1, 1)


def test_accounts_that_never_logged_in_expire_after_the_grace(path):
    clock = FakeClock(1000)
    store = SQLiteAccountStore(path, clock=clock)
    try:
        store.createAccount(SSID, "Ada", "ada", None)
        store.createAccount(OTHER_SSID, "Bo", "bob", None)
        store.confirm(OTHER_SSID)
        clock.now = 5000
        store.confirm(OTHER_SSID)
        assert store.accountFor(OTHER_SSID).confirmed == 1000, "the first login counts"
        assert store.expireUnconfirmed(4000) == []
        assert store.expireUnconfirmed(3999) == [SSID]
        assert store.accountFor(SSID) is None and store.generationOf(SSID) == 1
        assert store.accountFor(OTHER_SSID) is not None
        assert not store.usernameTaken("ada"), "the user name is free again"
    finally:
        store.close()


def test_a_version_1_file_is_upgraded_and_its_accounts_count_as_confirmed(path):
    connection = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        connection.execute(statement)
    connection.execute("INSERT INTO accounts VALUES (?, 77)", (SSID,))
    connection.execute("INSERT INTO users VALUES (?, 0, 'ada', 'ada', 'Ada', NULL, 77)", (SSID,))
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    store = SQLiteAccountStore(path)
    try:
        account = store.accountFor(SSID)
        assert (account.primary.username, account.generation, account.confirmed) == ("ada", 0, 77)
        assert store.expireUnconfirmed(0) == []
    finally:
        store.close()
