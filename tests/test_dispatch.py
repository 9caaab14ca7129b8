"""
The reactor's turns as L{wtvserv.dispatch} runs them, on real sockets
through a private epoll reactor turned by the test: every event still
reaches its descriptor, errors are logged and the turn goes on, and what
is left for the end of a turn runs in that turn, after all its events,
with no wake-up. These tests fail if a Twisted upgrade changes the
internals the module relies on.
"""

from __future__ import annotations

import socket
import threading

import pytest
from twisted.internet import protocol
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone
from twisted.internet.selectreactor import SelectReactor
from twisted.python.failure import Failure

from tests.test_protocol import RecordingService
from tests.test_sendnow import bodies, get, listen, receive
from wtvserv.dispatch import Dispatcher

TURNS = 2000


@pytest.fixture
def reactor():
    reactor = EPollReactor()
    yield reactor
    for selectable in reactor.removeAll():
        selectable.connectionLost(Failure(ConnectionDone()))
    reactor._poller.close()


@pytest.fixture
def dispatcher(reactor):
    dispatcher = Dispatcher(reactor)
    assert dispatcher.install()
    # What tests.test_sendnow.receive turns the reactor with.
    reactor.turnUntil = lambda condition: _turnUntil(reactor, condition)
    return dispatcher


def _turnUntil(reactor, condition) -> None:
    for _ in range(TURNS):
        if condition():
            return
        reactor.iterate(0.01)
    raise AssertionError("the reactor never got there")


class Recorder(protocol.Protocol):
    """Records what it receives in C{log}; C{onData} is called with each chunk."""

    def __init__(self, log: list, onData=None) -> None:
        self.log = log
        self.onData = onData

    def dataReceived(self, data: bytes) -> None:
        self.log.append(("data", data))
        if self.onData is not None:
            self.onData(data)


def served(reactor, log: list, accepted: list, onData=None) -> int:
    """
    Listen with a factory of L{Recorder}s into C{log}, each appended to
    C{accepted}; @return: the port.
    """
    def build(address):
        accepted.append(Recorder(log, onData))
        return accepted[-1]
    factory = protocol.Factory()
    factory.buildProtocol = build
    return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port


def connected(reactor, port: int, count: int, accepted: list) -> list[socket.socket]:
    """C{count} sockets connected to C{port}, once the server has accepted them all."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    _turnUntil(reactor, lambda: len(accepted) == count)
    return socks


def failures(events) -> list[tuple[type, str]]:
    """The exception type and C{system} of each failure logged (legacy C{log.err} events)."""
    return [(event["failure"].type, event.get("system")) for event in events if "failure" in event]


def test_only_twisteds_own_epoll_reactor_is_dispatched():
    epoll, select = EPollReactor(), SelectReactor()
    try:
        dispatcher = Dispatcher(epoll)
        assert dispatcher.install() and epoll.doIteration == dispatcher._turn

        other = Dispatcher(select)
        assert not other.install() and select.doIteration == SelectReactor.doIteration.__get__(select)
        called = []
        other.afterEvents(lambda: called.append(1))
        assert len(select.threadCallQueue) == 1 and called == []    # callFromThread, as before
    finally:
        epoll._poller.close()
        select.removeAll()


def test_a_wtvp_box_is_answered_through_the_dispatched_reactor(reactor, dispatcher):
    served_, port = listen(reactor, RecordingService())
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setblocking(False)
        sock.send(get("/first") + get("/second"))
        assert bodies(receive(reactor, sock, 2)) == [b"<html>/first</html>",
                                                     b"<html>/second</html>"]


def test_what_a_turns_events_leave_runs_after_them_in_the_same_turn(reactor, dispatcher):
    """
    Two connections whose bytes arrive for one turn: both are read, then
    what each left for the end of the turn runs, in order, before the turn
    returns, and the reactor was not woken up for it.
    """
    log, accepted = [], []

    port = served(reactor, log, accepted, lambda data: dispatcher.afterEvents(
        lambda: log.append(("after", data))))
    first, second = connected(reactor, port, 2, accepted)
    try:
        first.send(b"one")
        second.send(b"two")
        reactor.doIteration(0.5)        # both sockets are readable: one poll returns both
        assert sorted(log[:2]) == [("data", b"one"), ("data", b"two")]
        assert log[2:] == [("after", data) for _, data in log[:2]]
        assert reactor.threadCallQueue == []
        assert dispatcher._after == []
    finally:
        first.close()
        second.close()


def test_outside_a_turns_events_it_is_call_from_thread(reactor, dispatcher):
    """A timer's or another thread's work waits for the reactor's next turn, which it wakes."""
    ran = []
    dispatcher.afterEvents(lambda: ran.append("direct"))
    assert len(reactor.threadCallQueue) == 1

    log, accepted = [], []

    def fromAnotherThread(data):
        thread = threading.Thread(target=dispatcher.afterEvents,
                                  args=(lambda: ran.append("thread"),))
        thread.start()
        thread.join()
    port = served(reactor, log, accepted, fromAnotherThread)
    [sock] = connected(reactor, port, 1, accepted)
    try:
        sock.send(b"x")
        _turnUntil(reactor, lambda: log)
        assert len(reactor.threadCallQueue) >= 1 and dispatcher._after == []
        _turnUntil(reactor, lambda: "thread" in ran)
        assert ran == ["direct", "thread"]
    finally:
        sock.close()


def test_a_descriptor_that_raises_is_dropped_and_the_turn_goes_on(reactor, dispatcher, events):
    """
    Twisted's own handling of a read that raises: the error is logged and
    the connection lost; the other connection of the turn is still read.
    """
    log, accepted = [], []

    def boom(data):
        if data == b"boom":
            raise ValueError("a buggy protocol")
    port = served(reactor, log, accepted, boom)
    first, second = connected(reactor, port, 2, accepted)
    try:
        first.send(b"boom")
        second.send(b"fine")
        _turnUntil(reactor, lambda: len(log) == 2)
        _turnUntil(reactor, lambda: any(recorder.transport.disconnected for recorder in accepted))
        assert sorted(log) == [("data", b"boom"), ("data", b"fine")]
        assert [kind for kind, _ in failures(events)] == [ValueError]
        assert sum(recorder.transport.disconnected for recorder in accepted) == 1
    finally:
        first.close()
        second.close()


def test_an_error_past_twisteds_handling_is_logged_with_the_descriptors_prefix(
        reactor, dispatcher, events):
    """What C{log.callWithLogger} did for an exception out of C{_doReadOrWrite}."""
    class Raising:
        def fileno(self):
            return reading.fileno()

        def doRead(self):
            return ConnectionDone()

        def connectionLost(self, reason):
            raise RuntimeError("lost badly")

        def logPrefix(self):
            return "Raising,7"

    reading, writing = socket.socketpair()
    try:
        reactor.addReader(Raising())
        writing.send(b"x")
        reactor.doIteration(0.5)        # returns: the error did not escape the turn
        assert failures(events) == [(RuntimeError, "Raising,7")]
    finally:
        reading.close()
        writing.close()


def test_work_left_for_the_end_that_fails_is_logged_and_the_rest_runs(reactor, dispatcher, events):
    log, accepted = [], []

    def leave(data):
        dispatcher.afterEvents(lambda: 1 / 0)
        dispatcher.afterEvents(lambda: log.append("second"))
    port = served(reactor, log, accepted, leave)
    [sock] = connected(reactor, port, 1, accepted)
    try:
        sock.send(b"x")
        _turnUntil(reactor, lambda: "second" in log)
        assert [kind for kind, _ in failures(events)] == [ZeroDivisionError]
    finally:
        sock.close()
