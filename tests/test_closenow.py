"""
Connections closed in the turn that decides it (L{wtvserv.closenow}), on
real sockets through the private epoll reactor of L{tests.test_sendnow}:
a box's FIN closes the server's side without C{shutdown(2)}, an answer
that hangs up closes at once once it is sent, and everything else
(a close with bytes still buffered, UNIX sockets) keeps Twisted's way;
and the peer a connection reads from tcp.Server's own C{client}.
These tests fail if a Twisted upgrade changes the internals the module
relies on.
"""

from __future__ import annotations

import socket

from twisted.internet import tcp
from twisted.internet.interfaces import IHalfCloseableProtocol

from tests.test_protocol import RecordingService
from tests.test_sendnow import (  # noqa: F401
    answeredOverUNIX, bodies, box, get, listen, reactor, receive)
from wtvserv.wire import Response


def readToEnd(reactor, sock) -> bytes:
    """Turn the reactor until the server closed C{sock}; @return: all it sent (a reset raises)."""
    data = b""
    ended = False

    def closed() -> bool:
        nonlocal data, ended
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False
        data += chunk
        ended = not chunk
        return ended
    reactor.turnUntil(closed)
    return data


class RecordingSocket:
    """Stands in for a socket: records what L{tcp._SocketCloser} calls."""

    def __init__(self) -> None:
        self.calls = []

    def shutdown(self, how) -> None:
        self.calls.append("shutdown")

    def close(self) -> None:
        self.calls.append("close")


def test_the_protocol_is_handed_the_boxs_fin():
    """What makes tcp.Connection.readConnectionLost call L{closenow.afterPeer}."""
    from wtvserv.protocol import WTVPProtocol
    assert IHalfCloseableProtocol.implementedBy(WTVPProtocol)


def test_twisted_skips_shutdown_when_told_to():
    closer = tcp.Server.__new__(tcp.Server)
    closer.socket = RecordingSocket()
    closer._shouldShutdown = False
    closer._closeSocket(True)
    assert closer.socket.calls == ["close"]
    closer = tcp.Server.__new__(tcp.Server)
    closer.socket = RecordingSocket()
    closer._closeSocket(True)
    assert closer.socket.calls == ["shutdown", "close"], "Twisted's default, kept otherwise"


def test_a_box_that_hangs_up_is_closed_without_shutdown(reactor):
    served, port = listen(reactor, RecordingService())
    sock = box(port)
    sock.send(get("/one"))
    assert bodies(receive(reactor, sock, 1)) == [b"<html>/one</html>"]
    transport = served.transport()
    sock.shutdown(socket.SHUT_WR)
    reactor.turnUntil(lambda: not served.factory.connections)
    assert transport.disconnected and transport._shouldShutdown is False
    assert transport not in reactor.getReaders() + reactor.getWriters()
    assert readToEnd(reactor, sock) == b"", "an orderly FIN, not a reset"
    sock.close()


def test_an_answer_that_hangs_up_closes_in_the_same_turn(reactor):
    service = RecordingService([Response(body=b"bye", close=True)])
    served, port = listen(reactor, service)
    with box(port) as sock:
        sock.send(get("/last"))
        reactor.turnUntil(lambda: service.requests)
        transport = served.transport()
        assert transport.disconnected and not served.factory.connections
        assert transport not in reactor.writeWatched
        assert transport._shouldShutdown, "the box may still be sending: shut down first"
        [protocol] = served.protocols
        assert protocol._writeCall is None, "no write timer for a connection already closed"
        assert readToEnd(reactor, sock).endswith(b"bye")


def test_an_answer_that_hangs_up_with_bytes_buffered_waits_for_them(reactor):
    big = bytes(range(256)) * 4096               # 1 MiB: past what the sockets hold
    service = RecordingService([Response(body=big, close=True)])
    served, port = listen(reactor, service)
    with box(port, receiveBuffer=16 * 1024) as sock:
        sock.send(get("/big"))
        reactor.turnUntil(lambda: service.requests)
        transport = served.transport()
        assert not transport.disconnected and transport.disconnecting
        assert served.protocols[0]._writeCall is not None, "timed while the box takes it"
        assert readToEnd(reactor, sock).endswith(big)


def test_a_unix_socket_peer_hanging_up_keeps_twisteds_close(reactor, tmp_path):
    served, sock = answeredOverUNIX(reactor, tmp_path)
    with sock:
        sock.shutdown(socket.SHUT_WR)
        reactor.turnUntil(lambda: not served.factory.connections)
        transport = served.transport()
        assert transport.disconnected and transport._shouldShutdown
        assert readToEnd(reactor, sock) == b""


def test_a_tcp_connections_peer_is_the_one_getpeer_gives(reactor):
    """L{wtvserv.protocol.peerOf} reads tcp.Server's C{client}: the same host and port."""
    from wtvserv.protocol import peerOf
    served, port = listen(reactor, RecordingService())
    with box(port) as sock:
        sock.send(get("/who"))
        receive(reactor, sock, 1)
        transport = served.transport()
        peer = transport.getPeer()
        assert peerOf(transport) == (peer.host, peer.port) == sock.getsockname()
        assert served.protocols[0]._peer == "%s:%d" % sock.getsockname()


def test_a_box_refused_on_connecting_gets_its_answer_then_the_close(reactor):
    """Closed from within connectionMade, while the listening port is still accepting."""
    served, port = listen(reactor, RecordingService(), maxConnections=0)
    with box(port) as sock:
        answer = readToEnd(reactor, sock)
    assert answer.startswith(b"503 ")
    assert served.transport().disconnected and not served.factory.connections
