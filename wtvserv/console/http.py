"""
The console's HTTP, with limits of its own on top of C{twisted.web}'s
(a request line and headers of at most 16 KiB, 500 headers): a body of at
most L{MAX_BODY} bytes, refused with C{413} as soon as it is announced or
exceeded; at most L{MAX_CONNECTIONS} connections at once; a request
given L{REQUEST_TIMEOUT} seconds to arrive, and a connection closed after
L{IDLE_TIMEOUT} seconds without traffic. Every response carries
the security headers of L{SECURITY_HEADERS}. The access log leaves out
query strings (L{accessLine}).
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web.http import HTTPChannel
from twisted.web.server import Request, Site

log = Logger()

MAX_BODY = 16 * 1024
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 30
#: Seconds a request may take to arrive whole, from the connection or the last answer.
REQUEST_TIMEOUT = 10
SECURITY_HEADERS = {
    b"Content-Security-Policy": b"default-src 'self'; form-action 'self'; "
                                b"frame-ancestors 'none'",
    b"X-Frame-Options": b"DENY",
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
}
def peerName(address) -> str:
    """An address for the log and the sign-in limit: an IP, or "local" for a UNIX socket."""
    return getattr(address, "host", "local")


_TOO_LARGE = (b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain\r\n"
              b"Connection: close\r\nContent-Length: 23\r\n\r\nThe form is too large.\n")


class ConsoleRequest(Request):
    """A request whose body may not pass L{MAX_BODY}."""

    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > MAX_BODY:
            self._refuse(length)
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > MAX_BODY:
            self._refuse(self._received)
        else:
            super().handleContentChunk(data)

    def _refuse(self, size: int) -> None:
        self._refused = True
        log.warn("console: a request body of {size} bytes from {client} refused "
                 "(at most {most})", size=size, client=peerName(self.getClientAddress()),
                 most=MAX_BODY)
        self.channel.transport.write(_TOO_LARGE)
        self.channel.transport.loseConnection()

    def process(self) -> None:
        if not self._refused:
            super().process()


class ConsoleChannel(HTTPChannel):
    """
    Counts its site's connections, gives each request L{REQUEST_TIMEOUT}
    seconds to arrive (a trickle of bytes does not keep a connection), and
    says in the log why it refused a request.
    """

    _deadline = None
    _begun = False

    def _arm(self) -> None:
        self._disarm()
        self._begun = False
        self._deadline = self.callLater(REQUEST_TIMEOUT, self._tooSlow)

    def dataReceived(self, data: bytes) -> None:
        self._begun = True
        super().dataReceived(data)

    def _disarm(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _tooSlow(self) -> None:
        """A request begun and not finished gets a 408; an idle kept-alive connection is closed."""
        self._deadline = None
        if self._begun:
            self._refuse(b"408 Request Timeout", f"a request not sent within {REQUEST_TIMEOUT} s")
        else:
            self.transport.loseConnection()

    def allContentReceived(self) -> None:
        self._disarm()
        super().allContentReceived()

    def requestDone(self, request) -> None:
        super().requestDone(request)
        if self.transport is not None and not self.transport.disconnecting:
            self._arm()

    def lineLengthExceeded(self, line: bytes) -> None:
        self._refuse(b"431 Request Header Fields Too Large", "a line longer than "
                     f"{self.MAX_LENGTH} bytes")

    def _respondToBadRequestAndDisconnect(self) -> None:
        # twisted.web's answer to a request it cannot parse, or headers too many or too large.
        self._refuse(b"400 Bad Request", "a request it cannot read, or too many headers")

    def _refuse(self, status: bytes, why: str) -> None:
        log.warn("console: {why} from {client} refused", why=why,
                 client=peerName(self.transport.getPeer()))
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nConnection: close\r\n"
                             b"Content-Length: 0\r\n\r\n")
        self.transport.loseConnection()

    def connectionMade(self) -> None:
        super().connectionMade()
        self.site.open += 1
        self._arm()

    def connectionLost(self, reason) -> None:
        self._disarm()
        self.site.open -= 1
        super().connectionLost(reason)


def accessLine(timestamp: str, request) -> str:
    """
    One line per request for the log, without the query string: the
    one-time sign-in link carries its token there.
    """
    path = request.path.decode("ascii", "replace")
    return (f"console: {peerName(request.getClientAddress())} "
            f"{request.method.decode('ascii', 'replace')} {path} {request.code} "
            f"{request.sentLength}")


class ConsoleSite(Site):
    """The console's site: L{ConsoleRequest}s, and at most L{MAX_CONNECTIONS} connections."""

    protocol = ConsoleChannel
    noisy = False

    def __init__(self, resource, reactor=None) -> None:
        super().__init__(resource, requestFactory=ConsoleRequest, timeout=IDLE_TIMEOUT,
                         logFormatter=accessLine, reactor=reactor)
        self.open = 0

    def buildProtocol(self, addr):
        if self.open >= MAX_CONNECTIONS:
            log.warn("console: a connection from {client} refused, {n} are open",
                     client=peerName(addr), n=self.open)
            return None
        return super().buildProtocol(addr)
