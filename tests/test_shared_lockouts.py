"""
Wrong passwords count in the shared database (issue 15 item 3): a lockout
earned through one host's headwaiter holds on another host's, as two real
in-process servers on one real PostgreSQL database show, and a right
password takes its count back.
"""

from __future__ import annotations

from tests.harness import SSID, TestBox, inProcessServer
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
            inProcessServer(tmp_path / "second", **settings) as second:
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
