"""
L{wtvserv.operations}, the actions the commands and the console share,
on a SQLite file and on a throwaway PostgreSQL database.
"""

from __future__ import annotations

import pytest

from wtvserv import operations
from wtvserv.box import make_ssid
from wtvserv.config import Config
from wtvserv.operations import Refused
from wtvserv.store.stores import openStores
from wtvserv.switches import DEFAULT_MESSAGE

SSID, OTHER, NEW = make_ssid(171), make_ssid(172), make_ssid(173)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request, tmp_path):
    url = request.getfixturevalue("postgresURL") if request.param == "postgresql" else None
    opened = openStores(Config(dataDir=tmp_path, storageURL=url))
    yield opened
    opened.close()


@pytest.fixture
def accounts(stores):
    store = stores.accounts
    store.createAccount(SSID, "Ann", "annie", "hash")
    store.addUser(SSID, "Kid", "kiddo", "hash2")
    store.createAccount(OTHER, "Bob", "bobby", None)
    return store


def test_an_account_is_found_exactly_or_ignoring_case(accounts):
    assert operations.findAccount(accounts, SSID).ssid == SSID
    assert operations.findAccount(accounts, SSID.upper()).ssid == SSID
    assert operations.findAccount(accounts, SSID.lower()).ssid == SSID
    with pytest.raises(Refused, match=f"no account for {NEW}"):
        operations.findAccount(accounts, NEW)
    accounts.createAccount(NEW.upper(), "Up", "upper", None)
    accounts.createAccount(NEW.lower(), "Low", "lower", None)
    with pytest.raises(Refused, match="no account for"):     # two but for case: which?
        operations.findAccount(accounts, NEW.title())
    with pytest.raises(Refused, match=r"no account for \\x1b\[2J"):
        operations.findAccount(accounts, "\x1b[2J")
    with pytest.raises(Refused, match="has no user 5"):
        operations.findUser(operations.findAccount(accounts, SSID), 5)


def test_accounts_are_searched_by_ssid_or_user_name(accounts):
    def found(query, limit=10):
        matches, total = accounts.searchAccounts(query, limit)
        return [a.ssid for a in matches], total
    assert found("KIDD") == ([SSID], 1)
    assert found(" kiddo ") == ([SSID], 1)
    assert found("_") == ([], 0) and found("%") == ([], 0), "LIKE's wildcards are text"
    accounts.addUser(OTHER, "Under", "under_score", None)
    assert found("r_s") == ([OTHER], 1)
    assert found(OTHER[-6:].lower()) == ([OTHER], 1)
    assert found("") == ([SSID, OTHER], 2)
    assert found("", limit=1) == ([SSID], 2)
    assert found("nobody") == ([], 0)


def test_a_password_is_cleared_and_a_user_removed_but_never_the_subscriber(accounts):
    account = operations.findAccount(accounts, SSID)
    operations.setPasswordHash(accounts, account, account.user(1), None)
    assert not accounts.accountFor(SSID).user(1).has_password
    with pytest.raises(Refused, match="user 0 is the subscriber"):
        operations.removeUser(accounts, account, account.primary)
    operations.removeUser(accounts, account, account.user(1))
    assert [u.user_id for u in accounts.accountFor(SSID).users] == [0]
    assert accounts.accountFor(SSID).generation > account.generation, "sessions end"


def test_a_transfer_wants_a_serial_number_the_server_accepts(accounts):
    account = operations.findAccount(accounts, SSID)
    with pytest.raises(Refused, match="is not a serial number the server accepts"):
        operations.transferAccount(accounts, Config(), account, NEW[:-1] + "x")
    with pytest.raises(Refused, match="already"):
        operations.transferAccount(accounts, Config(), account, OTHER)
    operations.transferAccount(accounts, Config(), account, NEW)
    assert accounts.accountFor(SSID) is None
    assert accounts.accountFor(NEW).primary.username == "annie"
    operations.deleteAccount(accounts, accounts.accountFor(NEW))
    assert accounts.accountFor(NEW) is None


def test_bans_are_added_listed_and_lifted(stores, tmp_path):
    bans = (operations.FileBans(tmp_path / "bans.txt") if stores.shared is None
            else operations.DatabaseBans(stores.shared))
    entry = operations.banEntry("address", "203.0.113.7")
    assert bans.add(entry, operations.banNote("  too   many\nlogins "))
    assert not bans.add(entry, "again")
    assert bans.add(operations.banEntry("ssid", SSID), "")
    assert bans.entries() == [("address", "203.0.113.7", "too many logins"),
                              ("ssid", SSID.lower(), "")]
    assert bans.remove(entry) and not bans.remove(entry)
    assert [kind for kind, _, _ in bans.entries()] == ["ssid"]
    with pytest.raises(Refused, match="not an address"):
        operations.banEntry("address", "<script>")


def test_the_ban_file_keeps_its_comments_and_lines_it_cannot_read(tmp_path):
    path = tmp_path / "bans.txt"
    path.write_text("# who and why\naddress 192.0.2.1  # noisy\nnonsense here\n")
    bans = operations.FileBans(path)
    assert bans.entries() == [("address", "192.0.2.1", "noisy")]
    bans.add(("address", "192.0.2.2"), "")
    bans.remove(("address", "192.0.2.1"))
    assert path.read_text() == "# who and why\nnonsense here\naddress 192.0.2.2\n"


def test_switches_are_set_in_one_step_and_nonsense_refused(stores, tmp_path):
    switchList = (operations.FileSwitches(tmp_path / "switches.txt") if stores.shared is None
                  else operations.DatabaseSwitches(stores.shared))
    assert not switchList.read().maintenance
    switches = operations.setSwitch(switchList, "maintenance", "on")
    assert switches.maintenance and switches.message == DEFAULT_MESSAGE
    assert switchList.read() == switches
    assert not operations.setSwitch(switchList, "registration", "closed").registrationOpen
    assert switchList.read().maintenance, "the other switch stays"
    for name, word in (("maintenance", "maybe"), ("lights", "on"), ("registration", "on")):
        with pytest.raises(Refused, match="is no switch setting"):
            operations.setSwitch(switchList, name, word)
    with pytest.raises(Refused, match="a maintenance message is"):
        operations.setSwitch(switchList, "maintenance", "on", "x" * 500)
    assert operations.setSwitch(switchList, "maintenance", "on", "Back  at six.").message \
        == "Back at six."
