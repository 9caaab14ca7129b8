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

from dataclasses import dataclass
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from wtvserv.accesslog import logResponse
from wtvserv.admission import Admission
from wtvserv.bans import Bans
from wtvserv.crypto.rc4 import ServerStreams, parse_incarnation
from wtvserv.interfaces import ISessionKeyRegistry, ITicketAuthority, IWTVService
from wtvserv.ssid import SSIDPolicy
from wtvserv.tickets import ExpiredTicket, TicketError
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
# How a decrypted request can begin; four bytes tell right keys from wrong.
_REQUEST_STARTS = (b"GET ", b"POST", b"PUT ")


@dataclass(frozen=True)
class Timeouts:
    """
    How long each wait may last, in seconds.

    A request's head must arrive within C{header} of its first byte. Its
    body then gets C{body} more, plus one second for every C{minBodyRate}
    bytes that have actually arrived (as Apache's mod_reqtimeout does): a
    slow modem sending a long POST keeps earning time, while a connection
    that stalls or trickles (slowloris, a half-sent POST) is cut off
    however large a Content-length it announced.
    """

    idle: float = 300.0         # no request in progress
    header: float = 30.0        # a request's first byte to the end of its head
    body: float = 30.0          # grace for the body ...
    minBodyRate: float = 500.0  # ... plus a second per this many bytes received
    handler: float = 60.0       # a service working on one request

    def requestDeadline(self, bodyReceived: int | None) -> float:
        """Seconds a request may take so far, given the body bytes received (if any)."""
        if bodyReceived is None:
            return self.header
        return self.header + self.body + bodyReceived / self.minBodyRate


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
        self._ticketError = None
        self._undecided = None
        self._held = b""
        self._busy = False
        self._closing = False
        self._peer = ""
        self._address = ""
        self._admitted = False
        self._idleCall = None
        self._requestCall = None
        self._requestStarted = 0.0

    # Connection life

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self._address = str(getattr(peer, "host", "?"))
        self._peer = f"{self._address}:{getattr(peer, 'port', '?')}"
        self.factory.connectionOpened(self)
        refusal = self.factory.admission.admit(self._address)
        if refusal is None and self.factory.overCapacity():
            self.factory.admission.release(self._address)
            refusal = (503, "The service is busy. Please try again later.",
                       "too many connections to this service")
        if refusal is not None:
            self._fail(*refusal)
            return
        self._admitted = True
        self._armIdle()

    def connectionLost(self, reason: Failure = None) -> None:
        self._closing = True
        self._cancel("_idleCall")
        self._cancel("_requestCall")
        if self._admitted:
            self._admitted = False
            self.factory.admission.release(self._address)
        self.factory.connectionClosed(self)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        if self._undecided is not None:
            self._chooseKeys(data)
        else:
            self._parser.feed(self._streams.decrypt(data) if self._streams else data)
        self._startRequestTimer()
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
                if self._awaitingBytes():
                    self._startRequestTimer()
                else:
                    self._cancel("_requestCall")
                return
            request.started = self._requestStarted
            self._cancel("_requestCall")
            if request.method == SECURE_ON:
                self._secureOn(request)
            else:
                self._dispatch(request)
            if not self._busy:
                self._startRequestTimer()

    def _secureOn(self, block: Request) -> None:
        """
        Start (or, when the box sends it again, re-key) encryption.

        The keys may be those of the ticket in the block, of a challenge
        the box has just been sent, or of its last answered one: a box that
        answers a new challenge may already encrypt with the new keys while
        it still presents its old ticket. When there is more than one
        candidate, the first ciphertext bytes decide (see L{_chooseKeys}).
        """
        ssid = block.headers.get("wtv-client-serial-number")
        incarnation = parse_incarnation(block.headers.get("wtv-incarnation", "0"))
        if not ssid or incarnation is None:
            self._fail(400, "The secure connection request was not understood.",
                       "SECURE ON without an SSID or a valid incarnation")
            return
        refusal = self.factory.ssidPolicy.refusal(ssid)
        if refusal is not None:
            self._fail(*refusal)
            return
        candidates = self._candidateKeys(ssid, block.headers.get("wtv-ticket"))
        if not candidates:
            return
        self._secureHeaders = block.headers
        if self._streams is not None:
            self._streams = ServerStreams(*candidates[0], incarnation)
            return
        self._undecided = (candidates, incarnation)
        self._chooseKeys(self._parser.takeBuffered())

    def _candidateKeys(self, ssid: str, ticketText: str | None) -> list[tuple[bytes, bytes]]:
        """
        @return: the key pairs the box may be using, most likely first; an
            empty list (after answering 403) when a ticket is forged,
            altered or another box's, or when nothing is known of the box.
        """
        candidates = []
        if ticketText:
            try:
                ticket = self.factory.tickets.verify(ticketText, ssid)
            except ExpiredTicket as error:
                ticket, self._ticketError = error.ticket, error
            except TicketError as error:
                self._fail(403, error.message, "SECURE ON refused for "
                           f"{self.factory.ssidPolicy.forLog(ssid)}: {error.message}")
                return []
            self._ticket = ticket
            candidates.append((ticket.key1, ticket.key2))
        sessions = self.factory.sessions
        pending = [(c.key1, c.key2) for c in sessions.pendingChallenges(ssid, self._address)]
        for keys in (*pending, sessions.sessionKeys(ssid)):
            if keys and keys not in candidates:
                candidates.append(keys)
        if not candidates:
            self._fail(403, "Your session has ended. Please connect again.",
                       f"SECURE ON refused for {self.factory.ssidPolicy.forLog(ssid)}: "
                       "no ticket and no session keys")
        return candidates

    def _chooseKeys(self, ciphertext: bytes) -> None:
        """
        Collect ciphertext until its first bytes show which candidate keys
        decrypt it to a request line, then start decrypting with those.
        """
        candidates, incarnation = self._undecided
        self._held += ciphertext
        if len(candidates) > 1 and len(self._held) < len(_REQUEST_STARTS[0]):
            return
        chosen = candidates[0]
        for keys in candidates:
            trial = ServerStreams(*keys, incarnation).decrypt(self._held[:4])
            if trial in _REQUEST_STARTS:
                chosen = keys
                break
        self._undecided = None
        self._streams = ServerStreams(*chosen, incarnation)
        held, self._held = self._held, b""
        self._parser.feed(self._streams.decrypt(held))

    def _dispatch(self, request: Request) -> None:
        own = request.headers
        request.headers = own.withFallback(self._secureHeaders)
        request.secure = self._streams is not None
        request.peer = self._peer
        request.address = self._address
        ssid = request.ssid
        request.loggedSSID = self.factory.ssidPolicy.forLog(ssid)
        if ssid is not None:
            refusal = self.factory.ssidPolicy.refusal(ssid)
            if refusal is not None:
                status, message, note = refusal
                self._respond(request, errorResponse(status, message, close=True), note=note)
                return
        self._attachTicket(request, own.get("wtv-ticket"))
        if request.secure:
            self._followIncarnation(own.get("wtv-incarnation"))
        self._busy = True
        self._cancel("_idleCall")
        try:
            result = self.factory.service.handle(request)
        except Exception:
            result = self._serviceFailed(Failure(), request)
        if not isinstance(result, Deferred):
            self._finish(result, request)
            return
        result.addTimeout(self.factory.timeouts.handler, self.factory.clock)
        result.addErrback(self._serviceFailed, request)
        result.addCallback(self._finish, request)

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
                log.info("{service}: {client} presented a bad ticket for {ssid}: {error}",
                         service=self.factory.serviceName, client=self._address,
                         ssid=request.loggedSSID, error=error.message)
            return
        if self._ticket is not None and self.factory.tickets.expired(self._ticket):
            self._ticketError = self._ticketError or ExpiredTicket(ticket=self._ticket)
        if self._ticketError is not None:
            request.ticketError = self._ticketError
        else:
            request.ticket = self._ticket

    def _followIncarnation(self, text: str | None) -> None:
        """A new incarnation inside an encrypted request re-keys both streams."""
        incarnation = parse_incarnation(text) if text else None
        if incarnation is not None and incarnation != self._streams.incarnation:
            self._streams.rekey(incarnation)

    def _serviceFailed(self, failure: Failure, request: Request) -> Response:
        log.failure("{service}: handler failed on {path}", failure,
                    service=self.factory.serviceName, path=request.path,
                    client=self._address, ssid=request.loggedSSID)
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
            text, self._ticket = self.factory.tickets.seal(response.ticket)
            self._ticketError = None
            core.append(("wtv-ticket", text))
        if request is not None:
            response = self.factory.encode(request, response)
        body = response.body
        head = serializeHead(response, core, len(body))
        if secure and body:
            body = self._streams.encrypt(body)
        self.transport.write(head + body)
        now = self.factory.clock.seconds()
        ssid = method = url = "-"
        started = now
        if request is not None:
            ssid, method, url = request.loggedSSID, request.method, request.url
            started = request.started or now
        logResponse(self.factory.serviceName, self._address, ssid, method, url,
                    response.status, now - started, len(body),
                    note or (response.reason if response.status >= 400 else ""))
        if response.close:
            self._closing = True
            self.transport.loseConnection()

    def _fail(self, status: int, message: str, note: str) -> None:
        """Answer an unservable request with a WTVP error and hang up."""
        self._respond(None, errorResponse(status, message, close=True), note=note)

    # Timers

    def _armIdle(self) -> None:
        self._cancel("_idleCall")
        self._idleCall = self.factory.clock.callLater(self.factory.timeouts.idle, self._idleTimedOut)

    def _idleTimedOut(self) -> None:
        self._idleCall = None
        if not self._busy:
            self._closing = True
            self.transport.loseConnection()

    def _awaitingBytes(self) -> bool:
        """Whether part of a request is in: unparsed bytes, or a head awaiting its body."""
        return bool(self._parser.buffered or self._held
                    or self._parser.bodyReceived is not None)

    def _startRequestTimer(self) -> None:
        """
        Time the request whose first bytes are waiting, if not already. A
        timer that fires while a service works is dropped, and started
        again here once the answer is sent.
        """
        if self._requestCall is None and self._awaitingBytes():
            self._requestStarted = self.factory.clock.seconds()
            self._requestCall = self.factory.clock.callLater(
                self.factory.timeouts.header, self._requestTimedOut)

    def _requestTimedOut(self) -> None:
        self._requestCall = None
        if self._busy or self._closing:
            return
        clock = self.factory.clock
        deadline = self._requestStarted + self.factory.timeouts.requestDeadline(
            self._parser.bodyReceived)
        if deadline > clock.seconds():
            self._requestCall = clock.callLater(deadline - clock.seconds(),
                                                self._requestTimedOut)
            return
        what = "body" if self._parser.bodyReceived is not None else "head"
        self._fail(408, "The request took too long to arrive.",
                   f"request {what} too slow")

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
                 encode: Callable[[Request, Response], Response] = _noEncoding,
                 admission: Admission | None = None,
                 ssidPolicy: SSIDPolicy | None = None) -> None:
        """
        @param admission: who may connect, shared by the process's factories;
            by default one of this factory's own with no bans.
        @param ssidPolicy: which SSIDs are served; by default checked, with
            no bans.
        """
        self.service = service
        self.serviceName = service.name
        self.tickets = tickets
        self.sessions = sessions
        self.clock = clock
        self.limits = limits
        self.timeouts = timeouts
        self.maxConnections = maxConnections
        self.encode = encode
        self.admission = admission or Admission(Bans(), maxConnections)
        self.ssidPolicy = ssidPolicy or SSIDPolicy(Bans())
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
