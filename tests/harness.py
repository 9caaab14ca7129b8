"""
An in-process wtvserv for service tests: the real L{WTVServer} with real
SQLite stores in a temporary directory, its factories driven over
L{StringTransport}s, and a clock the test moves. Only the reactor is a
stand-in: time is a L{Clock}, and work sent to threads runs at once.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from base64 import b64decode
from hashlib import sha256
from pathlib import Path

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from wtvserv.config import Config
from wtvserv.crypto.challenge import answer_challenge
from wtvserv.crypto.rc4 import BoxStreams
from wtvserv.discovery import discoverPlugins
from wtvserv.server import WTVServer

SSID = "8112345600B0026b"
IDENTITY = {"wtv-client-rom-type": "US-LC2-disk-0MB-8MB", "wtv-system-version": "7181",
            "wtv-capability-flags": "10935ffc87", "wtv-client-bootrom-version": "2046"}


class ImmediateThreads:
    """A thread pool that runs work at once, on the caller's thread."""

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except BaseException as error:  # pragma: no cover - reported to onResult
            onResult(False, error)
        else:
            onResult(True, result)


class HeldThreads(ImmediateThreads):
    """
    A thread pool that holds work until the test runs it, so requests can
    be in flight together, as on a server whose threads are busy.
    """

    def __init__(self) -> None:
        self.held: list[tuple] = []
        self.ran = 0

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        self.held.append((onResult, function, args, kwargs))

    def runAll(self) -> None:
        """Run what is held, and what that lets in, until nothing is."""
        while self.held:
            held, self.held = self.held, []
            for call in held:
                self.ran += 1
                super().callInThreadWithCallback(*call[:2], *call[2], **call[3])


class TestReactor(Clock):
    """A L{Clock} that also delivers thread results at once."""

    __test__ = False

    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


def countingRandom(start: int = 0):
    """Deterministic, distinct random bytes (another C{start}: another sequence)."""
    counter = itertools.count(start)

    def random(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += sha256(str(next(counter)).encode()).digest()
        return out[:n]
    return random


def makeServer(dataDir: Path, workers=None, plugins=(), random=None,
               **settings) -> tuple[WTVServer, TestReactor]:
    """
    The built-in services and the services of C{plugins}, with C{settings}.

    @param random: the server's random bytes; by default L{countingRandom}'s,
        so two servers standing for two hosts need different ones.
    """
    reactor = TestReactor()
    reactor.advance(946684800)  # 2000-01-01
    config = Config(dataDir=Path(dataDir), **settings)
    return WTVServer(config, reactor, [*discoverPlugins()[0], *plugins],
                     random=random or countingRandom(), workers=workers or ImmediateThreads(),
                     storeThreads=ImmediateThreads()), reactor


@contextmanager
def inProcessServer(dataDir: Path, workers=None, plugins=(), random=None, **settings):
    """L{makeServer}, its C{reactor} the test's clock, its stores closed after."""
    server, reactor = makeServer(dataDir, workers, plugins=plugins, random=random, **settings)
    server.reactor = reactor
    try:
        yield server
    finally:
        server.stores.close()


class Response:
    def __init__(self, head: str, body: bytes) -> None:
        self.head = head
        self.body = body
        first, *lines = head.split("\n")
        self.status = int(first.split(" ")[0])
        self.reason = first.partition(" ")[2]
        self.headers = [tuple(line.split(": ", 1)) for line in lines]

    def get(self, name: str) -> str | None:
        values = self.getAll(name)
        return values[0] if values else None

    def getAll(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class TestBox:
    __test__ = False  # a helper, not a test class

    """
    Just enough of a box to drive the services: it keeps its DES key,
    session keys and ticket, and speaks plaintext or SECURE ON on kept-alive
    connections, one per service, as a box does (PROTOCOL.md 11.1): the
    identity headers go once per connection, on its first plain request or
    in its SECURE ON block, and later requests carry only their own.
    """

    def __init__(self, server: WTVServer, ssid: str = SSID, address: str = "127.0.0.1",
                 identity: dict[str, str] | None = None) -> None:
        """@param identity: identity headers to add to (or change in) L{IDENTITY}."""
        self.server = server
        self.ssid = ssid
        self.address = address
        self.extraIdentity = identity or {}
        self.key: bytes | None = None
        self.keys: tuple[bytes, bytes] | None = None
        self.ticket: str | None = None
        self.incarnation = 1
        self.pendingResponse: str | None = None
        self._connections: dict[str, _Connection] = {}

    def connect(self, service: str):
        factory = self.server.factories[service]
        kind = IPv6Address if ":" in self.address else IPv4Address
        peer = kind("TCP", self.address, 5555)
        protocol = factory.buildProtocol(peer)
        transport = StringTransport(peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    def identity(self, extra: dict[str, str] | None = None) -> str:
        """The once-per-connection headers, C{wtv-ticket} once the box has one."""
        values = {**IDENTITY, "wtv-client-serial-number": self.ssid, **self.extraIdentity,
                  **(extra or {})}
        if self.ticket and "wtv-ticket" not in values:
            values["wtv-ticket"] = self.ticket
        return _lines(values)

    def request(self, url: str, extra: dict[str, str] | None = None, body: bytes = b"",
                secure: bool = False, fresh: bool = False,
                identity: dict[str, str] | None = None) -> Response:
        """
        Send one request on the service's open connection, or a new one
        when there is none of that kind (or C{fresh} asks for it).

        @param extra: this request's own headers.
        @param identity: identity headers to change, for a new connection.
        """
        return self.receive(self.send(url, extra, body, secure, fresh, identity))

    def receive(self, connection: _Connection) -> Response:
        """The response the server has written on C{connection} since the last one."""
        return self._read(connection.received(), connection.streams)

    def send(self, url: str, extra: dict[str, str] | None = None, body: bytes = b"",
             secure: bool = False, fresh: bool = False,
             identity: dict[str, str] | None = None) -> _Connection:
        """L{request} without reading the answer: @return: the connection to read it on."""
        service = url.partition(":")[0]
        extra = dict(extra or {})
        method = "POST" if body else "GET"
        if body:
            extra["Content-length"] = str(len(body))
        connection = self._connections.get(service)
        if fresh or connection is None or not connection.usable(secure):
            connection = self._open(service, secure)
        request = f"{method} {url}\r\n".encode()
        if connection.streams is None:
            ownHeaders = {"wtv-incarnation": str(connection.incarnation), **extra}
            head = _lines(ownHeaders) + ("" if connection.used else self.identity(identity))
            data = request + head.encode() + b"\r\n" + body
        else:
            inner = request + _lines(extra).encode() + b"\r\n" + body
            data = connection.streams.encrypt(inner)
            if not connection.used:
                block = f"SECURE ON\r\n{self.identity(identity)}wtv-encryption: true\r\n" \
                        f"wtv-incarnation: {connection.incarnation}\r\n\r\n"
                data = block.encode() + data
        connection.used = True
        connection.protocol.dataReceived(data)
        return connection

    def _open(self, service: str, secure: bool) -> _Connection:
        self.incarnation += 1
        streams = BoxStreams(*self.keys, self.incarnation) if secure else None
        connection = _Connection(*self.connect(service), streams, self.incarnation)
        self._connections[service] = connection
        return connection

    def _read(self, data: bytes, streams: BoxStreams | None) -> Response:
        head, _, body = data.partition(b"\n\n")
        response = Response(head.decode("latin-1"), body)
        if streams is not None and body:
            response.body = streams.decrypt(body)
        self._learn(response)
        return response

    def _learn(self, response: Response) -> None:
        if response.get("wtv-initial-key"):
            self.key = b64decode(response.get("wtv-initial-key"))
        if response.get("wtv-ticket"):
            self.ticket = response.get("wtv-ticket")
        challenge = response.get("wtv-challenge")
        if challenge:
            answered = answer_challenge(self.key, challenge)
            self.key = answered.new_key
            self.keys = (answered.key1, answered.key2)
            self.pendingResponse = answered.response_b64

    def answer(self) -> dict[str, str]:
        """Headers carrying the answer to the last challenge."""
        return {"wtv-challenge-response": self.pendingResponse}

    def login(self) -> Response:
        """
        Pre-register, get a challenge, answer it on the stage-two URL, and
        follow the server over SECURE ON when it closes the connection to
        show a page (a password or choose-user page never goes in clear).
        """
        self.request("wtv-1800:/preregister?scriptless-visit-reason=10&0")
        login = self.request("wtv-head-waiter:/login?")
        answered = self.request(login.get("wtv-visit"), self.answer())
        if answered.get("Connection") == "close" and answered.get("wtv-ticket"):
            return self.request(answered.get("wtv-visit"), secure=True)
        return answered


class _Connection:
    """One of a L{TestBox}'s connections, and how much of its output was read."""

    __test__ = False

    def __init__(self, protocol, transport: StringTransport,
                 streams: BoxStreams | None, incarnation: int) -> None:
        self.protocol = protocol
        self.transport = transport
        self.streams = streams
        self.incarnation = incarnation
        self.used = False
        self._read = 0

    def hangUp(self) -> None:
        """The box drops the line."""
        self.transport.loseConnection()
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def usable(self, secure: bool) -> bool:
        return not self.transport.disconnecting and (self.streams is not None) == secure

    def received(self) -> bytes:
        """What the server wrote since the last call (one whole response)."""
        data = self.transport.value()[self._read:]
        self._read += len(data)
        return data


def _lines(values: dict[str, str | None]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in values.items() if v is not None)
