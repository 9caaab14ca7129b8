"""
Boxes that lie or overdo it, against the real services in process: a
stranger claiming a logged-in box's SSID, and the per-address limits on
logins, sign-ups and reports. Every refusal is a WTVP status the box shows.
"""

import pytest
from twisted.logger import formatEvent

from tests.harness import SSID, TestBox, inProcessServer, makeServer
from wtvserv.passwords import hash_password
from wtvserv.ssid import ssid_crc

STRANGER = "198.51.100.9"


def ssidNumber(n: int) -> str:
    first = f"81{n:06x}00B002"
    return first + ssid_crc(first)


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data", registrationsPerAddress=2, logsPerAddress=3,
                         loginFailuresPerAddress=4, loginsPerAddress=6) as server:
        yield server


def loggedIn(server, ssid=SSID, address="127.0.0.1") -> TestBox:
    server.accounts.createAccount(ssid, "Ann", f"ann{ssid[4:8]}", None)
    box = TestBox(server, ssid, address)
    assert box.login().status == 200
    return box


def test_a_stranger_claiming_a_logged_in_ssid_cannot_throw_the_box_out(server):
    box = loggedIn(server)
    proven = server.sessions.sessionKeys(SSID)
    stranger = TestBox(server, SSID, STRANGER)
    stranger.request("wtv-1800:/preregister")
    login = stranger.request("wtv-head-waiter:/login?")
    for _ in range(2):
        stranger.key = server.sessions.currentKey(SSID, STRANGER)   # for the next challenge
        wrong = stranger.request(login.get("wtv-visit"), {"wtv-challenge-response": "AAAA" * 24})
        assert wrong.status == 403
    stranger.request("wtv-head-waiter:/relogin?relogin=true")      # no ticket: forgets nothing
    assert server.sessions.sessionKeys(SSID) == proven
    assert box.request("wtv-home:/home", secure=True).status == 200
    assert box.request("wtv-head-waiter:/reconnect", secure=True).get("wtv-user-name")


def test_a_stranger_pre_registering_between_a_boxs_steps_does_not_break_its_login(server):
    box = loggedIn(server)
    stranger = TestBox(server, SSID, STRANGER)
    box.request("wtv-1800:/preregister")
    stranger.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    stranger.request("wtv-head-waiter:/login?")
    assert box.request(login.get("wtv-visit"), box.answer()).status == 200
    assert box.request("wtv-home:/home", secure=True).status == 200


def test_wrong_answers_from_one_address_lock_that_address_out_of_other_ssids(server):
    for n in range(4):
        guesser = TestBox(server, ssidNumber(n), STRANGER)
        guesser.request("wtv-1800:/preregister")
        login = guesser.request("wtv-head-waiter:/login?")
        guesser.key = server.sessions.currentKey(guesser.ssid, STRANGER)
        guesser.request(login.get("wtv-visit"), {"wtv-challenge-response": "AAAA" * 24})
    guesser = TestBox(server, ssidNumber(9), STRANGER)
    guesser.request("wtv-1800:/preregister")
    refused = guesser.request("wtv-head-waiter:/login?")
    assert refused.status == 403 and "Please wait 10 minutes" in refused.reason
    assert loggedIn(server).request("wtv-home:/home", secure=True).status == 200, \
        "other addresses log in as usual"


def test_logins_per_address_are_limited(server):
    box = TestBox(server, SSID, STRANGER)
    assert [box.login().status for _ in range(6)] == [200] * 6
    box.request("wtv-1800:/preregister")
    refused = box.request("wtv-head-waiter:/login?")
    assert refused.status == 403 and "Too many logins" in refused.reason


def signUp(server, ssid, address="127.0.0.1"):
    box = TestBox(server, ssid, address)
    box.login()
    body = (f"subscriber_name=Al&subscriber_username=al{ssid[4:8]}&agreement=yes").encode()
    return box.request("wtv-register:/ValidateRegistration", secure=True, body=body)


def test_sign_ups_per_address_are_limited_and_the_box_is_told_how_long_to_wait(server):
    assert signUp(server, ssidNumber(1)).status == 200
    assert signUp(server, ssidNumber(2)).status == 200
    refused = signUp(server, ssidNumber(3))
    assert refused.status == 403
    assert refused.reason == ("Too many accounts were made from your connection. "
                              "Please wait 60 minutes and try again.")
    assert server.accounts.accountFor(ssidNumber(3)) is None
    assert signUp(server, ssidNumber(4), STRANGER).status == 200
    server.reactor.advance(3601)
    assert signUp(server, ssidNumber(3)).status == 200


def test_reports_per_address_are_limited(server):
    box = TestBox(server)
    statuses = [box.request("wtv-log:/log", body=b"report").status for _ in range(4)]
    assert statuses == [200, 200, 200, 403]
    assert len(server.logs.list(ssid=SSID)) == 3


def test_exempt_addresses_are_not_limited(tmp_path):
    server, reactor = makeServer(tmp_path / "data", logsPerAddress=1,
                                 exemptAddresses=["127.0.0.0/8"])
    server.reactor = reactor
    try:
        from wtvserv.admission import AddressSet
        assert isinstance(server.context.exemptAddresses, AddressSet)
        box = TestBox(server)
        assert [box.request("wtv-log:/log", body=b"r").status for _ in range(3)] == [200] * 3
    finally:
        server.accounts.close()
        server.logs.close()


def guessPassword(server, address, password=b"guess", ssid=SSID):
    box = TestBox(server, ssid, address)
    box.login()
    return box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=" + password,
                       secure=True)


def test_a_strangers_wrong_passwords_lock_out_the_stranger_not_the_box(tmp_path):
    """Issue 12, item 10: failures counted per SSID let anyone lock a box out."""
    with inProcessServer(tmp_path / "data") as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", hash_password("secret1"))
        attempts = server.config.loginAttempts
        answers = [guessPassword(server, STRANGER).reason for _ in range(attempts)]
        assert answers[:-1] == ["The password you entered was incorrect. "
                                "Please retype it and try again."] * (attempts - 1)
        assert "Too many" in answers[-1]
        assert "Too many" in guessPassword(server, STRANGER, b"secret1").reason
        assert guessPassword(server, "192.0.2.1", b"secret1").status == 200, "the owner logs in"


def test_wrong_passwords_from_many_addresses_reach_a_higher_bound_per_ssid(tmp_path):
    with inProcessServer(tmp_path / "data", loginFailuresPerSSID=8) as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", hash_password("secret1"))
        for n in range(7):
            assert "incorrect" in guessPassword(server, f"192.0.2.{n}").reason
        assert "Too many" in guessPassword(server, "192.0.2.7").reason
        refused = guessPassword(server, "192.0.2.77", b"secret1")
        assert refused.status == 403 and "Please wait 10 minutes" in refused.reason


def test_strangers_between_a_boxs_preregister_and_its_login_break_none_of_its_logins(tmp_path):
    """Issue 12, item 11: four strangers made 9-10 of a box's 10 logins fail."""
    with inProcessServer(tmp_path / "data") as server:
        box = TestBox(server, SSID, "192.0.2.1")
        strangers = [TestBox(server, SSID, f"198.51.100.{n}") for n in range(4)]
        results = []
        for _ in range(10):
            box.request("wtv-1800:/preregister")
            for stranger in strangers:
                stranger.request("wtv-1800:/preregister")
                stranger.request("wtv-head-waiter:/login?")
            login = box.request("wtv-head-waiter:/login?")
            for stranger in strangers:
                stranger.request("wtv-1800:/preregister")
            results.append(box.request(login.get("wtv-visit"), box.answer()).status)
        assert results == [200] * 10


def test_an_origin_without_its_own_challenge_goes_back_to_preregister_uncounted(server):
    box = TestBox(server, SSID, STRANGER)
    other = TestBox(server, SSID, "192.0.2.1")
    other.request("wtv-1800:/preregister")
    other.request("wtv-head-waiter:/login?")
    answers = [box.request("wtv-head-waiter:/ValidateLogin?initial_login=true",
                           {"wtv-challenge-response": "AAAA" * 24}) for _ in range(6)]
    assert {a.get("wtv-visit") for a in answers} == {"wtv-1800:/preregister?relogin=true"}
    assert loggedIn(server, address=STRANGER).request("wtv-home:/home", secure=True).status == 200


def test_pre_registrations_per_address_are_limited(tmp_path):
    with inProcessServer(tmp_path / "data", preregistersPerAddress=3) as server:
        box = TestBox(server, SSID, STRANGER)
        answers = [box.request("wtv-1800:/preregister") for _ in range(4)]
        assert [a.status for a in answers] == [200, 200, 200, 403]
        assert answers[-1].reason == ("Too many logins from your connection. "
                                      "Please wait 10 minutes and try again.")
        assert TestBox(server).request("wtv-1800:/preregister").status == 200


def test_a_strangers_reports_under_a_boxs_ssid_leave_the_boxs_own(tmp_path):
    """Issue 12, item 17: 50 reports under a victim's SSID removed all of its own."""
    with inProcessServer(tmp_path / "data", logsPerSSID=3) as server:
        box = loggedIn(server)
        for n in range(3):
            assert box.request("wtv-log:/log", body=b"own %d" % n, secure=True).status == 200
        stranger = TestBox(server, SSID, STRANGER)
        for _ in range(50):
            stranger.request("wtv-log:/log", body=b"forged")
        kept = server.logs.list(ssid=SSID)
        own = [server.logs.get(e.id).body for e in kept if e.sender is None]
        assert sorted(own) == [b"own 0", b"own 1", b"own 2"]
        assert {e.sender for e in kept if e.sender is not None} == {STRANGER}


def test_a_reports_kind_reaches_the_log_cleaned(tmp_path, events):
    """Issue 12, item 17: type= reached the server log raw (CR, ESC, NUL)."""
    with inProcessServer(tmp_path / "data") as server:
        box = TestBox(server)
        answer = box.request("wtv-log:/log?type=x%0d%1b[2K%00fake%20line", body=b"r")
        assert answer.status == 200
        [entry] = server.logs.list()
    [stored] = [formatEvent(e) for e in events if "stored" in e.get("log_format", "")]
    assert "x---2k-fake-line" in stored and entry.kind == "x---2k-fake-line"
    assert not any(c in stored for c in "\r\n\x1b\x00")
