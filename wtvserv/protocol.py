"""
WTVP over TCP: one L{WTVPProtocol} per box connection, one L{WTVPFactory}
per service port.

The protocol times requests, applies the limits and keeps requests in
order; the factory's L{IWTVService} answers them. What a connection knows
of its box (who it is, its ticket, SECURE ON encryption) lives in the
sans-IO L{BoxConnection}, which the protocol only feeds bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from wtvserv.accesslog import logResponse
from wtvserv.admission import Admission
from wtvserv.bans import Bans
from wtvserv.connection import BoxConnection, Refusal
from wtvserv.interfaces import ISessionKeyRegistry, ITicketAuthority, IWTVService
from wtvserv.ssid import SSIDPolicy
from wtvserv.wire import Limits, Request, Response, errorResponse

log = Logger()


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
    is being handled, later bytes are buffered, not parsed. What the
    connection knows of its box (identity, ticket, RC4 streams) is its
    L{BoxConnection}; this class adds the timers, the limits and the service.
    """

    def __init__(self, factory: WTVPFactory) -> None:
        self.factory = factory
        self.box: BoxConnection | None = None
        self._busy = False
        self._closing = False
        self._peer = ""
        self._address = ""
        self._admitted = False
        self._idleCall = None
        self._requestCall = None
        self._requestStarted = 0.0
        self._answering: Deferred | None = None

    # Connection life

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self._address = str(getattr(peer, "host", "?"))
        self._peer = f"{self._address}:{getattr(peer, 'port', '?')}"
        factory = self.factory
        self.box = BoxConnection(factory.tickets, factory.sessions, factory.ssidPolicy,
                                 factory.limits, self._address, self._peer)
        factory.connectionOpened(self)
        refusal = factory.admission.admit(self._address)
        if refusal is None and factory.overCapacity():
            factory.admission.release(self._address)
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
        if self._answering is not None:
            # Nobody is left to answer: drop the work (e.g. a queued password check).
            self._answering.cancel()
        if self._admitted:
            self._admitted = False
            self.factory.admission.release(self._address)
        self.factory.connectionClosed(self)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.box.receive(data)
        self._startRequestTimer()
        self._processNext()

    # Parsing and dispatch

    def _processNext(self) -> None:
        """Answer every whole request that is in, in order, until one has to wait."""
        while not self._busy and not self._closing:
            try:
                request = self.box.nextRequest()
            except Refusal as refusal:
                self._fail(refusal.status, refusal.message, refusal.note)
                return
            if request is None:
                if self.box.awaitingBytes:
                    self._startRequestTimer()
                else:
                    self._cancel("_requestCall")
                return
            request.started = self._requestStarted
            self._cancel("_requestCall")
            refused = self._refusedSSID(request)
            if refused is not None:
                self._respond(request, *refused)
                return
            result = self._dispatch(request)
            if isinstance(result, Deferred):
                return
            self._respond(request, result)
            if not self._closing:
                self._armIdle()
                self._startRequestTimer()

    def _refusedSSID(self, request: Request) -> tuple[Response, str] | None:
        """@return: the refusal, and why, for an SSID that is banned or malformed."""
        refusal = self.factory.ssidPolicy.refusal(request.ssid) if request.ssid else None
        if refusal is None:
            return None
        status, message, note = refusal
        return errorResponse(status, message, close=True), note

    def _dispatch(self, request: Request) -> Response | Deferred:
        """
        Hand C{request} to the service. @return: its response, or a
        L{Deferred} that sends it when it comes (the connection is busy
        until then).
        """
        self._busy = True
        self._cancel("_idleCall")
        try:
            result = self.factory.service.handle(request)
        except Exception:
            result = self._serviceFailed(Failure(), request)
        if not isinstance(result, Deferred):
            self._busy = False
            return result
        self._answering = result
        result.addTimeout(self.factory.timeouts.handler, self.factory.clock)
        result.addErrback(self._serviceFailed, request)
        result.addCallback(self._finish, request)
        return result

    def _serviceFailed(self, failure: Failure, request: Request) -> Response:
        if failure.check(CancelledError, TimeoutError):
            why = "the box hung up" if self._closing else "it took too long"
            log.warn("{service}: {path} dropped unanswered: {why}",
                     service=self.factory.serviceName, path=request.path, why=why,
                     client=self._address, ssid=request.loggedSSID)
        else:
            log.failure("{service}: handler failed on {path}", failure,
                        service=self.factory.serviceName, path=request.path,
                        client=self._address, ssid=request.loggedSSID)
        return errorResponse(
            500, f"{self.factory.serviceName} ran into a technical problem. Please try again.")

    def _finish(self, response: Response, request: Request) -> None:
        """An answer that took its time: send it, then go on with what waited."""
        self._busy = False
        self._answering = None
        if self._closing:
            return
        self._respond(request, response)
        if not self._closing:
            self._armIdle()
            self._startRequestTimer()
            self._processNext()

    # Writing

    def _respond(self, request: Request | None, response: Response, note: str = "") -> None:
        if request is not None:
            response = self.factory.encode(request, response)
        data = self.box.frame(response, request)
        self.transport.write(data)
        now = self.factory.clock.seconds()
        ssid = method = url = "-"
        started = now
        if request is not None:
            ssid, method, url = request.loggedSSID, request.method, request.url
            started = request.started or now
        logResponse(self.factory.serviceName, self._address, ssid, method, url,
                    response.status, now - started, len(response.body),
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

    def _startRequestTimer(self) -> None:
        """
        Time the request whose first bytes are waiting, if not already. A
        timer that fires while a service works is dropped, and started
        again here once the answer is sent.
        """
        if self._requestCall is None and self.box.awaitingBytes:
            self._requestStarted = self.factory.clock.seconds()
            self._requestCall = self.factory.clock.callLater(
                self.factory.timeouts.header, self._requestTimedOut)

    def _requestTimedOut(self) -> None:
        self._requestCall = None
        if self._busy or self._closing:
            return
        clock = self.factory.clock
        deadline = self._requestStarted + self.factory.timeouts.requestDeadline(
            self.box.bodyReceived)
        if deadline > clock.seconds():
            self._requestCall = clock.callLater(deadline - clock.seconds(),
                                                self._requestTimedOut)
            return
        what = "body" if self.box.bodyReceived is not None else "head"
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
