"""
Password checks that are in flight together, on the real services in
process: the worker threads are held (L{HeldThreads}) so requests overlap
as they do on a busy server. Each limit must hold however many arrive at
once, and work whose box has gone must not be done (issue 12, items 7-8).
"""

from tests.harness import SSID, HeldThreads, TestBox, inProcessServer
from tests.test_abuse import ssidNumber
from wtvserv.passwords import hash_password
from wtvserv.workqueue import defaultConcurrency

PASSWORD = hash_password("secret1")
INCORRECT = "The password you entered was incorrect. Please retype it and try again."
#: Checks the server runs at once (one per worker thread).
AT_ONCE = defaultConcurrency()


def atPasswordPage(server, ssid=SSID, address="127.0.0.1") -> TestBox:
    box = TestBox(server, ssid, address)
    assert b"password" in box.login().body, "the password page"
    return box


class Sent:
    """A password a box sent; its answer is read once it is there."""

    def __init__(self, box: TestBox, password: bytes) -> None:
        self.box = box
        self.connection = box.send("wtv-head-waiter:/ValidateLogin", secure=True,
                                   body=b"user_id=0&password=" + password)
        self.answer = None

    def read(self):
        if self.answer is None and self.connection.transport.value()[self.connection._read:]:
            self.answer = self.box.receive(self.connection)
        return self.answer


def guessAtOnce(threads, boxes) -> tuple[list, list]:
    """
    Every box but the last sends a wrong password, the last the right one,
    all at once. @return: the answers given at once, and all answers.
    """
    sent = [Sent(box, b"guess%d" % n) for n, box in enumerate(boxes[:-1])]
    sent.append(Sent(boxes[-1], b"secret1"))
    atOnce = [s.read() for s in sent if s.read() is not None]
    threads.runAll()
    return atOnce, [s.read() for s in sent]


def test_thirty_simultaneous_guesses_make_one_check_and_the_last_right_one_gets_nowhere(tmp_path):
    """Item 7: 30 at once with the right one last logged in (29 checks against a limit of 5)."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads,
                         exemptAddresses=["127.0.0.0/8"]) as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", PASSWORD)
        boxes = [atPasswordPage(server) for _ in range(30)]
        refused, answers = guessAtOnce(threads, boxes)
        assert threads.ran == 1, "one check in flight per SSID"
        assert len(refused) == 29
        assert {r.status for r in refused} == {403}
        assert all("being checked" in r.reason for r in refused)
        assert not any(a.get("wtv-ticket") for a in answers)


def test_three_hundred_guesses_from_ten_addresses_stay_within_the_limits(tmp_path):
    """Item 7: 300 from 10 addresses also got in."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads) as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", PASSWORD)
        boxes = [atPasswordPage(server, address=f"192.0.2.{n % 10}") for n in range(30)]
        answers = []
        for _ in range(10):
            answers += guessAtOnce(threads, boxes)[1]
        assert threads.ran <= server.config.loginAttempts * 10
        assert not any(a.get("wtv-ticket") for a in answers)
        owner = Sent(atPasswordPage(server, address="203.0.113.1"), b"secret1")
        threads.runAll()
        assert owner.read().status == 200, "the box itself is not locked out"


def test_a_check_is_counted_before_it_runs_and_refunded_when_right(tmp_path):
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads, loginAttempts=2) as server:
        server.accounts.createAccount(SSID, "Ann", "annpw", PASSWORD)
        box = atPasswordPage(server)
        wrong = Sent(box, b"wrong")
        assert wrong.read() is None, "in flight"
        meanwhile = Sent(atPasswordPage(server, address="192.0.2.1"), b"secret1")
        assert "being checked" in meanwhile.read().reason, "one check per SSID"
        threads.runAll()
        assert wrong.read().reason == INCORRECT
        for _ in range(3):      # right passwords give back what they reserved
            right = Sent(atPasswordPage(server), b"secret1")
            threads.runAll()
            assert right.read().status == 200
        last = Sent(atPasswordPage(server), b"wrong")
        threads.runAll()
        assert last.read().reason == INCORRECT, "the right ones cleared the count"


def passwordBoxes(server, count: int) -> list[TestBox]:
    """C{count} boxes of their own SSIDs and addresses, at their password pages."""
    boxes = []
    for n in range(count):
        ssid = ssidNumber(n)
        server.accounts.createAccount(ssid, "Ann", f"ann{n}", PASSWORD)
        boxes.append(atPasswordPage(server, ssid, f"192.0.2.{n}"))
    return boxes


def test_a_full_queue_of_checks_answers_503_at_once(tmp_path):
    """Item 8: the queue was unbounded (2,400 guesses cost 63 CPU-seconds)."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads, passwordQueue=2) as server:
        sent = [Sent(box, b"guess") for box in passwordBoxes(server, AT_ONCE + 4)]
        full = [s.read() for s in sent if s.read() is not None]
        assert [r.status for r in full] == [503, 503]
        assert full[0].reason == "The service is busy. Please try again in a minute."
        threads.runAll()
        assert threads.ran == AT_ONCE + 2
        assert [s.read().reason for s in sent[:AT_ONCE + 2]] == [INCORRECT] * (AT_ONCE + 2)


def test_a_check_whose_box_hung_up_is_not_made(tmp_path):
    """Item 8: checks whose connection closed kept running."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads) as server:
        sent = [Sent(box, b"guess") for box in passwordBoxes(server, AT_ONCE + 2)]
        sent[-1].connection.hangUp()
        threads.runAll()
        assert threads.ran == AT_ONCE + 1
        assert sent[-2].read().reason == INCORRECT
        gone = sent[-1].box
        again = Sent(atPasswordPage(server, gone.ssid, gone.address), b"secret1")
        threads.runAll()
        assert again.read().status == 200, "the box that hung up may try again at once"


def test_a_check_that_timed_out_is_dropped_without_a_traceback(tmp_path, events):
    """Item 8: an honest login got a 500 after 60 s, and 236 tracebacks were logged."""
    threads = HeldThreads()
    with inProcessServer(tmp_path / "data", workers=threads) as server:
        sent = [Sent(box, b"guess") for box in passwordBoxes(server, AT_ONCE + 1)]
        server.reactor.advance(server.config.handlerTimeout + 1)
        assert [s.read().status for s in sent] == [500] * (AT_ONCE + 1)
        threads.runAll()
        assert threads.ran == AT_ONCE, "the waiting check was dropped; running ones finish"
    assert not [e for e in events if e.get("log_failure") is not None]
