"""
No store call runs on the reactor thread: every account and log lookup a
service makes is handed to the store's thread pool, and the answer goes out
only once that work is done. A pool that queues its work (rather than
running it) shows it: nothing reaches the database, and no answer the box,
until the queue is run.
"""

from __future__ import annotations

import threading

from tests.harness import SSID, ImmediateThreads, TestBox, TestReactor
from wtvserv.config import Config
from wtvserv.discovery import discoverPlugins
from wtvserv.server import WTVServer


class QueuedThreads(ImmediateThreads):
    """A thread pool that holds its work until L{run} is called."""

    def __init__(self) -> None:
        self.queue = []

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        self.queue.append((onResult, function, args, kwargs))

    def run(self) -> int:
        ran = 0
        while self.queue:
            onResult, function, args, kwargs = self.queue.pop(0)
            super().callInThreadWithCallback(onResult, function, *args, **kwargs)
            ran += 1
        return ran


def makeQueuedServer(tmp_path, threads=None):
    """A server whose store calls go to C{threads} (by default L{QueuedThreads})."""
    reactor = TestReactor()
    reactor.advance(946684800)
    threads = threads or QueuedThreads()
    server = WTVServer(Config(dataDir=tmp_path), reactor, discoverPlugins()[0],
                       workers=ImmediateThreads(), storeThreads=threads)
    return server, threads


def test_a_log_report_is_stored_on_the_store_threads_not_the_reactor(tmp_path):
    server, threads = makeQueuedServer(tmp_path)
    try:
        box = TestBox(server)
        connection = box._open("wtv-log", secure=False)
        connection.protocol.dataReceived(
            b"POST wtv-log:/log?type=log\r\n" + box.identity().encode()
            + b"Content-length: 5\r\n\r\nhello")
        assert connection.received() == b""          # no answer yet ...
        assert server.logs.list() == []               # ... and nothing stored
        assert threads.run() >= 2                     # the account, then the report
        assert connection.received().startswith(b"200 OK")
        assert [entry.ssid for entry in server.logs.list()] == [SSID]
    finally:
        server.stores.close()


def test_pre_registration_reads_the_account_on_the_store_threads(tmp_path):
    server, threads = makeQueuedServer(tmp_path)
    try:
        server.accounts.createAccount(SSID, "Ann", "annie", None)
        connection = TestBox(server)._open("wtv-1800", secure=False)
        connection.protocol.dataReceived(
            b"GET wtv-1800:/preregister?reconnect=true\r\n" + TestBox(server).identity().encode()
            + b"\r\n")
        assert connection.received() == b""
        assert threads.run() == 1
        answer = connection.received()
        assert answer.startswith(b"200") and b"wtv-register" not in answer
    finally:
        server.stores.close()


class CountingThreads(ImmediateThreads):
    """A thread pool that runs work at once and counts it."""

    calls = 0

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        self.calls += 1
        super().callInThreadWithCallback(onResult, function, *args, **kwargs)


def countingCalls(box: TestBox, threads: CountingThreads):
    """@return: a list, and a C{box.request} that appends its store calls' count to it."""
    counts = []

    def counted(url, **options):
        before = threads.calls
        response = box.request(url, **options)
        counts.append(threads.calls - before)
        return response
    return counts, counted


def test_only_the_requests_that_need_the_account_look_it_up(tmp_path):
    """
    A registered power-on: the account is looked up on the two stage-two
    requests and the home page (the ticket, the user), never for the
    pre-registration, the challenge (its key was offered) or
    check-tellyscript; each lookup is one call to the store threads.
    """
    server, threads = makeQueuedServer(tmp_path, CountingThreads())
    try:
        server.accounts.createAccount(SSID, "Ann", "annie", None)
        server.accounts.confirm(SSID)      # logged in before (the first login confirms it)
        box = TestBox(server)
        counts, counted = countingCalls(box, threads)
        counted("wtv-1800:/preregister?scriptless-visit-reason=10&0")
        login = counted("wtv-head-waiter:/login?")
        answered = counted(login.get("wtv-visit"), extra=box.answer())
        final = counted(answered.get("wtv-visit"), secure=True)
        assert final.get("wtv-user-name") == "annie"
        check = counted("wtv-head-waiter:/check-tellyscript?next-url=wtv-home:/home",
                        secure=True)
        home = counted(check.get("wtv-visit"), secure=True)
        assert b"Hello, Ann!" in home.body
        assert counts == [0, 0, 1, 1, 0, 1]
    finally:
        server.stores.close()


def test_a_challenge_without_an_offered_key_looks_the_ticket_up(tmp_path):
    """
    Without an offer (it was answered), /login takes the DES key of the
    box's ticket, which only its account's current generation validates.
    """
    server, threads = makeQueuedServer(tmp_path, CountingThreads())
    try:
        server.accounts.createAccount(SSID, "Ann", "annie", None)
        box = TestBox(server)
        box.login()
        before = threads.calls
        login = box.request("wtv-head-waiter:/login?", fresh=True)
        assert threads.calls == before + 1 and login.get("wtv-challenge")
        server.accounts.bumpGeneration(SSID)           # logged out: the ticket counts no more
        login = box.request("wtv-head-waiter:/login?", fresh=True)
        assert login.get("wtv-challenge") is None
        assert login.get("wtv-visit").startswith("wtv-1800:/preregister")
    finally:
        server.stores.close()


def test_the_real_store_threads_are_not_the_reactors(tmp_path):
    """The default pool is real threads: a call made through it runs elsewhere."""
    server = WTVServer(Config(dataDir=tmp_path), TestReactor(), discoverPlugins()[0],
                       workers=ImmediateThreads())
    seen = []
    server.storeThreads.start()
    try:
        done = threading.Event()
        server.storeThreads.callInThread(lambda: (seen.append(threading.get_ident()),
                                                  done.set()))
        assert done.wait(10)
        assert seen and seen[0] != threading.get_ident()
        assert server.storeThreads.max == 1           # one SQLite connection, one thread
    finally:
        server.storeThreads.stop()
        server.stores.close()


def test_status_reads_generations_on_the_store_threads(tmp_path):
    """wtvserv status counts a box logged in only while its ticket's generation is current."""
    from twisted.trial.unittest import SynchronousTestCase

    from tests.harness import inProcessServer
    with inProcessServer(tmp_path / "data") as server:
        server.accounts.createAccount(SSID, "Ann", "annie", None)
        box = TestBox(server)
        assert box.login().status == 200
        box.request("wtv-home:/home", secure=True)        # a connection holding the ticket
        status = SynchronousTestCase().successResultOf(server.status())
        assert status["loggedIn"] == 1
        server.accounts.bumpGeneration(SSID)
        assert SynchronousTestCase().successResultOf(server.status())["loggedIn"] == 0


def test_store_threads_deliver_results_and_failures_and_finish_their_queue_on_stop():
    from twisted.python.failure import Failure

    from wtvserv.store.threads import StoreThreads
    threads = StoreThreads(2, "test-store")
    results = []
    done = threading.Event()

    def slow(n):
        done.wait(10)
        return n * 2
    threads.start()
    for n in range(5):
        threads.callInThreadWithCallback(lambda ok, result: results.append((ok, result)),
                                         slow, n)
    threads.callInThreadWithCallback(lambda ok, result: results.append((ok, result)),
                                     lambda: 1 // 0)
    done.set()
    threads.stop()                     # returns once every queued call has run
    assert sorted(result for ok, result in results if ok) == [0, 2, 4, 6, 8]
    failures = [result for ok, result in results if not ok]
    assert len(failures) == 1 and isinstance(failures[0], Failure)
    assert failures[0].check(ZeroDivisionError)
    assert not threads.started
    assert not [t for t in threading.enumerate() if t.name.startswith("test-store")]


def test_a_sign_up_makes_one_store_call_per_request_but_two_where_it_writes(tmp_path):
    """
    A fresh power-on, signing up without a password: each request that
    needs the account looks it up in one call; creating the account checks
    the user name and the store's count in its own transaction (no calls of
    their own before it), and the first completed login confirms it.
    """
    server, threads = makeQueuedServer(tmp_path, CountingThreads())
    try:
        box = TestBox(server)
        counts, counted = countingCalls(box, threads)
        counted("wtv-1800:/preregister?scriptless-visit-reason=10&0")
        login = counted("wtv-head-waiter:/login?")
        unregistered = counted(login.get("wtv-visit"), extra=box.answer())
        assert unregistered.get("wtv-visit") == "wtv-register:/splash?"
        counted("wtv-register:/splash?", secure=True)
        counted("wtv-register:/register?", secure=True)
        made = counted("wtv-register:/ValidateRegistration", secure=True,
                       body=b"subscriber_name=Ann&subscriber_username=annie&agreement=yes")
        assert made.get("wtv-visit") == "wtv-head-waiter:/login?new_registration=1"
        login = counted(made.get("wtv-visit"), secure=True)
        final = counted(login.get("wtv-visit"), extra=box.answer(), secure=True)
        assert final.get("wtv-user-name") == "annie"
        check = counted("wtv-head-waiter:/check-tellyscript?next-url=wtv-home:/home",
                        secure=True)
        home = counted(check.get("wtv-visit"), secure=True)
        assert b"Hello, Ann!" in home.body
        assert server.accounts.accountFor(SSID).confirmed is not None
        assert counts == [0, 0, 1, 1, 1, 2, 1, 2, 0, 1]
    finally:
        server.stores.close()


class HoldingReactor:
    """A reactor that holds what threads hand it until the test runs it."""

    def __init__(self) -> None:
        self.handed = []

    def callFromThread(self, function, *args, **kwargs):
        self.handed.append((function, args, kwargs))

    def runHanded(self) -> None:
        handed, self.handed = self.handed, []
        for function, args, kwargs in handed:
            function(*args, **kwargs)


def test_with_several_store_threads_each_call_is_a_job_of_its_own(tmp_path):
    """PostgreSQL's pool: a slow call holds up no other, so none waits for a batch."""
    from wtvserv.accounts import AccountStore
    from wtvserv.interfaces import IAccountStore
    from wtvserv.store.threaded import DeferredStore, StoreCalls

    store = AccountStore(tmp_path / "accounts.sqlite3")
    reactor, threads = HoldingReactor(), QueuedThreads()
    deferred = DeferredStore(store, IAccountStore, StoreCalls(reactor, threads, together=False))
    try:
        outcomes = []
        deferred.createAccount(SSID, "Ann", "annie", None).addBoth(outcomes.append)
        deferred.userCount().addBoth(outcomes.append)
        assert len(threads.queue) == 2 and reactor.handed == []
        assert threads.run() == 2
        reactor.runHanded()
        assert outcomes[0].primary.username == "annie" and outcomes[1] == 1
    finally:
        store.close()


def test_with_one_store_thread_the_calls_of_a_turn_go_over_as_one_job(tmp_path):
    """
    One store thread runs its calls in turn anyway: those made before the
    reactor's next turn are handed over together, run in the order made,
    and their results come back together; stopping hands over what waits.
    """
    from wtvserv.accounts import AccountExists, AccountStore
    from wtvserv.interfaces import IAccountStore
    from wtvserv.store.threaded import DeferredStore, StoreCalls

    store = AccountStore(tmp_path / "accounts.sqlite3")
    reactor, threads = HoldingReactor(), QueuedThreads()
    calls = StoreCalls(reactor, threads, together=True)
    deferred = DeferredStore(store, IAccountStore, calls)
    try:
        outcomes = []
        for call in (deferred.accountAndGeneration(SSID),
                     deferred.createAccount(SSID, "Ann", "annie", None),
                     deferred.createAccount(SSID, "Bob", "bobby", None),
                     deferred.userCount()):
            call.addBoth(outcomes.append)
        assert threads.queue == [] and len(reactor.handed) == 1     # the next turn's
        reactor.runHanded()
        assert threads.run() == 1 and outcomes == []                  # one job ...
        assert len(reactor.handed) == 1                               # ... one delivery
        reactor.runHanded()
        (none, generation), created, refused, count = outcomes
        assert none is None and generation == 0 and created.primary.username == "annie"
        assert refused.check(AccountExists) and count == 1
        deferred.userCount().addBoth(outcomes.append)
        calls.flush()                          # as the server does before its threads stop
        assert threads.run() == 1
        reactor.runHanded()
        assert outcomes[4:] == [1]
        reactor.runHanded()                    # the turn the call asked for: nothing left
        assert threads.queue == []
    finally:
        store.close()
