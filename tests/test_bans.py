"""
Tests for the ban list (L{wtvserv.bans}) and the C{wtvserv-ban} command
(L{wtvserv.cli.bans}), on real files.
"""

import os

import pytest
from twisted.internet.task import Clock

from wtvserv.bans import BanEntryError, BanList, parseBans, parseEntry
from wtvserv.cli.aliases import ban as main

SSID = "8112345600B0026b"


def test_addresses_ranges_and_ssids_are_read_and_bad_lines_skipped():
    bans = parseBans("# a comment\n"
                     "address 203.0.113.7\n"
                     "address 198.51.100.0/24   # the whole range\n"
                     "address 2001:db8::/32\n"
                     f"ssid {SSID}\n"
                     "address not-an-address\n"
                     "nonsense here\n\n")
    assert bans.addressBanned("203.0.113.7")
    assert bans.addressBanned("198.51.100.200")
    assert bans.addressBanned("2001:db8::5")
    assert not bans.addressBanned("198.51.101.1")
    assert not bans.addressBanned("garbage")
    assert bans.ssidBanned(SSID.upper()) and bans.ssidBanned(SSID.lower())
    assert not bans.ssidBanned("8112345700B002e4")


@pytest.mark.parametrize("kind, value", [
    ("address", "300.1.1.1"), ("address", ""), ("ssid", "not valid!"), ("ssid", "x" * 33),
    ("mac", "00:11:22:33:44:55"),
])
def test_bad_entries_are_refused(kind, value):
    with pytest.raises(BanEntryError):
        parseEntry(kind, value)


def test_the_list_is_reread_when_the_file_changes_and_no_sooner_than_the_interval(tmp_path):
    path = tmp_path / "bans.txt"
    clock = Clock()
    bans = BanList(path, clock, checkInterval=2)
    assert not bans.addressBanned("192.0.2.1"), "no file: nothing banned"
    path.write_text("address 192.0.2.1\n")
    assert not bans.addressBanned("192.0.2.1"), "not looked at again within the interval"
    clock.advance(2)
    assert bans.addressBanned("192.0.2.1")
    path.write_text(f"ssid {SSID}\n")
    os.utime(path, ns=(1, 1))
    clock.advance(2)
    assert not bans.addressBanned("192.0.2.1") and bans.ssidBanned(SSID)
    path.unlink()
    clock.advance(2)
    assert not bans.ssidBanned(SSID), "removing the file lifts every ban"


def test_the_command_adds_lists_and_removes_keeping_comments(tmp_path, capsys):
    data = str(tmp_path)
    (tmp_path / "bans.txt").write_text("# operator notes\n")
    assert main(["--data", data, "add", "address", "198.51.100.0/24", "--why", "spam\nssid x"]) == 0
    assert main(["--data", data, "add", "ssid", SSID.upper()]) == 0
    assert main(["--data", data, "add", "ssid", SSID]) == 0     # already there
    capsys.readouterr()
    assert main(["--data", data, "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "address 198.51.100.0/24", f"ssid {SSID.lower()}"]
    text = (tmp_path / "bans.txt").read_text()
    assert text.startswith("# operator notes\n") and "# spam ssid x" in text
    assert main(["--data", data, "remove", "address", "198.51.100.0/24"]) == 0
    bans = parseBans((tmp_path / "bans.txt").read_text())
    assert not bans.addressBanned("198.51.100.1") and bans.ssidBanned(SSID)


def test_the_command_refuses_bad_input_with_exit_2(tmp_path, capsys):
    assert main(["--data", str(tmp_path), "add", "address", "nope"]) == 1
    assert main(["--data", str(tmp_path), "remove", "ssid", SSID]) == 1
    assert "wtvserv:" in capsys.readouterr().err
    assert not (tmp_path / "bans.txt").exists()


def test_shared_bans_are_read_at_start_then_every_interval_off_the_reactor(tmp_path):
    """SharedBanList against a real (SQLite-backed) shared table group."""
    from tests.harness import ImmediateThreads, TestReactor
    from wtvserv.bans import SharedBanList
    from wtvserv.store.shared import SCHEMA, SharedState
    from wtvserv.store.sqlite import SQLiteDatabase

    class BrokenOnce(SharedState):
        broken = False

        def bans(self):
            if self.broken:
                raise OSError("database gone")
            return super().bans()

    shared = BrokenOnce(SQLiteDatabase(tmp_path / "shared.sqlite3", SCHEMA))
    shared.addBan("ssid", "8112345600b0026b")
    reactor = TestReactor()
    bans = SharedBanList(shared, reactor, ImmediateThreads(), checkInterval=2.0)
    assert bans.ssidBanned("8112345600b0026b")          # in force before the first tick
    bans.start()
    shared.addBan("address", "203.0.113.7")
    assert not bans.addressBanned("203.0.113.7")
    reactor.advance(2.0)
    assert bans.addressBanned("203.0.113.7")
    shared.broken = True
    reactor.advance(2.0)                                  # unreadable: the last bans stay
    assert bans.addressBanned("203.0.113.7") and bans.ssidBanned("8112345600b0026b")
    bans.stop()
    assert not reactor.getDelayedCalls()
