"""
WTVP over TCP: one L{WTVPProtocol} per box connection, one L{WTVPFactory}
per service port.

The protocol only frames bytes, runs SECURE ON encryption and keeps requests
in order; the factory's L{IWTVService} answers them. After C{SECURE ON} every
further byte from the box is RC4-decrypted with the key-1 stream before it
is parsed, and every response body is encrypted with the key-2 stream; both
streams run for the connection's whole life (PROTOCOL.md 2.4).
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from wtvserv.crypto.rc4 import ServerStreams, parse_incarnation
from wtvserv.interfaces import ISessionKeyRegistry, ITicketAuthority, IWTVService
from wtvserv.ssid import is_well_formed
from wtvserv.tickets import TicketError
from wtvserv.wire import (
    SECURE_ON,
    Headers,
    Limits,
    Request,
    RequestParser,
    Response,
    WireError,
    errorResponse,
    serializeHead,
)

log = Logger()


class Timeouts:
    """How long each wait may last, in seconds."""

    idle = 300.0          # no request in progress
    request = 30.0        # from a request's first byte to its last
    handler = 60.0        # a service working on one request


class WTVPProtocol(Protocol):
    """
    One box connection. Requests are answered strictly in order: while one
    is being handled, later bytes are buffered, not parsed.
    """

    def __init__(self, factory: WTVPFactory) -> None:
        self.factory = factory
        self._parser = RequestParser(factory.limits)
        self._streams: ServerStreams | None = None
        self._secureHeaders = Headers()
        self._ticket = None
        self._busy = False
        self._closing = False
        self._peer = ""
        self._idleCall = None
        self._requestCall = None

    # Connection life

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self._peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.factory.connectionOpened(self)
        if self.factory.overCapacity():
            log.warn("{service}: refusing {peer}, too many connections",
                     service=self.factory.serviceName, peer=self._peer)
            self._abort(errorResponse(503, "The service is busy. Please try again later."))
            return
        self._armIdle()

    def connectionLost(self, reason: Failure = None) -> None:
        self._closing = True
        self._cancel("_idleCall")
        self._cancel("_requestCall")
        self.factory.connectionClosed(self)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        if self._streams is not None:
            data = self._streams.decrypt(data)
        self._parser.feed(data)
        if self._requestCall is None and self._parser.buffered:
            self._requestCall = self.factory.clock.callLater(
                self.factory.timeouts.request, self._requestTimedOut)
        self._processNext()

    # Parsing and dispatch

    def _processNext(self) -> None:
        while not self._busy and not self._closing:
            try:
                request = self._parser.next()
            except WireError as error:
                self._fail(error.status, error.message, "malformed request")
                return
            if request is None:
                if not self._parser.buffered:
                    self._cancel("_requestCall")
                return
            self._cancel("_requestCall")
            if request.method == SECURE_ON:
                self._secureOn(request)
            else:
                self._dispatch(request)
            if self._parser.buffered and self._requestCall is None and not self._busy:
                self._requestCall = self.factory.clock.callLater(
                    self.factory.timeouts.request, self._requestTimedOut)

    def _secureOn(self, block: Request) -> None:
        """
        Start (or, when the box sends it again, re-key) encryption. The keys
        come from the ticket in the block, or else from what the registry
        remembers of the box's last challenge.
        """
        ssid = block.headers.get("wtv-client-serial-number")
        incarnation = parse_incarnation(block.headers.get("wtv-incarnation", "0"))
        if not ssid or not is_well_formed(ssid) or incarnation is None:
            self._fail(400, "The secure connection request was not understood.",
                       "SECURE ON without a valid SSID or incarnation")
            return
        keys = self._keysFor(ssid, block.headers.get("wtv-ticket"))
        if keys is None:
            return
        alreadySecure = self._streams is not None
        self._secureHeaders = block.headers
        self._streams = ServerStreams(keys[0], keys[1], incarnation)
        if not alreadySecure:
            ciphertext = self._parser.takeBuffered()
            self._parser.feed(self._streams.decrypt(ciphertext))

    def _keysFor(self, ssid: str, ticketText: str | None) -> tuple[bytes, bytes] | None:
        if ticketText:
            try:
                ticket = self.factory.tickets.verify(ticketText, ssid)
            except TicketError as error:
                self._fail(403, error.message, f"SECURE ON refused for {ssid}: {error}")
                return None
            self._ticket = ticket
            return ticket.key1, ticket.key2
        keys = self.factory.sessions.sessionKeys(ssid)
        if keys is None:
            self._fail(403, "Your session has ended. Please connect again.",
                       f"SECURE ON refused for {ssid}: no ticket and no session keys")
        return keys

    def _dispatch(self, request: Request) -> None:
        own = request.headers
        request.headers = own.withFallback(self._secureHeaders)
        request.secure = self._streams is not None
        request.peer = self._peer
        self._attachTicket(request, own.get("wtv-ticket"))
        if request.secure:
            self._followIncarnation(own.get("wtv-incarnation"))
        ssid = request.ssid
        if ssid is not None and not is_well_formed(ssid):
            self._respond(request, errorResponse(400, "Your box sent an invalid serial number.", close=True),
                          note=f"bad SSID {ssid[:40]!r}")
            return
        self._busy = True
        self._cancel("_idleCall")
        deferred = maybeDeferred(self.factory.service.handle, request)
        deferred.addTimeout(self.factory.timeouts.handler, self.factory.clock)
        deferred.addErrback(self._serviceFailed, request)
        deferred.addCallback(self._finish, request)

    def _attachTicket(self, request: Request, ownTicket: str | None) -> None:
        """
        The request's ticket: its own C{wtv-ticket} header if it has one,
        else the newest ticket this connection saw.
        """
        if ownTicket and request.ssid:
            try:
                request.ticket = self.factory.tickets.verify(ownTicket, request.ssid)
            except TicketError as error:
                request.ticketError = error
                log.info("{service}: {peer} presented a bad ticket: {error}",
                         service=self.factory.serviceName, peer=self._peer, error=error)
            return
        request.ticket = self._ticket

    def _followIncarnation(self, text: str | None) -> None:
        """A new incarnation inside an encrypted request re-keys both streams."""
        incarnation = parse_incarnation(text) if text else None
        if incarnation is not None and incarnation != self._streams.incarnation:
            self._streams.rekey(incarnation)

    def _serviceFailed(self, failure: Failure, request: Request) -> Response:
        log.failure("{service}: handler failed on {path}", failure,
                    service=self.factory.serviceName, path=request.path)
        return errorResponse(
            500, f"{self.factory.serviceName} ran into a technical problem. Please try again.")

    def _finish(self, response: Response, request: Request) -> None:
        self._busy = False
        if self._closing:
            return
        self._respond(request, response)
        if not self._closing:
            self._armIdle()
            self._processNext()

    # Writing

    def _respond(self, request: Request | None, response: Response, note: str = "") -> None:
        core: list[tuple[str, str]] = []
        secure = self._streams is not None
        if secure:
            core.append(("wtv-encrypted", "true"))
            response.headers = [h for h in response.headers if h[0].lower() != "wtv-encrypted"]
        if response.ticket is not None:
            text = self.factory.tickets.issue(response.ticket)
            self._ticket = self.factory.tickets.verify(text, response.ticket.ssid)
            core.append(("wtv-ticket", text))
        if request is not None:
            response = self.factory.encode(request, response)
        body = response.body
        head = serializeHead(response, core, len(body))
        if secure and body:
            body = self._streams.encrypt(body)
        self.transport.write(head + body)
        if note or response.status >= 400:
            log.info("{service}: {status} to {peer} for {what}: {reason}",
                     service=self.factory.serviceName, status=response.status,
                     peer=self._peer, what=(request.path if request else "-"),
                     reason=note or response.reason)
        if response.close:
            self._closing = True
            self.transport.loseConnection()

    def _fail(self, status: int, message: str, note: str) -> None:
        """Answer an unservable request with a WTVP error and hang up."""
        self._respond(None, errorResponse(status, message, close=True), note=note)

    def _abort(self, response: Response) -> None:
        self._respond(None, response, note="refused")

    # Timers

    def _armIdle(self) -> None:
        self._cancel("_idleCall")
        self._idleCall = self.factory.clock.callLater(self.factory.timeouts.idle, self._idleTimedOut)

    def _idleTimedOut(self) -> None:
        self._idleCall = None
        if not self._busy:
            self._closing = True
            self.transport.loseConnection()

    def _requestTimedOut(self) -> None:
        self._requestCall = None
        if not self._busy and not self._closing:
            self._fail(408, "The request took too long to arrive.", "request timed out")

    def _cancel(self, attribute: str) -> None:
        call = getattr(self, attribute)
        if call is not None and call.active():
            call.cancel()
        setattr(self, attribute, None)


def _noEncoding(request: Request, response: Response) -> Response:
    return response


class WTVPFactory(Factory):
    """
    Serves one wtv- service on one port. Every factory of a process shares
    the same ticket authority and session-key registry.
    """

    noisy = False
    protocol = WTVPProtocol

    def __init__(self, service: IWTVService, tickets: ITicketAuthority,
                 sessions: ISessionKeyRegistry, clock: IReactorTime,
                 limits: Limits = Limits(), timeouts: Timeouts = Timeouts(),
                 maxConnections: int = 10_000,
                 encode: Callable[[Request, Response], Response] = _noEncoding) -> None:
        self.service = service
        self.serviceName = service.name
        self.tickets = tickets
        self.sessions = sessions
        self.clock = clock
        self.limits = limits
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.encode = encode
        self.connections: set[WTVPProtocol] = set()

    def logPrefix(self) -> str:
        return self.serviceName

    def buildProtocol(self, addr) -> WTVPProtocol:
        return self.protocol(self)

    def connectionOpened(self, protocol: WTVPProtocol) -> None:
        self.connections.add(protocol)

    def connectionClosed(self, protocol: WTVPProtocol) -> None:
        self.connections.discard(protocol)

    def overCapacity(self) -> bool:
        return len(self.connections) > self.maxConnections
