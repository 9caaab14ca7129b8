"""
One box connection without I/O: bytes in, requests out; responses in,
bytes out.

A connection belongs to one box (PROTOCOL.md 11.1). The box names itself
once, on the first request of a plain connection or in the C{SECURE ON}
block of an encrypted one; later requests carry only per-request headers
and are answered for that box. A request that names another SSID is refused
and the connection closed: a ticket earned by one box never serves another.

A ticket travels in clear in every C{SECURE ON} block, so holding one proves
nothing; a connection encrypted with the ticket's own keys does (or one on
which the server issued it, to a box that had just proved itself there).
Each request says which (C{Request.keysProven}).

L{BoxConnection} keeps that identity, the connection's ticket, and its RC4
streams with the choice of keys they start from; L{WTVPProtocol} feeds it
the bytes it reads and writes what it returns.
"""

from __future__ import annotations

from operator import itemgetter

from twisted.logger import Logger

from wtvserv.crypto.rc4 import ServerStreams, parse_incarnation
from wtvserv.directory import ServiceDirectory, backThroughLogin
from wtvserv.interfaces import ISessionKeyRegistry, ITicketAuthority
from wtvserv.ssid import SSIDPolicy
from wtvserv.tickets import ExpiredTicket, Ticket, TicketError
from wtvserv.wire import (
    SECURE_ON,
    BodyBudget,
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

#: Headers that describe one request, not the box: a box sends them on every
#: request (PROTOCOL.md 11.1), so they never stand in for a later request's.
PER_REQUEST_HEADERS = frozenset(name.lower() for name in (
    "Referer", "wtv-request-type", "wtv-system-cpuspeed", "wtv-system-sysconfig",
    "wtv-disk-size", "wtv-incarnation", "wtv-client-address", "wtv-challenge-response",
    "wtv-show-time", "Content-type", "Content-length"))

SSID_HEADER = "wtv-client-serial-number"


class Refusal(Exception):
    """
    The connection cannot go on: answer C{status message} and close, or
    with C{relogin}, send the box back through login (headers only, no
    dialog). C{note} says why, for the log (never the box's own bytes).
    """

    def __init__(self, status: int, message: str, note: str, relogin: bool = False) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.note = note
        self.relogin = relogin

    def response(self, directory: ServiceDirectory) -> Response:
        """@return: what the box is answered, given the services it may be told of."""
        if self.relogin:
            # An answer to a SECURE ON, so marked as one (PROTOCOL.md 2.5); no body.
            return Response(headers=[("wtv-encrypted", "true"), *backThroughLogin(directory)],
                            close=True)
        return errorResponse(self.status, self.message, close=True)


def identityOf(headers: Headers) -> Headers:
    """@return: the headers of C{headers} that say who the box is."""
    return Headers([(name, value) for name, value in headers
                    if name.lower() not in PER_REQUEST_HEADERS])


def _without(headers: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """
    @param name: a lower-case header name.
    @return: C{headers} without those named C{name} in any case. Most
        responses have none, and a final login response some 45 headers:
        all names are lower-cased at once to find that out, not one by one.
    """
    try:
        names = "\n".join(map(itemgetter(0), headers)).lower()
    except TypeError:           # a name that is no str: look at each, as below
        names = name
    if name not in names:
        return headers
    return [header for header in headers if header[0].lower() != name]


class BoxConnection:
    """
    What one TCP connection knows of its box.

    @ivar ssid: the SSID the connection belongs to, once a request named it.
    @ivar ticket: the connection's verified ticket (from the box, or issued
        on this connection), or L{None}.
    """

    def __init__(self, tickets: ITicketAuthority, sessions: ISessionKeyRegistry,
                 ssidPolicy: SSIDPolicy, limits: Limits = Limits(), address: str = "",
                 peer: str = "", bodyBudget: BodyBudget | None = None) -> None:
        """
        @param address: the client key (L{wtvserv.clients}) requests carry.
        @param bodyBudget: shared by every connection of the process.
        """
        self.tickets = tickets
        self.sessions = sessions
        self.ssidPolicy = ssidPolicy
        self.address = address
        self.peer = peer
        self.ssid: str | None = None
        self.loggedSSID = "-"         # the SSID as the log shows it, made once
        self.ticket: Ticket | None = None
        self._ticketError: TicketError | None = None
        self._identity = Headers()
        self._parser = RequestParser(limits, bodyBudget)
        self._streams: ServerStreams | None = None
        self._streamKeys: tuple[bytes, bytes] | None = None
        self._issuedHere: Ticket | None = None
        self._undecided: tuple[list[tuple[bytes, bytes]], int] | None = None
        self._held = b""
        self._askedSecure = False     # a SECURE ON block came, keyed or not
        self._incarnation: tuple[str | None, int | None] = (None, None)  # text, value

    # Bytes in, requests out

    @property
    def secure(self) -> bool:
        return self._streams is not None

    @property
    def awaitingBytes(self) -> bool:
        """Whether part of a request is in: unparsed bytes, or a head awaiting its body."""
        return self._parser.midRequest or bool(self._held)

    @property
    def bodyReceived(self) -> int | None:
        """Body bytes in so far of a request whose head is in, or L{None}."""
        return self._parser.bodyReceived

    def close(self) -> None:
        """The connection is gone: what it held of a body no longer counts."""
        self._parser.close()

    def receive(self, data: bytes) -> None:
        """Take bytes the box sent: ciphertext once the connection is secure."""
        if self._undecided is not None:
            self._chooseKeys(data)
        else:
            self._parser.feed(self._streams.decrypt(data) if self._streams else data)

    def nextRequest(self) -> Request | None:
        """
        @return: the next whole request, with the connection's identity and
            ticket attached; L{None} until more bytes come. A C{SECURE ON}
            block is taken here, never returned.
        @raise Refusal: the request is malformed, or not this box's.
        """
        while True:
            try:
                request = self._parser.next()
            except WireError as error:
                raise Refusal(error.status, error.message, "malformed request") from None
            if request is None:
                return None
            if request.method != SECURE_ON:
                return self._attach(request)
            self._secureOn(request)
            if self._undecided is not None:
                return None

    def _attach(self, request: Request) -> Request:
        own = request.headers
        bound = self._claim(own, "request")
        request.headers = own.withFallback(self._identity)
        request.secure = self.secure
        request.peer = self.peer
        request.address = self.address
        request.loggedSSID = self.loggedSSID
        # The request that bound the connection gave it its ticket already.
        self._attachTicket(request, None if bound else own.get("wtv-ticket"))
        if self._streams is not None:
            self._followIncarnation(own.get("wtv-incarnation"))
        return request

    def _claim(self, headers: Headers, where: str) -> bool:
        """
        Bind the connection to the SSID C{headers} name, if it is the first
        to name one; refuse a different SSID than the one bound.

        @return: whether C{headers} bound the connection just now.
        """
        ssid = headers.get(SSID_HEADER)
        if ssid is None:
            return False
        if self.ssid is None:
            self.ssid = ssid
            self.loggedSSID = self.ssidPolicy.forLog(ssid)
            self._identity = identityOf(headers)
            self._adoptTicket(headers.get("wtv-ticket"))
            return True
        if ssid != self.ssid:
            raise Refusal(400, "Your box's serial number changed. Please connect again.",
                          f"{where} names {self.ssidPolicy.forLog(ssid)} on a connection "
                          f"of {self.loggedSSID}")
        return False

    def _adoptTicket(self, text: str | None) -> None:
        """Make C{text} the connection's ticket, or remember why it is not one."""
        if not text:
            return
        try:
            self.ticket = self.tickets.verify(text, self.ssid)
            self._ticketError = None
        except ExpiredTicket as error:
            self.ticket, self._ticketError = error.ticket, error
        except TicketError as error:
            self.ticket, self._ticketError = None, error

    def _attachTicket(self, request: Request, ownTicket: str | None) -> None:
        """
        The request's ticket: its own C{wtv-ticket} header if it has one,
        else the connection's. A ticket is only ever another box's by
        mistake or malice, so one whose SSID is not the request's is none.
        """
        if ownTicket and self.ssid:
            try:
                request.ticket = self.tickets.verify(ownTicket, self.ssid)
                request.keysProven = self._proves(request.ticket)
            except TicketError as error:
                request.ticketError = error
            return
        if self.ticket is not None and self.tickets.expired(self.ticket):
            self._ticketError = self._ticketError or ExpiredTicket(ticket=self.ticket)
        if self._ticketError is not None:
            request.ticketError = self._ticketError
        elif self.ticket is not None and self.ticket.ssid == self.ssid:
            request.ticket = self.ticket
            request.keysProven = self._proves(self.ticket)

    def _proves(self, ticket: Ticket) -> bool:
        """
        Whether this connection shows its box holds C{ticket}'s keys: it is
        encrypted with them, or the ticket was issued on it (the box had
        just answered a challenge on a connection it encrypts).
        """
        if self._streams is None:
            return False
        return ticket == self._issuedHere or self._streamKeys == (ticket.key1, ticket.key2)

    def _followIncarnation(self, text: str | None) -> None:
        """A new incarnation inside an encrypted request re-keys both streams."""
        if not text:
            return
        if text != self._incarnation[0]:
            # A box sends the same text on request after request: read it once.
            self._incarnation = (text, parse_incarnation(text))
        incarnation = self._incarnation[1]
        if incarnation is not None and incarnation != self._streams.incarnation:
            self._streams.rekey(incarnation)

    # SECURE ON

    def _secureOn(self, block: Request) -> None:
        """
        Start (or, when the box sends it again, re-key) encryption.

        The keys may be those of the ticket in the block, of a challenge
        the box has just been sent, or of its last answered one: a box that
        answers a new challenge may already encrypt with the new keys while
        it still presents its old ticket. When there is more than one
        candidate, the first ciphertext bytes decide (see L{_chooseKeys}).
        """
        self._askedSecure = True
        ssid = block.headers.get(SSID_HEADER)
        incarnation = parse_incarnation(block.headers.get("wtv-incarnation", "0"))
        if not ssid or incarnation is None:
            raise Refusal(400, "The secure connection request was not understood.",
                          "SECURE ON without an SSID or a valid incarnation")
        refusal = self.ssidPolicy.refusal(ssid)
        if refusal is not None:
            raise Refusal(*refusal)
        bound = self._claim(block.headers, "SECURE ON")
        ticketText = block.headers.get("wtv-ticket")
        if ticketText and not bound:
            self._adoptTicket(ticketText)
        if self._ticketError is not None and not isinstance(self._ticketError, ExpiredTicket):
            # Another server's ticket, or a damaged one: no keys to read the
            # box by, and nothing it proves. Only a new login helps.
            raise Refusal(403, self._ticketError.message,
                          f"SECURE ON of {self.ssidPolicy.forLog(ssid)} sent back through "
                          f"login: {self._ticketError.message}", relogin=True)
        candidates = self._candidateKeys(ssid, bool(ticketText))
        if self._streams is not None:
            self._streams = ServerStreams(*candidates[0], incarnation)
            self._streamKeys = candidates[0]
            return
        self._undecided = (candidates, incarnation)
        self._chooseKeys(self._parser.takeBuffered())

    def _candidateKeys(self, ssid: str, presented: bool) -> list[tuple[bytes, bytes]]:
        """@return: the key pairs the box may be using, most likely first."""
        candidates = []
        if presented and self.ticket is not None:
            candidates.append((self.ticket.key1, self.ticket.key2))
        sessions = self.sessions
        pending = sessions.pendingChallenge(ssid, self.address)
        for keys in (pending and (pending.key1, pending.key2), sessions.sessionKeys(ssid)):
            if keys and keys not in candidates:
                candidates.append(keys)
        if not candidates:
            raise Refusal(403, "Your session has ended. Please connect again.",
                          f"SECURE ON refused for {self.ssidPolicy.forLog(ssid)}: "
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
        held, self._held = self._held, b""
        self._undecided = None
        for keys in candidates:
            streams = ServerStreams(*keys, incarnation)
            start = streams.decrypt(held[:4])
            if start in _REQUEST_STARTS or len(candidates) == 1:
                break
        else:
            # None fits: decrypt with the likeliest keys, and let the
            # parser refuse what comes out.
            keys = candidates[0]
            streams = ServerStreams(*keys, incarnation)
            start = streams.decrypt(held[:4])
        self._streams, self._streamKeys = streams, keys
        self._parser.feed(start + streams.decrypt(held[4:]))

    # Responses out

    def frame(self, response: Response, request: Request | None = None) -> bytes:
        """
        @return: C{response} as bytes for the box: on a secure connection
            with C{wtv-encrypted: true} and its body encrypted; with the
            ticket it issues sealed into C{wtv-ticket}, which becomes the
            connection's.
        """
        core: list[tuple[str, str]] = []
        if self._streams is not None or self._askedSecure:
            core.append(("wtv-encrypted", "true"))
            response.headers = _without(response.headers, "wtv-encrypted")
            if self._streams is None:
                # A SECURE ON refused before its keys were known: the box
                # expects the flag (PROTOCOL.md 2.5); a body could only go in clear.
                response.body = b""
        elif response.body and (response.header("wtv-encrypted") or "").lower() == "true":
            log.error("{path}: a body under wtv-encrypted: true on a plain connection "
                      "was not sent", path=request.path if request else "-")
            response = errorResponse(500, "The service ran into a technical problem. "
                                          "Please try again.", close=True)
        if response.ticket is not None:
            text, self.ticket = self.tickets.seal(response.ticket)
            self._issuedHere = self.ticket if self._streams is not None else None
            self._ticketError = None
            core.append(("wtv-ticket", text))
        body = response.body
        head = serializeHead(response, core, len(body))
        if self._streams is not None and body:
            body = self._streams.encrypt(body)
        return head + body
