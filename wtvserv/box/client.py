"""
The simulated box: what it learned from the server (its RAM) and the
power-on flow that follows the server until C{wtv-home:/home} answers.

Everything is asyncio with no threads and no blocking calls, so one process
can run hundreds of boxes.
"""

from __future__ import annotations

import binascii
import itertools
import struct
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from wtvserv.box.connection import ServiceConnection, SessionKeys
from wtvserv.box.errors import BoxError, ConnectionClosed
from wtvserv.box.forms import encode_fields, split_url
from wtvserv.box.headers import (
    FORM_URLENCODED,
    request_headers,
    secure_on_headers,
)
from wtvserv.box.messages import (
    DEFAULT_TIMEOUT,
    Response,
    format_request,
    parse_service,
)
from wtvserv.box.navigator import PREREGISTER_URL, RELOGIN_URL, Navigator, Step
from wtvserv.box.profile import BoxProfile
from wtvserv.crypto.challenge import ChallengeError, answer_challenge
from wtvserv.directory import DONT_ENCRYPT_REQUESTS, ServiceEntry

DEFAULT_MAX_STEPS = 40
SCRIPT_TYPES = ("text/tellyscript", "text/dialscript")
#: C{>i I} at offset 12 of a packed script: its id (printed signed, as
#: minisrv's simulator does) and its modification time (PROTOCOL.md 14.2).
_SCRIPT_ID_AND_MOD = struct.Struct(">iI")


class _StaleConnection(ConnectionClosed):
    """A kept-alive connection was closed before it answered: retry."""


def _is_home(response: Response) -> bool:
    service, path, _ = split_url(response.url)
    return (service == "wtv-home" and path == "/home"
            and response.status == 200 and bool(response.body))


def _is_preregister(url: str) -> bool:
    service, path, _ = split_url(url)
    return service == "wtv-1800" and path == "/preregister"


def _check(response: Response) -> None:
    """Fail on what power-on cannot accept in a response."""
    if not 200 <= response.status < 400:
        raise BoxError(f"{response.status} {response.reason}")
    if (_is_preregister(response.url)
            and "wtv-initial-key" not in response.headers):
        raise BoxError("no wtv-initial-key in the response")


def _decode_key(value: str) -> bytes:
    try:
        key = b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 8:
        raise BoxError(f"bad wtv-initial-key: {value!r}")
    return key


@dataclass
class _Session:
    """What the box learned from the server (its RAM)."""

    services: dict[str, ServiceEntry] = field(default_factory=dict)
    ticket: str | None = None
    current_key: bytes | None = None
    session_keys: SessionKeys | None = None
    challenge_response: str | None = None


class Box:
    """
    A simulated WebTV box.

    Headers go as a real box sends them (PROTOCOL.md 11.1): identity once
    per connection, per-request headers on every request, one incarnation
    per connection.

    @ivar history: every response received, in order.
    @ivar incarnation: the incarnation of the newest connection (before
        any, the profile's).
    @ivar tellyscript: the last TellyScript or DialScript the box was sent
        (the packed file), or L{None}. Like a real box it keeps the script
        and names it, from its next connection on, in C{wtv-script-id} and
        C{wtv-script-mod} (its profile's values until then).
    """

    def __init__(self, host: str, port: int,
                 profile: BoxProfile | None = None,
                 log: Callable[[str], object] = print,
                 timeout: float = DEFAULT_TIMEOUT,
                 max_steps: int = DEFAULT_MAX_STEPS,
                 send_every_header: bool = False):
        """
        @param host: where wtv-1800 listens (the box's first contact).
        @param port: the wtv-1800 port.
        @param log: called with one line per request, response or decision.
        @param timeout: seconds allowed for each connect, read and write.
        @param send_every_header: debugging only: put the identity headers
            on every request, not once per connection as real boxes do.
        """
        self.profile = profile or BoxProfile()
        self.log = log
        self.timeout = timeout
        self.max_steps = max_steps
        self.send_every_header = send_every_header
        self.history: list[Response] = []
        self.tellyscript: bytes | None = None
        self.incarnation = self.profile.incarnation
        self._incarnations = itertools.count(self.profile.incarnation)
        self._referer: str | None = None
        self._first_contact = ServiceEntry("wtv-1800", host, port,
                                           DONT_ENCRYPT_REQUESTS)
        self._session = _Session()
        self._connections: dict[str, ServiceConnection] = {}

    async def __aenter__(self) -> Box:
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
    def session_keys(self) -> SessionKeys | None:
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
        self._referer = None          # the box dials in from no page
        return await self.follow(PREREGISTER_URL)

    async def follow(self, url: str) -> Response:
        """
        Go to C{url} as the box's user would, and follow the server from
        there (visits, redirects, refreshes, login pages) until
        C{wtv-home:/home} answers 200 with a body.

        @return: the home page response.
        @raise BoxError: saying which step and URL failed.
        """
        navigator = Navigator(self.profile, self.log)
        step = Step("GET", url)
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
                await self.close()     # a relogin dials in again, afresh
                self._referer = None
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
        self._referer = step.url
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
        headers = self._headers(step, connection, content_type)
        request = format_request(step.method, step.url, headers,
                                 step.body or b"")
        self.log(self._request_line(step, connection, opened, number))
        try:
            response = await connection.exchange(request,
                                                 self._session.session_keys)
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

    def _headers(self, step: Step, connection: ServiceConnection,
                 content_type: str) -> list[tuple[str, str]]:
        """@return: the headers of C{step} on C{connection} (PROTOCOL.md
        11.1)."""
        session = self._session
        identity = self.send_every_header or not connection.identity_sent
        return request_headers(
            self.profile, connection.incarnation, referer=self._referer,
            ticket=session.ticket, with_identity=identity,
            challenge_response=session.challenge_response, body=step.body,
            content_type=content_type)

    @staticmethod
    def _request_line(step: Step, connection: ServiceConnection,
                      opened: bool, number: int | None) -> str:
        if not connection.secure:
            mode = "plain"
        elif opened:
            mode = f"SECURE ON, incarnation {connection.incarnation}"
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
        """Connect with the next incarnation; a secure connection also gets
        its RC4 streams and its SECURE ON block."""
        self.incarnation = next(self._incarnations)
        connection = await ServiceConnection.open(entry, self.incarnation,
                                                  self.timeout)
        if secure:
            session = self._session
            connection.start_secure(
                session.session_keys,
                secure_on_headers(self.profile, session.ticket,
                                  self.incarnation))
        return connection

    def _drop(self, service: str) -> None:
        connection = self._connections.pop(service, None)
        if connection is not None:
            connection.close()

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
        kind = (headers.get("Content-type") or "").split(";")[0].strip().lower()
        if kind in SCRIPT_TYPES and response.body:
            self._keep_script(response.body)

    def _keep_script(self, script: bytes) -> None:
        if len(script) < 12 + _SCRIPT_ID_AND_MOD.size:
            raise BoxError(f"a {len(script)}-byte script is shorter than its header")
        script_id, script_mod = _SCRIPT_ID_AND_MOD.unpack_from(script, 12)
        self.tellyscript = script
        self.profile = replace(self.profile, script_id=str(script_id),
                               script_mod=str(script_mod))
        self.log(f".. kept the script (id {script_id}, mod {script_mod})")

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
