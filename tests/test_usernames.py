"""
The operator's username lists (L{wtvserv.usernames}): shipped defaults
copied into the data directory, and edits that a running server applies.
"""

import os

import pytest
from twisted.internet.task import Clock

from tests.harness import SSID, TestBox, inProcessServer
from wtvserv.accounts import InvalidUsername, check_username
from wtvserv.usernames import (
    BAD_WORDS_FILE,
    DEFAULT_RULES,
    RESERVED_FILE,
    UsernameLists,
    UsernameRules,
    installDefaults,
    shippedText,
)


def test_reserved_names_match_whole_and_bad_words_anywhere_ignoring_case_and_dashes():
    rules = UsernameRules(frozenset({"admin"}), frozenset({"darn"}))
    assert "reserved" in rules.problem("ADMIN")
    assert rules.problem("admin2") is None
    assert "not allowed" in rules.problem("xDarnx")
    assert "not allowed" in rules.problem("d_a-r_n")
    assert rules.problem("ann") is None


def test_the_shipped_defaults_reserve_the_usual_names():
    with pytest.raises(InvalidUsername):
        check_username("Postmaster")
    with pytest.raises(InvalidUsername):
        check_username("shit_happens")
    assert "webmaster" in DEFAULT_RULES.reserved


def test_the_defaults_are_copied_once_and_an_operators_file_is_kept(tmp_path):
    installDefaults(tmp_path)
    assert (tmp_path / RESERVED_FILE).read_text() == shippedText(RESERVED_FILE)
    (tmp_path / BAD_WORDS_FILE).write_text("darn\n")
    installDefaults(tmp_path)
    assert (tmp_path / BAD_WORDS_FILE).read_text() == "darn\n"


def test_the_lists_are_reread_when_they_change_and_the_defaults_hold_without_them(tmp_path):
    clock = Clock()
    lists = UsernameLists(tmp_path, clock)
    assert lists.current() == DEFAULT_RULES
    (tmp_path / RESERVED_FILE).write_text("# ours\nann\n")
    clock.advance(2)
    assert lists.current().reserved == {"ann"}
    assert lists.current().badWords == DEFAULT_RULES.badWords
    (tmp_path / RESERVED_FILE).unlink()
    clock.advance(2)
    assert lists.current() == DEFAULT_RULES


def signUp(server, username: str):
    box = TestBox(server)
    box.login()
    return box.request("wtv-register:/ValidateRegistration", secure=True,
                       body=f"subscriber_name=Ann&subscriber_username={username}"
                            "&agreement=yes".encode())


def test_a_running_server_applies_an_edited_list_to_sign_ups(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        reserved = server.config.dataDir / RESERVED_FILE
        assert reserved.is_file(), "the defaults are copied at start"
        reserved.write_text(reserved.read_text() + "annbox\n")
        os.utime(reserved, ns=(1, 1))
        server.reactor.advance(2)
        refused = signUp(server, "AnnBox")
        assert b"is reserved" in refused.body and server.accounts.accountFor(SSID) is None
        (server.config.dataDir / BAD_WORDS_FILE).write_text("box\n")
        server.reactor.advance(2)
        assert b"is not allowed" in signUp(server, "mybox").body
        assert signUp(server, "annie").status == 200
        assert server.accounts.accountFor(SSID).primary.username == "annie"
