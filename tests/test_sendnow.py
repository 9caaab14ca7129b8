"""
Answers sent as they are written (L{wtvserv.sendnow}), on real sockets
through a private epoll reactor turned by the test: an answer that fits
goes out without the socket being watched for writing, and everything
Twisted does around a full buffer, a slow box, a box gone and UNIX
sockets stays as it was. These tests fail if a Twisted upgrade changes
the internals the module relies on.
"""

from __future__ import annotations

import socket
import struct

import pytest
from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from tests.test_protocol import RecordingService, readResponses
from wtvserv.protocol import Timeouts, WTVPFactory
from wtvserv.sessions import SessionKeyRegistry
from wtvserv.tickets import TicketAuthority
from wtvserv.wire import Response

TURNS = 2000        # at most this many reactor turns waiting for anything


class WatchedReactor(EPollReactor):
    """An epoll reactor that remembers which descriptors it was told to watch for writing."""

    def __init__(self) -> None:
        super().__init__()
        self.writeWatched: list = []

    def addWriter(self, writer) -> None:
        self.writeWatched.append(writer)
        super().addWriter(writer)

    def turnUntil(self, condition) -> None:
        for _ in range(TURNS):
            if condition():
                return
            self.iterate(0.01)
        raise AssertionError("the reactor never got there")


@pytest.fixture
def reactor():
    reactor = WatchedReactor()
    yield reactor
    for selectable in reactor.removeAll():
        selectable.connectionLost(Failure(ConnectionDone()))
    reactor._poller.close()


class Served:
    """A WTVP factory on C{reactor}, and the server side of its connections."""

    def __init__(self, reactor, service, **kwargs) -> None:
        self.factory = WTVPFactory(service, TicketAuthority(b"s" * 32, reactor),
                                   SessionKeyRegistry(reactor), reactor, **kwargs)
        self.protocols = []
        build = self.factory.buildProtocol

        def buildProtocol(address):
            protocol = build(address)
            self.protocols.append(protocol)
            return protocol
        self.factory.buildProtocol = buildProtocol

    def transport(self):
        """The transport of its one connection."""
        [protocol] = self.protocols
        return protocol.transport


def listen(reactor, service, **kwargs) -> tuple[Served, int]:
    served = Served(reactor, service, **kwargs)
    port = reactor.listenTCP(0, served.factory, interface="127.0.0.1")
    return served, port.getHost().port


def box(port: int, receiveBuffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receiveBuffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def receive(reactor, sock, answers: int, chunk: int = 65536) -> list[tuple[str, bytes]]:
    """Turn the reactor and read (C{chunk} bytes a turn) until C{answers} answers came."""
    data = b""

    def arrived() -> bool:
        nonlocal data
        try:
            data += sock.recv(chunk)
        except BlockingIOError:
            pass
        try:
            return len(readResponses(data)) >= answers
        except (ValueError, IndexError):
            return False            # an answer still arriving
    reactor.turnUntil(arrived)
    return readResponses(data)


def bodies(answers: list[tuple[str, bytes]]) -> list[bytes]:
    assert all(head.startswith("200 OK\n") for head, _ in answers)
    return [body for _, body in answers]


def get(path: str) -> bytes:
    return f"GET wtv-test:{path}\r\n\r\n".encode()


def test_an_answer_that_fits_goes_out_without_watching_for_writing(reactor):
    served, port = listen(reactor, RecordingService())
    with box(port) as sock:
        sock.send(get("/first") + get("/second"))
        assert bodies(receive(reactor, sock, 2)) == [b"<html>/first</html>",
                                                     b"<html>/second</html>"]
        assert type(served.transport()) is tcp.Server
        assert served.transport() not in reactor.writeWatched


def test_an_answer_larger_than_the_socket_buffer_reaches_a_slow_box_whole_and_in_order(reactor):
    big = bytes(range(256)) * 4096               # 1 MiB: past a send (128 KiB) and the box
    service = RecordingService([Response(body=big), Response(body=b"after")])
    served, port = listen(reactor, service)
    with box(port, receiveBuffer=16 * 1024) as sock:
        sock.send(get("/big") + get("/small"))
        assert bodies(receive(reactor, sock, 2, chunk=16384)) == [big, b"after"]
        assert served.transport() in reactor.writeWatched, "the rest went the buffered way"


def test_answers_written_while_the_buffer_holds_some_wait_behind_it(reactor):
    big = b"x" * (1024 * 1024)
    service = RecordingService([Response(body=big)])
    served, port = listen(reactor, service)
    with box(port, receiveBuffer=16 * 1024) as sock:
        sock.send(b"".join(get(f"/{n}") for n in range(20)))
        assert bodies(receive(reactor, sock, 20)) == [big] + [
            f"<html>/{n}</html>".encode() for n in range(1, 20)]


def test_a_box_that_never_reads_is_paused_then_aborted(reactor, events):
    timeouts = Timeouts(write=0.3, minBodyRate=10 ** 9)
    service = RecordingService([Response(body=b"x" * 100_000)] * 1000)
    served, port = listen(reactor, service, timeouts=timeouts)
    with box(port, receiveBuffer=16 * 1024) as sock:
        sock.send(b"".join(get(f"/{n}") for n in range(1000)))
        reactor.turnUntil(lambda: served.protocols and served.protocols[0]._writePaused)
        assert len(service.requests) < 1000, "answering stopped with the buffer full"
        reactor.turnUntil(lambda: not served.factory.connections)
    assert any("did not take its answers in time" in event.get("log_format", "")
               for event in events)


def test_a_box_that_hung_up_before_its_answer_is_let_go_quietly(reactor, events):
    later = Deferred()
    served, port = listen(reactor, RecordingService([later]))
    sock = box(port)
    sock.send(get("/slow"))
    reactor.turnUntil(lambda: served.protocols and served.protocols[0]._busy)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()                                 # a reset, not yet read by the server
    later.callback(Response(body=b"x" * 200_000))
    reactor.turnUntil(lambda: not served.factory.connections)
    assert not any(event.get("log_failure") for event in events)


def answeredOverUNIX(reactor, tmp_path) -> tuple[Served, socket.socket]:
    """
    A server on a UNIX socket, and a box connected to it that asked for
    C{/local} and has its answer (the caller closes the box's socket).
    """
    served = Served(reactor, RecordingService())
    path = str(tmp_path / "wtv.sock")
    reactor.listenUNIX(path, served.factory)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.setblocking(False)
    sock.send(get("/local"))
    assert bodies(receive(reactor, sock, 1)) == [b"<html>/local</html>"]
    return served, sock


def test_a_unix_socket_connection_keeps_the_buffered_way(reactor, tmp_path):
    served, sock = answeredOverUNIX(reactor, tmp_path)
    sock.close()
    assert served.transport() in reactor.writeWatched
