"""
WTVP over TCP: one L{WTVPProtocol} per box connection, one L{WTVPFactory}
per service port.

The protocol times requests, applies the limits, keeps requests in order
and reads no faster than the box takes its answers; the factory's
L{IWTVService} answers them. What a connection knows
of its box (who it is, its ticket, SECURE ON encryption) lives in the
sans-IO L{BoxConnection}, which the protocol only feeds bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twisted.internet import tcp
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import (
    IDelayedCall,
    IHalfCloseableProtocol,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from wtvserv import closenow, sendnow
from wtvserv.accesslog import logResponse
from wtvserv.admission import Admission
from wtvserv.bans import Bans
from wtvserv.clients import ClientKeys, unmapped
from wtvserv.connection import BoxConnection, Refusal
from wtvserv.deadlines import FixedDelay
from wtvserv.directory import ServiceDirectory
from wtvserv.interfaces import ISessionKeyRegistry, ITicketAuthority, IWTVService
from wtvserv.ssid import SSIDPolicy
from wtvserv.switches import SwitchBoard
from wtvserv.wire import BodyBudget, Limits, Request, Response, errorResponse

log = Logger()


#: Pipelined requests answered in one go; the rest wait for the next turn
#: of the reactor, so one connection cannot hold up the others.
REQUESTS_PER_TURN = 32


@dataclass(frozen=True)
class Timeouts:
    """
    How long each wait may last, in seconds.

    A request's head must arrive within C{header} of its first byte. Its
    body then gets C{body} more, plus one second for every C{minBodyRate}
    bytes that have actually arrived (as Apache's mod_reqtimeout does): a
    slow modem sending a long POST keeps earning time, while a connection
    that stalls or trickles (slowloris, a half-sent POST) is cut off
    however large a Content-length it announced. Whatever it earns, a
    request must be in within C{request} of its first byte.

    A box must take what it is sent: once the transport's write buffer is
    full (or the connection is closing), it gets C{write} seconds plus one
    per C{minBodyRate} bytes still waiting, then the connection is aborted.
    """

    idle: float = 300.0         # no request in progress
    header: float = 30.0        # a request's first byte to the end of its head
    body: float = 30.0          # grace for the body ...
    minBodyRate: float = 500.0  # ... plus a second per this many bytes received
    request: float = 120.0      # a request's first byte to its last, at most
    handler: float = 60.0       # a service working on one request
    write: float = 60.0         # a box taking its answers (plus a second per minBodyRate)

    def requestDeadline(self, bodyReceived: int | None) -> float:
        """Seconds a request may take so far, given the body bytes received (if any)."""
        if bodyReceived is None:
            return min(self.header, self.request)
        return min(self.request, self.header + self.body + bodyReceived / self.minBodyRate)

    def writeDeadline(self, waiting: int) -> float:
        """Seconds a box may take to take C{waiting} bytes."""
        return self.write + waiting / self.minBodyRate


@implementer(IPushProducer, IHalfCloseableProtocol)
class WTVPProtocol(Protocol):
    """
    One box connection. Requests are answered strictly in order: while one
    is being handled, no other is parsed, and once bytes of another arrive,
    nothing more is read. What the connection knows of
    its box (identity, ticket, RC4 streams) is its L{BoxConnection}; this
    class adds the timers, the limits and the service.

    It is its transport's producer: while the transport's write buffer is
    full (a box that does not read what it asked for), it stops reading
    and answering, so unread answers never pile up in memory.

    It says it half-closes only so that its transport hands it the box's
    FIN (L{readConnectionLost}) instead of looking that up each time: it
    closes its side at once, as Twisted does for any other protocol.
    """

    def __init__(self, factory: WTVPFactory) -> None:
        self.factory = factory
        self.box: BoxConnection | None = None
        self._busy = False
        self._closing = False
        self._writePaused = False   # the transport's write buffer is full
        self._readPaused = False    # the transport was told to stop reading
        self._producing = False     # registered as the transport's producer
        self._lastWrite = 0
        self._peer = ""
        self._host = ""
        self._address = ""
        self._admitted = False
        self._idleCall = None
        self._idleFrom = 0.0        # the idle timeout counts from here
        self._requestCall = None
        self._continueCall = None
        self._writeCall = None
        self._requestStarted = 0.0
        self._answering: Deferred | None = None

    # Connection life

    def connectionMade(self) -> None:
        host, port = peerOf(self.transport)
        factory = self.factory
        self._host = unmapped(str(host))
        self._address = factory.clientKeys.keyOf(self._host)
        self._peer = f"[{self._host}]:{port}" if ":" in self._host else f"{self._host}:{port}"
        self.box = BoxConnection(factory.tickets, factory.sessions, factory.ssidPolicy,
                                 factory.limits, self._address, self._peer,
                                 factory.bodyBudget)
        self.transport.registerProducer(self, True)
        self._producing = True
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
        for timer in ("_idleCall", "_requestCall", "_continueCall", "_writeCall"):
            self._cancel(timer)
        if self._answering is not None:
            # Nobody is left to answer: drop the work (e.g. a queued password check).
            self._answering.cancel()
        self.box.close()
        if self._admitted:
            self._admitted = False
            self.factory.admission.release(self._address)
        self.factory.connectionClosed(self)

    def readConnectionLost(self) -> None:
        """The box closed its side: close ours (L{closenow.afterPeer})."""
        closenow.afterPeer(self.transport)

    def writeConnectionLost(self) -> None:
        """Never called: this protocol does not close its writing side alone."""

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        if self._requestCall is None:
            self._requestStarted = self.factory.clock.seconds()
        self.box.receive(data)
        if self._busy or self._writePaused:
            self._startRequestTimer()
        # Otherwise what is whole is answered now, and only the rest timed.
        self._processNext()

    # The transport's write buffer (IPushProducer)

    def pauseProducing(self) -> None:
        """The box is not taking its answers: read and answer nothing more for now."""
        if self._writePaused:
            return
        self._writePaused = True
        self._cancel("_idleCall")
        self._armWriteTimer()
        self._updateReading()

    def resumeProducing(self) -> None:
        """The box took everything it was sent: go on."""
        if not self._writePaused:
            return
        self._writePaused = False
        if self._closing:
            return
        self._cancel("_writeCall")
        if not self._busy:
            self._armIdle()
        self._processNext()

    def stopProducing(self) -> None:
        """The connection is gone; L{connectionLost} cleans up."""

    # Parsing and dispatch

    def _processNext(self) -> None:
        """
        Answer the whole requests that are in, in order, until one has to
        wait; after L{REQUESTS_PER_TURN}, go on at the reactor's next turn.
        """
        for _ in range(REQUESTS_PER_TURN):
            if self._busy or self._closing or self._writePaused:
                break
            try:
                request = self.box.nextRequest()
            except Refusal as refusal:
                self._respond(None, refusal.response(self.factory.directory), note=refusal.note)
                return
            if request is None:
                if self.box.awaitingBytes:
                    self._startRequestTimer()
                else:
                    self._cancel("_requestCall")
                break
            request.started = self._requestStarted
            self._cancel("_requestCall")
            refused = self._refusedSSID(request) or self._closedForMaintenance()
            if refused is not None:
                self._respond(request, *refused)
                return
            if self._answer(request) and not self._closing:
                self._armIdle()
                self._startRequestTimer()
        else:
            if not self._closing and self._continueCall is None:
                self._continueCall = self.factory.clock.callLater(0, self._continue)
        self._updateReading()

    def _continue(self) -> None:
        self._continueCall = None
        self._processNext()

    def _updateReading(self) -> None:
        """
        Read only what can be handled now: not while the box leaves its
        answers unread or pipelined requests wait their turn, nor once
        bytes of another request came in while a service works.

        A box sends its next request only once it has its answer, so a
        connection whose service works is left reading: stopping and
        starting the transport costs two system calls a request, each a
        chance for a store thread to take the GIL. Whatever the box sends
        meanwhile is at most one read (the transport's 64 KiB) past the
        request being answered, the same bound as bytes that came with
        the request, and stops reading at once.
        """
        if self._closing:
            return
        hold = (self._writePaused or self._continueCall is not None
                or (self._busy and self.box.awaitingBytes))
        if hold != self._readPaused:
            self._readPaused = hold
            if hold:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()

    def _refusedSSID(self, request: Request) -> tuple[Response, str] | None:
        """@return: the refusal, and why, for an SSID that is banned or malformed."""
        refusal = self.factory.ssidPolicy.refusal(request.ssid) if request.ssid else None
        if refusal is None:
            return None
        status, message, note = refusal
        return errorResponse(status, message, close=True), note

    def _closedForMaintenance(self) -> tuple[Response, str] | None:
        """@return: the maintenance answer, and why, while the operator's switch is on."""
        switchBoard = self.factory.maintenance
        if switchBoard is None:
            return None
        switches = switchBoard.current()
        if not switches.maintenance:
            return None
        return errorResponse(503, switches.message, close=True), "maintenance"

    def _answer(self, request: Request) -> bool:
        """
        Have the service answer C{request} and the factory encode the
        answer, and send it. @return: whether it was sent now; if not, the
        connection is busy until it is.
        """
        self._busy = True
        try:
            result = self.factory.service.handle(request)
        except Exception:
            result = self._serviceFailed(Failure(), request)
        if isinstance(result, Deferred):
            # One callback and one timer where Deferred.addTimeout, an
            # encoding callback and an errback took five layers.
            timer = self.factory.handlerTimers.callLater(result.cancel)
            self._answering = result
            result.addBoth(self._answered, request, timer)
            return False
        result = self.factory.encode(request, result)
        if isinstance(result, Deferred):
            self._answerEncoded(result, request)
            return False
        self._busy = False
        self._respond(request, result)
        return True

    def _answered(self, result: Response | Failure, request: Request,
                  timer: IDelayedCall) -> Deferred | None:
        """The service's late answer, or its failure: encode it and send it."""
        if timer.active():
            timer.cancel()
        if isinstance(result, Failure):
            self._finish(self._serviceFailed(result, request), request)
            return None
        try:
            response = self.factory.encode(request, result)
        except Exception:
            response = self._serviceFailed(Failure(), request)
        if isinstance(response, Deferred):
            # Chained, so that cancelling what is answered cancels this too.
            return self._answerEncoded(response, request)
        self._finish(response, request)
        return None

    def _answerEncoded(self, encoding: Deferred, request: Request) -> Deferred:
        """
        Send the answer C{encoding} fires with, once it does. The idle
        timer stays meanwhile: it lets a busy connection be (see
        L{_idleTimedOut}).
        """
        if self._answering is None:
            self._answering = encoding
        return encoding.addCallbacks(self._finish, self._encodingFailed,
                                     callbackArgs=(request,), errbackArgs=(request,))

    def _encodingFailed(self, failure: Failure, request: Request) -> None:
        self._finish(self._serviceFailed(failure, request), request)

    def _serviceFailed(self, failure: Failure, request: Request) -> Response:
        if failure.check(CancelledError, TimeoutError):
            why = "the box hung up" if self._closing else "it took too long"
            log.warn("{service}: {path} dropped unanswered: {why}",
                     service=self.factory.serviceName, path=request.path, why=why,
                     client=self._host, ssid=request.loggedSSID)
        else:
            log.failure("{service}: handler failed on {path}", failure,
                        service=self.factory.serviceName, path=request.path,
                        client=self._host, ssid=request.loggedSSID)
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
        """
        Log C{response} (already encoded), then send it to the box: it may
        leave at once (L{sendnow}), and whoever reads the log once the box
        has its answer finds the line there.
        """
        data = self.box.frame(response, request)
        self._lastWrite = len(data)
        now = self.factory.clock.seconds()
        ssid = method = url = "-"
        started = now
        if request is not None:
            ssid, method, url = request.loggedSSID, request.method, request.url
            started = request.started or now
        logResponse(self.factory.serviceName, self._host, ssid, method, url,
                    response.status, now - started, len(response.body),
                    note or (response.reason if response.status >= 400 else ""))
        sendnow.write(self.transport, data)
        if response.close:
            self._close()

    def _fail(self, status: int, message: str, note: str) -> None:
        """Answer an unservable request with a WTVP error and hang up."""
        self._respond(None, errorResponse(status, message, close=True), note=note)

    def _close(self) -> None:
        """Hang up once the box has taken what it was sent, or abort when it does not."""
        if self._closing:
            return
        self._closing = True
        for timer in ("_idleCall", "_requestCall", "_continueCall"):
            self._cancel(timer)
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()
        if not closenow.whenSent(self.transport) and self._writeCall is None:
            self._armWriteTimer()

    # Timers

    def _armIdle(self) -> None:
        """
        Count the idle timeout from now. This runs after every answer: a
        timer already set is left to fire at its time, and only then waits
        for what is left.
        """
        self._idleFrom = self.factory.clock.seconds()
        if self._idleCall is None or not self._idleCall.active():
            self._idleCall = self.factory.idleTimers.callLater(self._idleTimedOut)

    def _idleTimedOut(self) -> None:
        self._idleCall = None
        clock = self.factory.clock
        left = self._idleFrom + self.factory.timeouts.idle - clock.seconds()
        if left > 0:
            self._idleCall = clock.callLater(left, self._idleTimedOut)
        elif not self._busy and not self._writePaused:
            self._closing = True
            self.transport.abortConnection()

    def _armWriteTimer(self) -> None:
        """
        Give the box time to take what waits for it: at most the
        transport's buffer plus the last answer (the buffer was not full
        before that answer).
        """
        waiting = getattr(self.transport, "bufferSize", 65536) + self._lastWrite
        self._writeCall = self.factory.clock.callLater(
            self.factory.timeouts.writeDeadline(waiting), self._writeTimedOut)

    def _writeTimedOut(self) -> None:
        self._writeCall = None
        log.info("{service}: {client} did not take its answers in time; connection aborted",
                 service=self.factory.serviceName, client=self._host)
        self._closing = True
        self.transport.abortConnection()

    def _startRequestTimer(self) -> None:
        """
        Time the request whose first bytes are waiting, if not already. A
        timer that fires while a service works or the box's answers wait is
        dropped, and started again once the connection goes on.
        """
        if self._requestCall is None and self.box.awaitingBytes:
            clock = self.factory.clock
            # Its first bytes came in this turn, or while it could not be timed.
            self._requestStarted = clock.seconds()
            self._requestCall = clock.callLater(self.factory.timeouts.header,
                                                self._requestTimedOut)

    def _requestTimedOut(self) -> None:
        self._requestCall = None
        if self._busy or self._closing or self._writePaused:
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


def peerOf(transport) -> tuple[object, object]:
    """
    The peer's host and port (C{"?"} for what its address lacks). A plain
    TCP server connection's are the C{client} it was accepted from, which
    its C{getPeer} would wrap in a new address object (some 4,700
    instructions a connection).
    """
    if type(transport) is tcp.Server:
        return transport.client[0], transport.client[1]
    peer = transport.getPeer()
    return getattr(peer, "host", "?"), getattr(peer, "port", "?")


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
                 encode: Callable[[Request, Response], Response | Deferred] = _noEncoding,
                 admission: Admission | None = None,
                 ssidPolicy: SSIDPolicy | None = None,
                 clientKeys: ClientKeys | None = None,
                 bodyBudget: BodyBudget | None = None,
                 directory: ServiceDirectory | None = None,
                 maintenance: SwitchBoard | None = None) -> None:
        """
        @param encode: compresses an answer, now or (a L{Deferred}) later.
        @param admission: who may connect, shared by the process's factories;
            by default one of this factory's own with no bans.
        @param ssidPolicy: which SSIDs are served; by default checked, with
            no bans.
        @param clientKeys: how a client address is counted (IPv6 by /64).
        @param bodyBudget: the body bytes all connections may hold while
            bodies arrive, shared by the process's factories; by default
            unshared and as large as the process-wide default.
        @param directory: the services boxes are told of, to send a box
            whose ticket is unreadable back to wtv-1800.
        @param maintenance: the operator's switches, when maintenance closes
            this service (every request then gets the maintenance message).
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
        self.clientKeys = clientKeys or ClientKeys()
        self.bodyBudget = bodyBudget or BodyBudget()
        self.directory = directory or ServiceDirectory()
        self.maintenance = maintenance
        self.connections: set[WTVPProtocol] = set()
        # Timers of one delay for all connections (see wtvserv.deadlines).
        self.idleTimers = FixedDelay(clock, timeouts.idle)
        self.handlerTimers = FixedDelay(clock, timeouts.handler)

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
