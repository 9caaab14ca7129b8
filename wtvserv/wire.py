"""
WTVP framing without I/O: requests in, responses out.

Boxes send C{GET url}, C{POST url} or C{SECURE ON}, headers ending in CRLF (LF
and the early C{\\n\\r\\n} are accepted too), and for a POST a body of
C{Content-length} bytes. Servers answer with a status line that has no
protocol version, LF line ends, and C{Content-length} counted in bytes.

Every size has a limit; what breaks one, or is malformed, raises
L{WireError}, whose C{status} and C{message} are the WTVP error to send back
before closing the connection.

The per-request work (reading a head, writing one) has two implementations
with the same results and the same errors: a C accelerator (C{_wire_c},
built by C{pip install} where a compiler is present) and the pure Python
here. L{IMPLEMENTATION} says which one this process uses, and
L{FALLBACK_REASON} why it is not the C one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator
from urllib.parse import parse_qsl, unquote_to_bytes

from wtvserv.accelerators import importedOrWhyNot

SECURE_ON = "SECURE ON"
METHODS = frozenset({"GET", "POST", "PUT"})
_TERMINATORS = (b"\r\n\r\n", b"\n\r\n", b"\n\n")
_HTTP_SUFFIX = re.compile(r"\s+HTTP/\d+\.\d+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UNSAFE_IN_HEADER = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True)
class Limits:
    """The largest request the parser accepts, piece by piece."""

    requestLine: int = 4096
    headerCount: int = 64
    headerBlock: int = 16 * 1024
    body: int = 1024 * 1024


class BodyBudget:
    """
    The body bytes every connection of a process together may be waiting
    for. A request's announced C{Content-length} is reserved when its head
    is in, before a byte of the body is kept, and given back once the body
    is whole or the connection is gone; a head that does not fit gets
    C{503}. So stalled uploads cannot fill memory however many there are.
    """

    def __init__(self, limit: int = 16 * 1024 * 1024) -> None:
        self.limit = limit
        self.reserved = 0

    def reserve(self, length: int) -> bool:
        """@return: whether C{length} more bytes fit (and are now reserved)."""
        if self.reserved + length > self.limit:
            return False
        self.reserved += length
        return True

    def release(self, length: int) -> None:
        self.reserved -= length


class WireError(Exception):
    """
    A request that cannot be served: answer C{status message} and close.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


class Headers:
    """
    Headers in arrival order. Repeated names are kept; lookups ignore case.
    """

    __slots__ = ("_items", "_first")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)
        self._first: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """@return: the first value of C{name}, or C{default}."""
        first = self._first
        if first is None:
            first = self._firstValues()
        # Names are mostly asked for as they are kept, in lower case: one
        # look-up then, and lower() only for the rest.
        value = first.get(name)
        return value if value is not None else first.get(name.lower(), default)

    def _firstValues(self) -> dict[str, str]:
        """@return: the first value of each lower-cased name, made once."""
        if self._first is None:
            first: dict[str, str] = {}
            for key, value in self._items:
                first.setdefault(key.lower(), value)
            self._first = first
        return self._first

    @classmethod
    def _made(cls, items: list[tuple[str, str]], first: dict[str, str] | None) -> Headers:
        """Headers over C{items} (taken, not copied) and their lookup table, if made."""
        headers = cls.__new__(cls)
        headers._items, headers._first = items, first
        return headers

    def getAll(self, name: str) -> list[str]:
        """@return: every value of C{name}, in order."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._first = None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def withFallback(self, fallback: Headers) -> Headers:
        """
        @return: headers in which our values come first and those of
            C{fallback} (the SECURE ON block) follow, so a lookup prefers
            the request's own value.
        """
        # The fallback is a connection's, asked for every request: reuse
        # its lookup table rather than lower-case its names again.
        return Headers._made(self._items + fallback._items,
                             {**(fallback._first or fallback._firstValues()),
                              **(self._first or self._firstValues())})


class _computedOnce:
    """
    L{functools.cached_property} without its lock: Python 3.11 takes one on
    each first read, and a request reads a few per answer (3.12 dropped it).
    Computing twice, should two threads race, gives the same value.
    """

    def __init__(self, function: Callable) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __get__(self, instance: object, owner: type | None = None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.function(instance)
        return value


@dataclass
class Request:
    """
    One parsed request. C{secure}, C{ticket}, C{keysProven} (whether the
    connection is encrypted with the ticket's own keys), C{peer}
    (C{host:port}), C{address} (the client key every per-address limit
    counts: the IPv4 address, or the IPv6 network such as
    C{2001:db8:1:2::/64}; see L{wtvserv.clients}), C{loggedSSID} (the SSID
    as logs may show it) and C{started} (when its first byte came) are
    filled in by the connection that received it. C{path}, C{query} and C{form} are worked
    out once, on first use (after the body has arrived).
    """

    method: str
    url: str
    headers: Headers
    body: bytes = b""
    secure: bool = False
    ticket: object = None
    ticketError: object = None
    keysProven: bool = False
    peer: str = ""
    address: str = ""
    loggedSSID: str = "-"
    started: float = 0.0

    @property
    def service(self) -> str:
        """The URL scheme, e.g. C{wtv-head-waiter}."""
        scheme, sep, _ = self.url.partition(":")
        return scheme.lower() if sep else ""

    @_computedOnce
    def path(self) -> str:
        """The percent-decoded path, always starting with C{/}."""
        _, _, rest = self.url.partition(":")
        path = rest.partition("?")[0]
        if not path.startswith("/"):
            path = "/" + path
        if "%" not in path and path.isascii():
            return path     # nothing to decode, as in most paths
        return unquote_to_bytes(path).decode("latin-1")

    @_computedOnce
    def query(self) -> dict[str, str]:
        """Query fields, the first value of each name."""
        return _fields(self.url.partition("?")[2])

    @_computedOnce
    def form(self) -> dict[str, str]:
        """
        Query fields merged with an urlencoded body (the body wins), as
        boxes post forms with either.
        """
        fields = dict(self.query)
        if self.method == "POST" and self.body and b"=" in self.body:
            fields.update(_fields(self.body.decode("latin-1")))
        return fields

    @property
    def ssid(self) -> str | None:
        return self.headers.get("wtv-client-serial-number")


def _fields(text: str) -> dict[str, str]:
    """
    The urlencoded fields of C{text}, the first value of each name: what
    C{parse_qsl(text, keep_blank_values=True, encoding="latin-1")} reads.
    Without a C{%} or C{+} nothing needs decoding (as in most of what boxes
    send), and splitting is all parse_qsl would do.
    """
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="latin-1")
    else:
        pairs = [part.partition("=")[::2] for part in text.split("&") if part]
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


@dataclass
class Response:
    """
    One response. C{contentLength} overrides the byte count of C{body} (LZPF
    announces the uncompressed length); C{ticket} is a ticket the connection
    issues and sends in C{wtv-ticket}.
    """

    status: int = 200
    reason: str = "OK"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    contentType: str = "text/html"
    close: bool = False
    ticket: object = None
    contentLength: int | None = None
    cacheKey: object = None

    def withTicket(self, ticket: object) -> Response:
        """Have the connection issue C{ticket} with this response; returns C{self}."""
        self.ticket = ticket
        return self

    def header(self, name: str) -> str | None:
        """@return: the first value of header C{name} set on this response."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


def _clean(text: str) -> str:
    """Keep a header value on one line: a box must never see injected headers."""
    if "\r" in text or "\n" in text or "\x00" in text:
        return _UNSAFE_IN_HEADER.sub(" ", text)
    return text


def serializeHead(response: Response, coreHeaders: Iterable[tuple[str, str]] = (),
                  bodyLength: int | None = None) -> bytes:
    """
    The status line and headers of C{response}, LF-terminated, in the order
    boxes are used to: status, C{Connection}, the connection's own headers
    (C{wtv-encrypted}, C{wtv-ticket}), the service's headers, then
    C{Content-type} and C{Content-length}.
    """
    length = bodyLength if bodyLength is not None else len(response.body)
    if response.contentLength is not None:
        length = response.contentLength
    head = _formatHead(response, coreHeaders, length)
    # The accelerator takes only ints and strs where they belong; anything
    # else (and its error) is the pure code's.
    return head if head is not None else _formatHeadPython(response, coreHeaders, length)


def _formatHeadPython(response: Response, coreHeaders: Iterable[tuple[str, str]],
                      length: int) -> bytes:
    headers = (*coreHeaders, *response.headers)
    text = _head(response, headers, length, str)
    # Values are almost always clean: look at the whole head once, and
    # clean each line only when something in it would break a line. A
    # clean head has a line break after each of its lines but the last:
    # the status, Connection, the headers, Content-type (Content-length ends it).
    if "\r" in text or "\x00" in text or text.count("\n") != len(headers) + 3:
        text = _head(response, headers, length, _clean)
    return (text + "\n\n").encode("latin-1", "replace")


def _head(response: Response, headers: tuple[tuple[str, str], ...], length: int,
          clean: Callable[[str], str]) -> str:
    lines = [f"{response.status} {clean(response.reason)}",
             "Connection: " + ("close" if response.close else "Keep-Alive")]
    lines += [f"{clean(name)}: {clean(value)}" for name, value in headers]
    lines.append("Content-type: " + clean(response.contentType))
    lines.append(f"Content-length: {length}")
    return "\n".join(lines)


def errorResponse(status: int, message: str, close: bool = False) -> Response:
    """
    A WTVP error: the reason phrase is what the box shows the user, and the
    same sentence goes in a small HTML body for browsers that show pages.
    """
    text = _clean(message)
    body = (f"<html><head><title>{status}</title></head><body>"
            f"{_escapeHTML(text)}</body></html>").encode("latin-1", "replace")
    return Response(status=status, reason=text, body=body, close=close)


def _escapeHTML(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


class RequestParser:
    """
    Turns a byte stream into L{Request}s, one at a time.

    Bytes may arrive split at any point or several requests at once; call
    L{feed} with each read, then L{next} until it returns L{None}.
    """

    def __init__(self, limits: Limits = Limits(), budget: BodyBudget | None = None) -> None:
        """@param budget: where a body's length is reserved while it arrives."""
        self.limits = limits
        self._budget = budget if budget is not None else BodyBudget(limits.body)
        self._buffer = bytearray()
        self._scanned = 0
        self._pending: tuple[Request, int] | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet part of a returned request."""
        return len(self._buffer)

    @property
    def bodyReceived(self) -> int | None:
        """Body bytes in so far of a request whose head is in, or L{None}."""
        return None if self._pending is None else min(len(self._buffer), self._pending[1])

    @property
    def midRequest(self) -> bool:
        """Whether part of a request is in: unparsed bytes, or a head awaiting its body."""
        return self._pending is not None or bool(self._buffer)

    def takeBuffered(self) -> bytes:
        """Remove and return every byte not yet parsed (ciphertext after SECURE ON)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        self._scanned = 0
        self._abandonBody()
        return data

    def close(self) -> None:
        """The stream is gone: give back the budget of a body still arriving."""
        self._abandonBody()

    def _abandonBody(self) -> None:
        if self._pending is not None:
            self._budget.release(self._pending[1])
            self._pending = None

    def next(self) -> Request | None:
        """
        @return: the next complete request, or L{None} until more bytes come.
        @raise WireError: the request is malformed or over a limit.
        """
        if self._pending is None:
            if not self._buffer:
                return None     # the usual second call, after a whole request
            self._skipBlankLines()
            head = _readHead(self._buffer, self._scanned, self.limits)
            if head is None:
                self._scanned = len(self._buffer)
                return None
            bodyStart, method, url, items, first, length = head
            if not self._budget.reserve(length):
                raise WireError(503, "The service is busy. Please try again later.")
            del self._buffer[:bodyStart]
            self._scanned = 0
            self._pending = (Request(method, url, Headers._made(items, first)), length)
        request, length = self._pending
        if len(self._buffer) < length:
            return None
        request.body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._abandonBody()
        return request

    def _skipBlankLines(self) -> None:
        """Stray line ends between requests are harmless; drop them."""
        if self._buffer[:1] in (b"\r", b"\n"):
            self._buffer = bytearray(self._buffer.lstrip(b"\r\n"))
            self._scanned = 0


_Head = tuple[int, str, str, list[tuple[str, str]], dict[str, str], int]


def _readHeadPython(buffer: bytearray, scanned: int, limits: Limits) -> _Head | None:
    """
    The head at the start of C{buffer}, whose first C{scanned} bytes were
    already searched for its end.

    @return: L{None} while the head is incomplete, else where its body
        starts, the method, the URL, the headers in order, the first value
        of each lower-cased name, and the body's length.
    @raise WireError: the head is malformed or over a limit.
    """
    end = _findHeaderEnd(buffer, scanned, limits)
    if end is None:
        _checkIncompleteHead(buffer, limits)
        return None
    headEnd, bodyStart = end
    lines = buffer[:headEnd].decode("latin-1").split("\n")
    requestLine = lines[0].rstrip("\r")
    if len(requestLine) > limits.requestLine:
        raise WireError(414, "The address requested was too long.")
    if len(lines) - 1 > limits.headerCount:
        raise WireError(400, "The request had too many headers.")
    method, url = _parseRequestLine(requestLine)
    items, first = _parseHeaders(lines[1:])
    length = 0 if method == SECURE_ON else _bodyLength(first.get("content-length"), limits)
    return bodyStart, method, url, items, first, length


def _findHeaderEnd(buffer: bytearray, scanned: int, limits: Limits) -> tuple[int, int] | None:
    start = max(0, scanned - 3)
    best: tuple[int, int] | None = None
    for terminator in _TERMINATORS:
        index = buffer.find(terminator, start)
        if index != -1 and (best is None or index + len(terminator) < best[1]):
            best = (index, index + len(terminator))
    if best is not None and best[0] > limits.headerBlock:
        raise WireError(400, "The request headers were too large.")
    return best


def _checkIncompleteHead(buffer: bytearray, limits: Limits) -> None:
    """
    Refuse a head that is already over a limit. Trailing line-end bytes
    may be the start of the head's end, so they do not count: a head
    is judged the same however its bytes were split into reads.
    """
    content = len(buffer) - _trailingLineEnds(buffer)
    if buffer.find(b"\n") == -1 and content > limits.requestLine:
        raise WireError(414, "The address requested was too long.")
    if content > limits.headerBlock:
        raise WireError(400, "The request headers were too large.")


def _bodyLength(text: str | None, limits: Limits) -> int:
    if text is None:
        return 0
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise WireError(400, "The request had an invalid Content-length.")
    length = int(text)
    if length > limits.body:
        raise WireError(413, "The data sent was too large.")
    return length


def _trailingLineEnds(buffer: bytearray) -> int:
    """How many of the last (up to 3) bytes are CR or LF."""
    count = 0
    while count < 3 and count < len(buffer) and buffer[-1 - count] in b"\r\n":
        count += 1
    return count


def _parseRequestLine(line: str) -> tuple[str, str]:
    if line.upper() == SECURE_ON:
        return SECURE_ON, ""
    method, sep, url = line.partition(" ")
    method = method.upper()
    url = _HTTP_SUFFIX.sub("", url.strip())
    if method not in METHODS or not sep or not url or " " in url:
        raise WireError(400, "The request was not understood.")
    if not url.isprintable():
        raise WireError(400, "The request was not understood.")
    return method, url


def _parseHeaders(lines: list[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """
    The header lines of a head, in one pass that also makes their lookup
    table (every request's headers are looked up).
    """
    items, first = [], {}
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not _HEADER_NAME.match(name):
            raise WireError(400, "The request had a malformed header.")
        value = value.strip()
        items.append((name, value))
        first.setdefault(name.lower(), value)
    return items, first


_wire_c, FALLBACK_REASON = importedOrWhyNot("wtvserv._wire_c")
"""C{FALLBACK_REASON}: why the C accelerator is not in use, or L{None} when it is."""

IMPLEMENTATION = "python" if _wire_c is None else "c"
"""C{"c"} or C{"python"}: which code reads and writes heads."""

# The implementation in use: RequestParser and serializeHead call these.
_readHead = _readHeadPython if _wire_c is None else _wire_c.readHead
_formatHead = _formatHeadPython if _wire_c is None else _wire_c.formatHead
