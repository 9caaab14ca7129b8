"""
What the hosts share beyond accounts (issue 15 item 3), shown with two
real in-process servers on one real PostgreSQL database: wrong passwords,
so a lockout earned through one host's headwaiter holds on another's (and
a right password takes its count back), and the initial keys wtv-1800
offered, so the challenge can come from another host's headwaiter.
"""

from __future__ import annotations

from tests.harness import SSID, TestBox, countingRandom, inProcessServer
from wtvserv.passwords import hash_password

PASSWORD = "secret1"
LOCKED = "Too many failed login attempts."


def tryPassword(server, password: str):
    box = TestBox(server, SSID)
    assert b"password" in box.login().body, "the password page"
    return box.request("wtv-head-waiter:/ValidateLogin", secure=True,
                       body=b"user_id=0&password=" + password.encode())


def test_a_lockout_earned_on_one_host_holds_on_the_other(tmp_path, postgresURL):
    settings = dict(storageURL=postgresURL, loginAttempts=3)
    with inProcessServer(tmp_path / "first", **settings) as first, \
            inProcessServer(tmp_path / "second", random=countingRandom(10**6), **settings) as second:
        first.accounts.createAccount(SSID, "Ann", "annpw", hash_password(PASSWORD))
        right = tryPassword(second, PASSWORD)
        assert right.status == 200 and right.get("wtv-visit"), right.head
        for _ in range(3):
            assert tryPassword(first, "wrong").status == 403
        refused = tryPassword(second, PASSWORD)        # the right one, on the other host
        assert refused.status == 403 and refused.reason.startswith(LOCKED), refused.head


def test_a_right_password_takes_its_count_back(tmp_path, postgresURL):
    with inProcessServer(tmp_path / "data", storageURL=postgresURL, loginAttempts=2) as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", hash_password(PASSWORD))
        shared, key = server.stores.shared, [("box", f"{SSID} 127.0.0.1", 1)]
        for _ in range(5):                                 # more than the limit, all right
            assert tryPassword(server, PASSWORD).status == 200
        wait, counted = shared.reserveFailures(key, 600)
        assert wait == 0                                   # none of them still counts ...
        shared.refund(counted)
        wrong = tryPassword(server, "wrong")
        assert wrong.status == 403 and not wrong.reason.startswith(LOCKED)
        assert shared.reserveFailures(key, 600)[0] > 0     # ... and a wrong one does


def test_wtv_1800_on_one_host_and_the_headwaiter_on_another_work_together(tmp_path, postgresURL):
    """The key one host's wtv-1800 offered is the one the other's headwaiter challenges with."""
    with inProcessServer(tmp_path / "first", storageURL=postgresURL) as first, \
            inProcessServer(tmp_path / "second", storageURL=postgresURL,
                            random=countingRandom(10**6)) as second:
        first.accounts.createAccount(SSID, "Ann", "annpw", None)
        box = TestBox(first, SSID)
        assert box.request("wtv-1800:/preregister?scriptless-visit-reason=10&0").status == 200
        box.server, box._connections = second, {}      # the headwaiter is on the other host
        login = box.request("wtv-head-waiter:/login?")
        assert login.get("wtv-challenge"), login.head
        answered = box.request(login.get("wtv-visit"), box.answer())
        assert answered.status == 200 and answered.get("wtv-ticket"), answered.head
        # The shared offer outlives its answer: the box's newer ticket now names its key.
        again = box.request("wtv-head-waiter:/login?new_registration=1")
        assert again.get("wtv-challenge") and box.pendingResponse, again.head
