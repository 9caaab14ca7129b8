"""
Sign-up limits that hold however many arrive at once, and that strangers
cannot use to close sign-up for everyone (issue 12, items 9 and 14), on the
real services in process with the worker threads held (L{HeldThreads}).
"""

from tests.harness import HeldThreads, TestBox, inProcessServer
from tests.test_abuse import ssidNumber

FORM = "subscriber_name=Al&subscriber_username={}&subscriber_password=secret1&agreement=yes"


def signingUp(server, n: int, address: str, username: str | None = None):
    """A box at the sign-up form; @return: the connection its sign-up was sent on."""
    box = TestBox(server, ssidNumber(n), address)
    box.login()
    for connection in list(box._connections.values()):
        connection.hangUp()         # the box is done with wtv-1800 and the head-waiter
    body = FORM.format(username or f"al{n:04d}").encode()
    return box, box.send("wtv-register:/ValidateRegistration", secure=True, body=body)


def accounts(server, count: int) -> int:
    return sum(server.accounts.accountFor(ssidNumber(n)) is not None for n in range(count))


def test_simultaneous_sign_ups_from_one_address_stay_within_its_limit(tmp_path):
    """Item 9: 24 simultaneous sign-ups from one address made 24 accounts (limit 10 an hour)."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads) as server:
        sent = [signingUp(server, n, "192.0.2.1") for n in range(24)]
        refused = [box.receive(c) for box, c in sent if c.transport.value()[c._read:]]
        threads.runAll()
        assert accounts(server, 24) == server.config.registrationsPerAddress == 10
        assert len(refused) == 14 and {r.status for r in refused} == {403}
        assert "Too many accounts were made from your connection" in refused[0].reason


def test_a_sign_up_that_fails_gives_its_place_back(tmp_path):
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads, registrationsPerAddress=2) as server:
        sent = [signingUp(server, n, "192.0.2.1", username="samename") for n in range(2)]
        threads.runAll()
        answers = [box.receive(c) for box, c in sent]
        assert accounts(server, 2) == 1
        assert b"taken" in answers[1].body
        box, late = signingUp(server, 5, "192.0.2.1")
        threads.runAll()
        assert box.receive(late).status == 200, "the failed one did not use up a place"


def test_sign_ups_are_limited_in_all(tmp_path):
    """Item 14: strangers filled [accounts] max_total at 608-743 sign-ups/s."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads, registrationsTotal=3) as server:
        sent = [signingUp(server, n, f"192.0.2.{n}") for n in range(5)]
        threads.runAll()
        answers = [box.receive(c) for box, c in sent]
        assert [a.status for a in answers] == [200, 200, 200, 403, 403]
        assert answers[-1].reason == ("Many boxes are signing up right now. "
                                      "Please wait 60 minutes and try again.")
        server.reactor.advance(3601)
        box, later = signingUp(server, 9, "192.0.2.9")
        threads.runAll()
        assert box.receive(later).status == 200


def test_an_account_that_never_logs_in_expires_after_the_grace(tmp_path, events):
    """Item 14: accounts made and never used held their place in max_total for ever."""
    with inProcessServer(tmp_path / "data", unconfirmedGrace=3600) as server:
        # The store stamps accounts with its own clock; make it the test's.
        server.accounts._clock = server.reactor.seconds
        idle, sent = signingUp(server, 1, "192.0.2.1")
        assert idle.receive(sent).status == 200
        used, sent = signingUp(server, 2, "192.0.2.2")
        assert used.receive(sent).status == 200
        used.login()
        right = used.request("wtv-head-waiter:/ValidateLogin", secure=True,
                             body=b"user_id=0&password=secret1")
        final = used.request(right.get("wtv-visit"), secure=True)
        assert final.get("wtv-user-name") == "al0002", "the new account's first login"
        server.reactor.advance(3600 + 360)
        assert server.accounts.accountFor(ssidNumber(1)) is None
        assert server.accounts.accountFor(ssidNumber(2)) is not None
        assert not server.accounts.usernameTaken("al0001")
    assert any("did not complete a login" in e.get("log_format", "") for e in events)


def test_a_sweep_that_cannot_reach_the_store_waits_for_the_next(tmp_path, events):
    with inProcessServer(tmp_path / "data", unconfirmedGrace=600) as server:
        server.accounts.close()         # as while the server shuts down
        server.reactor.advance(60)
        server.reactor.advance(60)
    swept = [e for e in events if "not swept" in e.get("log_format", "")]
    assert len(swept) == 2 and not [e for e in events if e.get("log_failure")]
