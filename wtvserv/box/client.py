"""
A simulated WebTV box that speaks WTVP over real TCP, with asyncio.

Layers, bottom up:

 - L{format_request} / L{read_response}: one request or response on the
   wire, including SECURE ON bodies (RC4), LZPF and deflate.
 - L{ServiceConnection}: one kept-alive TCP connection to one service, plain
   or secure, with its RC4 streams.
 - L{Box}: the box's state (service list, DES key, session keys, ticket,
   incarnation) and the power-on flow that follows what the server says until
   it reaches C{wtv-home:/home}.

Everything is asyncio with no threads and no blocking calls, so one process
can run hundreds of boxes.
"""

from __future__ import annotations

import asyncio
import binascii
import re
import zlib
from base64 import b64decode
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable
from urllib.parse import parse_qsl

from wtvserv.box.forms import (
    Link,
    Page,
    encode_fields,
    parse_page,
    resolve,
    split_url,
    submission,
)
from wtvserv.capabilities import RECEIVE_COMPRESSED, parse_capability_flags
from wtvserv.crypto import lzpf
from wtvserv.crypto.challenge import ChallengeError, answer_challenge
from wtvserv.crypto.rc4 import BoxStreams
from wtvserv.directory import DONT_ENCRYPT_REQUESTS, ServiceEntry
from wtvserv.ssid import ssid_crc
from wtvserv.wire import Headers

PREREGISTER_URL = "wtv-1800:/preregister?scriptless-visit-reason=10&0"
RELOGIN_URL = "wtv-1800:/preregister?relogin=true"


DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_STEPS = 40
#: A navigation repeated this many times during power-on is a loop.
LOOP_LIMIT = 3
#: The most header lines a response may have.
MAX_HEADER_LINES = 500
#: How many bytes to ask for at a time while reading an LZPF body.
_CHUNK = 4096

FORM_URLENCODED = "application/x-www-form-urlencoded"


class BoxError(Exception):
    """The box could not go on: a bad status, header, body, or a timeout."""


class ConnectionClosed(BoxError):
    """
    The server closed the connection.

    @ivar before_response: C{True} when not a byte of the response arrived,
        so the request may be retried on a new connection.
    """

    def __init__(self, message: str, before_response: bool = False):
        super().__init__(message)
        self.before_response = before_response


class _StaleConnection(ConnectionClosed):
    """A kept-alive connection was closed before it answered: retry."""


# -- Profiles --------------------------------------------------------------

def make_ssid(unit: int, box_type: str = "81", manufacturer: str = "00",
              region: str = "B002") -> str:
    """
    @param unit: the 6-hex-digit unit id, e.g. a load generator's box number.
    @return: a 16-hex-digit SSID with a valid check byte.
    """
    head = f"{box_type}{unit & 0xFFFFFF:06X}{manufacturer}{region}"
    return head + ssid_crc(head)


@dataclass(frozen=True)
class BoxProfile:
    """
    Who the box is (the identity headers of PROTOCOL.md 11) and what its user
    types during registration and login. The defaults are a WebTV Plus
    without compression (scenario A of the vectors); see L{make_profile}.

    @ivar kind: C{plus}, C{classic} or C{new}; informational.
    @ivar incarnation: C{wtv-incarnation} of the first request.
    @ivar disk_size: C{wtv-disk-size}, or L{None} for a diskless box.
    @ivar script_id: C{wtv-script-id} (with C{script_mod}), sent to wtv-1800.
    @ivar password: the password chosen at registration (may be empty).
    @ivar choose_user: the username to pick on a choose-user page, or L{None}
        for the first user.
    @ivar login_password: the password typed on a password page; L{None}
        means C{password}.
    @ivar extra_form_values: more form field values by name.
    """

    kind: str = "plus"
    ssid: str = "8112345600B0026b"
    incarnation: int = 1
    rom_type: str = "US-LC2-disk-0MB-8MB"
    system_version: str = "7181"
    capability_flags: str = "10935ffc87"
    bootrom_version: str = "2046"
    connect_session_id: str = "0a1b2c3d"
    user_agent: str = "Mozilla/4.0 WebTV/2.2.6.1 (compatible; MSIE 4.0)"
    chip_version: str = "51511296"
    cpu_speed: str = "166187148"
    sysconfig: str = "4163328"
    disk_size: str | None = "8006"
    client_address: str = "0.0.0.0"
    accept_language: str = "en"
    script_id: str = "12345"
    script_mod: str = "67890"
    human_name: str = "Web Tester"
    username: str = "webtester"
    password: str = ""
    contact: str = "webtester@example.com"
    choose_user: str | None = None
    login_password: str | None = None
    extra_form_values: tuple[tuple[str, str], ...] = ()

    @property
    def can_receive_compressed(self) -> bool:
        """@return: whether capability bit 3 is set."""
        return RECEIVE_COMPRESSED in parse_capability_flags(self.capability_flags)

    def identity_headers(self) -> list[tuple[str, str]]:
        """
        @return: the box identity headers, without C{Accept-Language}, the
            SSID and the incarnation.
        """
        headers = [
            ("wtv-connect-session-id", self.connect_session_id),
            ("wtv-system-version", self.system_version),
            ("wtv-capability-flags", self.capability_flags),
            ("wtv-client-bootrom-version", self.bootrom_version),
            ("wtv-client-rom-type", self.rom_type),
            ("wtv-system-chipversion", self.chip_version),
            ("User-Agent", self.user_agent),
            ("wtv-system-cpuspeed", self.cpu_speed),
            ("wtv-system-sysconfig", self.sysconfig),
        ]
        if self.disk_size is not None:
            headers.append(("wtv-disk-size", self.disk_size))
        headers.append(("wtv-client-address", self.client_address))
        return headers

    def form_values(self) -> dict[str, str]:
        """@return: what the user types into form fields, by field name."""
        typed = self.password if self.login_password is None \
            else self.login_password
        values = {
            "subscriber_name": self.human_name,
            "subscriber_username": self.username,
            "subscriber_password": self.password,
            "subscriber_password_again": self.password,
            "subscriber_contact": self.contact,
            "agreement": "on",
            "password": typed,
        }
        values.update(self.extra_form_values)
        return values


_CLASSIC = dict(
    kind="classic", ssid="91ABCDEF00B00256", rom_type="bf0app",
    system_version="1235", capability_flags="1009c93bef",
    bootrom_version="105", connect_session_id="11223344",
    user_agent="Mozilla/4.0 WebTV/1.4.2 (compatible; MSIE 3.0)",
    chip_version="16842752", cpu_speed="112790760", sysconfig="736935823",
    disk_size=None)

_NEW = dict(
    kind="new", ssid="81C0FFEE10B00254", system_version="16276",
    capability_flags="10935ffc8f", connect_session_id="55667788",
    user_agent="Mozilla/4.0 WebTV/2.8.2 (compatible; MSIE 4.0)")

_PROFILES = {"plus": {}, "classic": _CLASSIC, "new": _NEW}
PROFILE_KINDS = tuple(_PROFILES)


def make_profile(kind: str = "plus", **changes) -> BoxProfile:
    """
    @param kind: C{plus} (no compression), C{classic} (bf0app, old build,
        compression bit: the server should answer with LZPF) or C{new}
        (compression bit and a new build: deflate).
    @param changes: L{BoxProfile} fields to override.
    @raise ValueError: for an unknown C{kind}.
    """
    if kind not in _PROFILES:
        raise ValueError(f"unknown box profile {kind!r}; "
                         f"choose from {', '.join(PROFILE_KINDS)}")
    return replace(BoxProfile(**_PROFILES[kind]), **changes)


# -- Messages --------------------------------------------------------------

@dataclass
class Response:
    """
    One response as the box saw it.

    @ivar body: the body after decryption and decompression.
    @ivar compression: C{"lzpf"}, C{"deflate"} or L{None}.
    @ivar encrypted: whether it came on a secure (SECURE ON) connection.
    @ivar wire_length: body bytes actually read from the socket.
    """

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    url: str = ""
    method: str = "GET"
    compression: str | None = None
    encrypted: bool = False
    wire_length: int = 0

    @property
    def text(self) -> str:
        """@return: the body as text (UTF-8, else Latin-1)."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return self.body.decode("latin-1")

    def summary(self) -> str:
        """@return: one log line, e.g. C{<- 200 OK 598 bytes (lzpf)}."""
        notes = [note for note in (self.compression,
                                   "encrypted" if self.encrypted else None)
                 if note]
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"<- {self.status} {self.reason} {len(self.body)} bytes{extra}"


def format_request(method: str, target: str,
                   headers: Iterable[tuple[str, str]],
                   body: bytes = b"") -> bytes:
    """
    @param target: the URL, or C{""} for the C{SECURE ON} line.
    @return: C{METHOD target}, the headers and a blank line, each ending in
        CRLF, then C{body}.
    """
    first = f"{method} {target}" if target else method
    lines = [first] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def body_headers(body: bytes | None,
                 content_type: str = FORM_URLENCODED) -> list[tuple[str, str]]:
    """@return: C{Content-type} and C{Content-length} for a body, if any."""
    if body is None:
        return []
    return [("Content-type", content_type), ("Content-length", str(len(body)))]


def parse_service(value: str) -> "ServiceEntry | None":
    """
    @param value: one C{wtv-service} header value.
    @return: the entry, or L{None} for C{reset}.
    @raise BoxError: when C{name}, C{host} or C{port} is missing or bad.
    """
    if value.strip().lower() == "reset":
        return None
    try:
        return ServiceEntry.fromHeader(value)
    except ValueError:
        raise BoxError(f"bad wtv-service header: {value!r}") from None


# -- Reading responses -----------------------------------------------------

async def _timed(awaitable, timeout: float, what: str,
                 before_response: bool = False):
    """
    Await a read or write with a timeout, turning failures into L{BoxError}.
    """
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError:
        raise BoxError(f"timed out after {timeout:g} s waiting for {what}") \
            from None
    except asyncio.IncompleteReadError:
        raise ConnectionClosed(f"connection closed in the middle of {what}") \
            from None
    except (asyncio.LimitOverrunError, ValueError):
        raise BoxError(f"line too long in {what}") from None
    except OSError as error:
        raise ConnectionClosed(f"connection lost during {what}: {error}",
                               before_response) from None


def _parse_status(line: bytes) -> tuple[int, str]:
    """@return: code and reason of a C{200 OK} status line (no HTTP/x.y)."""
    text = line.decode("latin-1").rstrip("\r\n")
    code, _, reason = text.partition(" ")
    if len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise BoxError(f"bad status line: {text!r}")
    return int(code), reason.strip()


def _parse_header(line: bytes) -> tuple[str, str]:
    text = line.decode("latin-1").rstrip("\r\n")
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise BoxError(f"bad header line: {text!r}")
    return name.strip(), value.strip()


async def _read_head(reader: asyncio.StreamReader,
                     timeout: float) -> tuple[int, str, Headers]:
    """Read the status line and the headers up to the blank line."""
    line = await _timed(reader.readline(), timeout, "the status line", True)
    if not line:
        raise ConnectionClosed("the server closed the connection without "
                               "answering", before_response=True)
    status, reason = _parse_status(line)
    headers = []
    while True:
        line = await _timed(reader.readline(), timeout, "the headers")
        if not line:
            raise ConnectionClosed("connection closed inside the headers")
        if line in (b"\n", b"\r\n"):
            return status, reason, Headers(headers)
        if len(headers) >= MAX_HEADER_LINES:
            raise BoxError("too many header lines")
        headers.append(_parse_header(line))


def _content_length(headers: Headers) -> int:
    value = headers.get("Content-length")
    if value is None:
        raise BoxError("the response has no Content-length")
    if not (value.isascii() and value.isdigit()):
        raise BoxError(f"bad Content-length: {value!r}")
    return int(value)


async def _read_lzpf(reader: asyncio.StreamReader, expected: int,
                     decrypt: Callable[[bytes], bytes],
                     timeout: float) -> tuple[bytes, int]:
    """
    Read an LZPF body whose end only the decoder can find.

    @return: the decoded body and the number of wire bytes read.
    """
    data = bytearray()
    while True:
        try:
            output, used = lzpf.decode(bytes(data), expected)
        except lzpf.IncompleteStream:
            pass
        except lzpf.LZPFError as error:
            raise BoxError(f"corrupt LZPF body: {error}") from None
        else:
            if used != len(data):
                raise BoxError(f"{len(data) - used} bytes follow the LZPF "
                               "stream")
            return output, used
        chunk = await _timed(reader.read(_CHUNK), timeout, "the LZPF body")
        if not chunk:
            raise ConnectionClosed("connection closed inside the LZPF body")
        data += decrypt(chunk)


def _inflate(data: bytes) -> bytes:
    """@return: C{data} inflated as zlib, or else as raw deflate."""
    for window in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        try:
            return zlib.decompress(data, window)
        except zlib.error:
            continue
    raise BoxError("the deflate body does not inflate")


async def read_response(reader: asyncio.StreamReader,
                        streams: BoxStreams | None = None,
                        timeout: float = DEFAULT_TIMEOUT) -> Response:
    """
    Read one response: status line, LF or CRLF headers, then the body.

    @param streams: the connection's RC4 streams when it is secure; the body
        is then decrypted with the continuing server-to-box stream and the
        response must say C{wtv-encrypted: true}.
    @raise BoxError: on a malformed response, a timeout or a bad body.
    """
    status, reason, headers = await _read_head(reader, timeout)
    secure = streams is not None
    if secure and headers.get("wtv-encrypted", "").lower() != "true":
        raise BoxError("a response on a secure connection lacks "
                       "wtv-encrypted: true")
    decrypt = streams.decrypt if secure else (lambda data: data)
    length = _content_length(headers)
    response = Response(status, reason, headers, encrypted=secure)
    if "wtv-lzpf" in headers:
        response.body, response.wire_length = await _read_lzpf(
            reader, length, decrypt, timeout)
        response.compression = "lzpf"
        return response
    wire = await _timed(reader.readexactly(length), timeout, "the body")
    response.wire_length = length
    response.body = decrypt(wire)
    encoding = headers.get("Content-Encoding", "").lower()
    if encoding == "deflate":
        response.body = _inflate(response.body)
        response.compression = "deflate"
    return response


# -- One connection --------------------------------------------------------

class ServiceConnection:
    """
    One kept-alive TCP connection to one service.

    A secure connection sends its SECURE ON block (plaintext) right before
    its first request; every request after that block, the first included,
    is encrypted with the one box-to-server stream, and every response body
    is decrypted with the one server-to-box stream.

    @ivar requests: how many requests were sent on this connection.
    """

    def __init__(self, entry: ServiceEntry, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter,
                 streams: BoxStreams | None = None, secure_on: bytes = b"",
                 timeout: float = DEFAULT_TIMEOUT):
        self.entry = entry
        self.streams = streams
        self.requests = 0
        self._reader = reader
        self._writer = writer
        self._secure_on = secure_on
        self._timeout = timeout

    @classmethod
    async def open(cls, entry: ServiceEntry, timeout: float = DEFAULT_TIMEOUT,
                   streams: BoxStreams | None = None,
                   secure_on: bytes = b"") -> "ServiceConnection":
        """
        Connect to C{entry}'s host and port.

        @param secure_on: the SECURE ON block, for a secure connection.
        @raise BoxError: when the connection cannot be made in time.
        """
        where = f"{entry.name} at {entry.host}:{entry.port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(entry.host,
                                                               entry.port)
        except TimeoutError:
            raise BoxError(f"timed out after {timeout:g} s connecting to "
                           f"{where}") from None
        except OSError as error:
            reason = error.strerror or error
            raise BoxError(f"cannot connect to {where}: {reason}") from None
        return cls(entry, reader, writer, streams, secure_on, timeout)

    @property
    def secure(self) -> bool:
        """@return: whether this connection uses SECURE ON."""
        return self.streams is not None

    @property
    def usable(self) -> bool:
        """@return: whether the connection still looks open."""
        return not (self._writer.is_closing() or self._reader.at_eof())

    async def exchange(self, request: bytes) -> Response:
        """
        Send one request (plaintext; encrypted here on a secure connection)
        and read its response. Closes the connection after a
        C{Connection: close} response.
        """
        data = request
        if self.secure:
            data = self._secure_on + self.streams.encrypt(request)
            self._secure_on = b""
        self.requests += 1
        self._writer.write(data)
        await _timed(self._writer.drain(), self._timeout, "sending", True)
        response = await read_response(self._reader, self.streams,
                                       self._timeout)
        if response.headers.get("Connection", "").lower() == "close":
            self.close()
        return response

    def close(self) -> None:
        """Close the socket (no waiting)."""
        self._writer.close()

    async def wait_closed(self) -> None:
        """Wait (briefly) until the socket is closed; never raises."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._writer.wait_closed()
        except OSError:
            pass


# -- The box ---------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One navigation: a request the box decides to make."""

    method: str
    url: str
    body: bytes | None = None


def _is_client_url(url: str) -> bool:
    return url.strip().lower().startswith("client:")


def _is_relogin(url: str) -> bool:
    return url.strip().lower().split("?")[0] in ("client:relogin",
                                                 "client:relog")


def _is_home(response: Response) -> bool:
    service, path, _ = split_url(response.url)
    return (service == "wtv-home" and path == "/home"
            and response.status == 200 and bool(response.body))


def _is_preregister(url: str) -> bool:
    service, path, _ = split_url(url)
    return service == "wtv-1800" and path == "/preregister"


_FORM_FIELDS = {"subscriber_name", "subscriber_username", "password",
                "subscriber_password", "agreement"}


def _check(response: Response) -> None:
    """Fail on what power-on cannot accept in a response."""
    if not 200 <= response.status < 400:
        raise BoxError(f"{response.status} {response.reason}")
    if (_is_preregister(response.url)
            and "wtv-initial-key" not in response.headers):
        raise BoxError("no wtv-initial-key in the response")


def _user_matches(link: Link, wanted: str) -> bool:
    """
    @return: whether C{link} names user C{wanted}: as a whole word of its
        text (e.g. C{Kid (kiddo)}) or as a value in its query.
    """
    wanted = wanted.casefold()
    words = re.findall(r"[\w-]+", link.text.casefold())
    query = link.href.partition("?")[2]
    values = [value.casefold() for _, value in parse_qsl(query)]
    return wanted in words or wanted in values


class Navigator:
    """
    Decides, like a user at the box, where to go after each response of
    the power-on flow, and notices loops.
    """

    def __init__(self, profile: BoxProfile, log: Callable[[str], object]):
        self.profile = profile
        self.log = log
        self.seen: Counter[Step] = Counter()

    def count(self, step: Step, number: int) -> None:
        """
        Note that C{step} is about to be made.

        @raise BoxError: when it is made for the L{LOOP_LIMIT}th time.
        """
        self.seen[step] += 1
        if self.seen[step] >= LOOP_LIMIT:
            raise BoxError(f"step {number}: loop: {step.method} {step.url} "
                           f"requested {self.seen[step]} times")

    def next_step(self, response: Response) -> Step:
        """
        @return: where to go next: a C{Location} (3xx) or C{wtv-visit}, else
            what the page offers.
        @raise BoxError: when there is nowhere to go.
        """
        target = self._redirect_target(response)
        if target is not None:
            return Step("GET", target)
        step = self._page_step(response)
        if step is None:
            raise BoxError("nothing to follow: no wtv-visit, Location, form, "
                           "link or refresh")
        return step

    def _redirect_target(self, response: Response) -> str | None:
        """
        @return: the first C{Location} (3xx only) or C{wtv-visit} URL that
            is not an ignored C{client:} URL; C{client:relogin} means the
            wtv-1800 relogin URL.
        """
        candidates = response.headers.getAll("wtv-visit")
        if 300 <= response.status < 400:
            candidates = response.headers.getAll("Location") + candidates
        for url in candidates:
            if _is_relogin(url):
                self.log(f".. {url}: back to wtv-1800")
                return RELOGIN_URL
            if _is_client_url(url):
                self.log(f".. ignoring {url}")
                continue
            return resolve(response.url, url)
        return None

    def _page_step(self, response: Response) -> Step | None:
        """@return: the step an HTML page leads to, if any."""
        if response.status != 200 or not response.body:
            return None
        page = parse_page(response.text)
        for choose in (self._choose_user, self._submit_form, self._refresh,
                       self._follow_link):
            step = choose(response.url, page)
            if step is not None:
                return step
        return None

    def _choose_user(self, url: str, page: Page) -> Step | None:
        """On a choose-user page, pick the profile's user (or the first)."""
        links = [link for link in page.links if "user_id=" in link.href]
        if not links:
            return None
        wanted = self.profile.choose_user
        if wanted is None:
            chosen = links[0]
        else:
            matching = [link for link in links if _user_matches(link, wanted)]
            if not matching:
                raise BoxError(f"no user {wanted!r} on the choose-user page")
            chosen = matching[0]
        self.log(f".. choosing user {chosen.text!r}")
        return Step("GET", resolve(url, chosen.href))

    def _submit_form(self, url: str, page: Page) -> Step | None:
        """Fill and submit the form the profile knows fields of (or the
        first form)."""
        if not page.forms:
            return None
        known = [form for form in page.forms if form.names() & _FORM_FIELDS]
        form = (known or page.forms)[0]
        method, target, body = submission(url, form,
                                          self.profile.form_values())
        self.log(f".. submitting the form to {target}")
        return Step(method, target, body)

    def _refresh(self, url: str, page: Page) -> Step | None:
        if page.refresh is None:
            return None
        self.log(f".. following the refresh to {page.refresh}")
        return Step("GET", resolve(url, page.refresh))

    def _follow_link(self, url: str, page: Page) -> Step | None:
        """Last resort: the first wtv- link not requested yet."""
        for link in page.links:
            target = resolve(url, link.href)
            visited = self.seen[Step("GET", target)]
            if target.startswith("wtv-") and not visited:
                self.log(f".. following the link {link.text!r}")
                return Step("GET", target)
        return None


@dataclass
class _Session:
    """What the box learned from the server (its RAM)."""

    services: dict[str, ServiceEntry] = field(default_factory=dict)
    ticket: str | None = None
    current_key: bytes | None = None
    session_keys: tuple[bytes, bytes] | None = None
    challenge_response: str | None = None


class Box:
    """
    A simulated WebTV box.

    @ivar history: every response received, in order.
    @ivar incarnation: the last C{wtv-incarnation} sent.
    """

    def __init__(self, host: str, port: int,
                 profile: BoxProfile | None = None,
                 log: Callable[[str], object] = print,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_steps: int = DEFAULT_MAX_STEPS):
        """
        @param host: where wtv-1800 listens (the box's first contact).
        @param port: the wtv-1800 port.
        @param log: called with one line per request, response or decision.
        @param timeout: seconds allowed for each connect, read and write.
        """
        self.profile = profile or BoxProfile()
        self.log = log
        self.timeout = timeout
        self.max_steps = max_steps
        self.history: list[Response] = []
        self.incarnation = self.profile.incarnation
        self._incarnation_sent = False
        self._first_contact = ServiceEntry("wtv-1800", host, port,
                                           DONT_ENCRYPT_REQUESTS)
        self._session = _Session()
        self._connections: dict[str, ServiceConnection] = {}

    async def __aenter__(self) -> "Box":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # State shown to tests.

    @property
    def services(self) -> dict[str, ServiceEntry]:
        """@return: the current service list, by name."""
        return self._session.services

    @property
    def ticket(self) -> str | None:
        """@return: the last C{wtv-ticket} the server set."""
        return self._session.ticket

    @property
    def session_keys(self) -> tuple[bytes, bytes] | None:
        """@return: K1 and K2 from the last challenge."""
        return self._session.session_keys

    @property
    def current_key(self) -> bytes | None:
        """@return: the box's current DES key."""
        return self._session.current_key

    # Public requests.

    async def get(self, url: str) -> Response:
        """
        GET C{url} and apply what the response sets (keys, ticket, services).
        Any status is returned, not raised.
        """
        return await self._perform(Step("GET", url))

    async def post(self, url: str, data: bytes | str | dict | list,
                   content_type: str | None = None) -> Response:
        """
        POST to C{url}.

        @param data: form fields (a dict or C{(name, value)} pairs, sent
            url-encoded) or a raw body (bytes or text).
        @param content_type: overrides the default C{Content-type}
            (url-encoded for fields, C{text/plain} for a raw body).
        """
        if isinstance(data, (dict, list)):
            body, default_type = encode_fields(data), FORM_URLENCODED
        else:
            body = data.encode("utf-8") if isinstance(data, str) else data
            default_type = "text/plain"
        return await self._perform(Step("POST", url, body),
                                   content_type=content_type or default_type)

    async def close(self) -> None:
        """Close every connection."""
        connections = list(self._connections.values())
        self._connections.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            await connection.wait_closed()

    # The power-on flow.

    async def power_on(self) -> Response:
        """
        Boot: preregister, log in (registering if the server asks), and
        follow the server until C{wtv-home:/home} answers 200 with a body.

        @return: the home page response.
        @raise BoxError: saying which step and URL failed.
        """
        navigator = Navigator(self.profile, self.log)
        step = Step("GET", PREREGISTER_URL)
        for number in range(1, self.max_steps + 1):
            navigator.count(step, number)
            response = await self._perform(step, number)
            try:
                _check(response)
                if _is_home(response):
                    self.log(f"home reached after {number} steps")
                    return response
                step = navigator.next_step(response)
            except BoxError as error:
                raise BoxError(f"step {number}: {step.method} {step.url}: "
                               f"{error}") from None
            if step.url == RELOGIN_URL:
                await self.close()     # a relogin starts on new connections
        raise BoxError(f"gave up after {self.max_steps} steps without "
                       f"reaching wtv-home:/home (last: {step.url})")

    # Doing one request.

    async def _perform(self, step: Step, number: int | None = None,
                       content_type: str = FORM_URLENCODED) -> Response:
        """
        Make the request of C{step}, log it, record and apply the response.
        """
        try:
            response = await self._exchange(step, content_type, number)
            self._absorb(response)
        except BoxError as error:
            where = f"step {number}: " if number else ""
            raise type(error)(f"{where}{step.method} {step.url}: {error}") \
                from None
        self.history.append(response)
        return response

    async def _exchange(self, step: Step, content_type: str,
                        number: int | None) -> Response:
        """Send C{step} and read the response, retrying once on a new
        connection when a kept-alive one turns out to be closed."""
        try:
            return await self._send(step, content_type, number)
        except _StaleConnection:
            self.log(".. the kept-alive connection was closed; retrying")
            return await self._send(step, content_type, number)

    async def _send(self, step: Step, content_type: str,
                    number: int | None) -> Response:
        """
        Send C{step} on the service's connection and read the response.

        @raise _StaleConnection: when a reused connection was closed before
            any byte of the response came.
        """
        service = split_url(step.url)[0]
        entry = self._entry(service)
        connection, opened = await self._connection(service, entry)
        request = self._request_bytes(step, service, connection,
                                      body_headers(step.body, content_type))
        self.log(self._request_line(step, connection, opened, number))
        try:
            response = await connection.exchange(request)
        except ConnectionClosed as error:
            self._drop(service)
            if error.before_response and not opened:
                raise _StaleConnection(str(error)) from None
            raise
        if not connection.usable:
            self._drop(service)
        self._session.challenge_response = None
        response.url, response.method = step.url, step.method
        self.log(response.summary())
        return response

    def _request_line(self, step: Step, connection: ServiceConnection,
                      opened: bool, number: int | None) -> str:
        if not connection.secure:
            mode = "plain"
        elif opened:
            mode = f"SECURE ON, incarnation {self.incarnation}"
        else:
            mode = "secure"
        prefix = f"[{number}] " if number else ""
        return f"{prefix}-> {step.method} {step.url} ({mode})"

    def _entry(self, service: str) -> ServiceEntry:
        """@return: where C{service} lives (its own entry, else C{wtv-*})."""
        services = self._session.services
        entry = services.get(service) or services.get("wtv-*")
        if entry is None and service == "wtv-1800":
            entry = self._first_contact
        if entry is None:
            raise BoxError(f"no wtv-service entry for {service}")
        return entry

    def _wants_secure(self, entry: ServiceEntry) -> bool:
        session = self._session
        return (entry.encrypts and session.session_keys is not None
                and session.ticket is not None)

    async def _connection(
            self, service: str,
            entry: ServiceEntry) -> tuple[ServiceConnection, bool]:
        """
        @return: the kept-alive connection to C{service} if it still fits,
            else a new one; and whether it is new.
        """
        secure = self._wants_secure(entry)
        connection = self._connections.get(service)
        if connection is not None:
            if (connection.usable and connection.entry == entry
                    and connection.secure == secure):
                return connection, False
            self._drop(service)
        connection = await self._open(entry, secure)
        self._connections[service] = connection
        return connection, True

    async def _open(self, entry: ServiceEntry,
                    secure: bool) -> ServiceConnection:
        """Connect; a secure connection gets the next incarnation, its RC4
        streams and its SECURE ON block."""
        if not secure:
            return await ServiceConnection.open(entry, self.timeout)
        incarnation = self._next_incarnation()
        key1, key2 = self._session.session_keys
        streams = BoxStreams(key1, key2, incarnation)
        block = format_request("SECURE ON", "",
                               self._secure_on_headers(incarnation))
        return await ServiceConnection.open(entry, self.timeout, streams,
                                            block)

    def _drop(self, service: str) -> None:
        connection = self._connections.pop(service, None)
        if connection is not None:
            connection.close()

    def _next_incarnation(self) -> int:
        """
        @return: the incarnation for the next plaintext request or secure
            connection: the profile's value first, then one more each time.
        """
        if self._incarnation_sent:
            self.incarnation += 1
        self._incarnation_sent = True
        return self.incarnation

    # Request headers.

    def _request_bytes(self, step: Step, service: str,
                       connection: ServiceConnection,
                       extra: list[tuple[str, str]]) -> bytes:
        """@return: the request, with the headers its connection needs."""
        if connection.secure:
            headers = self._inner_headers()
        else:
            headers = self._plain_headers(service)
        return format_request(step.method, step.url, headers + extra,
                              step.body or b"")

    def _challenge_header(self) -> list[tuple[str, str]]:
        response = self._session.challenge_response
        return [("wtv-challenge-response", response)] if response else []

    def _plain_headers(self, service: str) -> list[tuple[str, str]]:
        """
        @return: the headers of a plaintext request: the full identity, the
            next incarnation, the ticket once the box has one.
        """
        profile, session = self.profile, self._session
        headers = [("wtv-request-type", "primary"),
                   ("Accept-Language", profile.accept_language)]
        headers += profile.identity_headers()
        headers += [("wtv-client-serial-number", profile.ssid),
                    ("wtv-encryption", "true"),
                    ("wtv-incarnation", str(self._next_incarnation()))]
        if session.ticket is not None:
            headers.append(("wtv-ticket", session.ticket))
        headers += self._challenge_header()
        if service == "wtv-1800":
            headers += [("wtv-script-id", profile.script_id),
                        ("wtv-script-mod", profile.script_mod)]
        return headers

    def _secure_on_headers(self, incarnation: int) -> list[tuple[str, str]]:
        """@return: the headers of the SECURE ON block (PROTOCOL.md 2.2)."""
        profile = self.profile
        headers = [("Accept-Language", profile.accept_language),
                   ("wtv-ticket", self._session.ticket)]
        headers += profile.identity_headers()
        headers += [("wtv-client-serial-number", profile.ssid),
                    ("wtv-encryption", "true"),
                    ("wtv-incarnation", str(incarnation))]
        return headers

    def _inner_headers(self) -> list[tuple[str, str]]:
        """@return: the request-specific headers of an encrypted request."""
        return ([("wtv-request-type", "primary"), ("wtv-show-time", "0")]
                + self._challenge_header())

    # What responses set.

    def _absorb(self, response: Response) -> None:
        """Apply the key, service list, ticket and challenge of C{response}."""
        headers = response.headers
        initial_key = headers.get("wtv-initial-key")
        if initial_key is not None:
            self._session.current_key = _decode_key(initial_key)
        self._apply_services(headers.getAll("wtv-service"))
        ticket = headers.get("wtv-ticket")
        if ticket:
            self._session.ticket = ticket
        challenge = headers.get("wtv-challenge")
        if challenge:
            self._answer(challenge)

    def _apply_services(self, values: list[str]) -> None:
        services = self._session.services
        for value in values:
            entry = parse_service(value)
            if entry is None:
                services.clear()
            else:
                services[entry.name] = entry

    def _answer(self, challenge: str) -> None:
        session = self._session
        if session.current_key is None:
            raise BoxError("wtv-challenge before any wtv-initial-key")
        try:
            answer = answer_challenge(session.current_key, challenge)
        except ChallengeError as error:
            raise BoxError(f"cannot answer the challenge: {error}") from None
        session.current_key = answer.new_key
        session.session_keys = (answer.key1, answer.key2)
        session.challenge_response = answer.response_b64
        self.log(".. answered the challenge")


def _decode_key(value: str) -> bytes:
    try:
        key = b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 8:
        raise BoxError(f"bad wtv-initial-key: {value!r}")
    return key
