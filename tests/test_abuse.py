"""
Boxes that lie or overdo it, against the real services in process: a
stranger claiming a logged-in box's SSID, and the per-address limits on
logins, sign-ups and reports. Every refusal is a WTVP status the box shows.
"""

import pytest

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
    assert box.request("wtv-head-waiter:/reconnect").get("wtv-user-name")


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


def test_a_password_lockout_counts_per_ssid_whatever_the_address(server):
    server.accounts.createAccount(SSID, "Ann", "annpw", hash_password("secret1"))
    for n in range(5):
        box = TestBox(server, SSID, f"192.0.2.{n}")
        box.login()
        answer = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=guess")
    assert "Too many" in answer.reason
    box = TestBox(server, SSID, "192.0.2.77")
    box.request("wtv-1800:/preregister")
    assert box.request("wtv-head-waiter:/login?").status == 403
