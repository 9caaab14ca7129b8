"""
Unit tests of the simulated box (L{wtvserv.box}) that need no real server:
request writing, response reading from an in-memory stream, form
extraction, and the power-on flow against a small fake server in this file.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest

from tests.conftest import load_vectors
from tests.loopback import LoopbackServer, decrypt_head, header_pairs
from wtvserv.box import (
    Box,
    BoxError,
    BoxProfile,
    ConnectionClosed,
    make_profile,
    make_ssid,
    read_response,
)
from wtvserv.box.forms import form_fields, parse_page, resolve, split_url, submission
from wtvserv.box.headers import (
    identity_headers,
    per_request_headers,
    request_headers,
    secure_on_headers,
)
from wtvserv.box.messages import format_request, parse_service
from wtvserv.box.navigator import PREREGISTER_URL
from wtvserv.cli.aliases import box as main
from wtvserv.cli.box import build_parser, run
from wtvserv.crypto import lzpf
from wtvserv.crypto.challenge import issue_challenge, response_matches
from wtvserv.crypto.rc4 import BoxStreams, ServerStreams
from wtvserv.ssid import check_ssid


def run_async(coroutine):
    """Run C{coroutine} on a fresh event loop and return its result."""
    return asyncio.run(coroutine)


def quiet(line: str) -> None:
    """A box log that prints nothing."""


def _fields(data: bytes | str) -> dict:
    """@return: url-encoded C{data} as a dict, blank values kept."""
    text = data.decode() if isinstance(data, bytes) else data
    return dict(parse_qsl(text, keep_blank_values=True))


# -- Profiles --------------------------------------------------------------

def test_make_ssid_is_16_hex_digits_with_a_valid_check_byte():
    ssid = make_ssid(0x1234)
    assert len(ssid) == 16 and ssid.startswith("81001234")
    assert check_ssid(ssid)


@pytest.mark.parametrize("kind", ["plus", "classic", "new"])
def test_built_in_profiles_have_valid_ssids(kind):
    ssid = make_profile(kind).ssid
    assert check_ssid(ssid)


def test_profiles_choose_the_compression_the_server_should_use():
    plus, classic, new = (make_profile(kind)
                          for kind in ("plus", "classic", "new"))
    assert not plus.can_receive_compressed
    assert classic.can_receive_compressed and classic.rom_type == "bf0app"
    assert int(classic.system_version) < 3500
    assert new.can_receive_compressed and int(new.system_version) >= 3500


def test_make_profile_applies_changes_and_rejects_unknown_kinds():
    profile = make_profile("classic", username="zed", incarnation=9)
    assert (profile.kind, profile.username, profile.incarnation) == (
        "classic", "zed", 9)
    with pytest.raises(ValueError):
        make_profile("dreamcast")


def test_identity_headers_follow_the_profile():
    headers = dict(identity_headers(make_profile("classic")))
    assert headers["wtv-client-rom-type"] == "bf0app"
    assert headers["wtv-capability-flags"] == "1009c93bef"
    assert headers["wtv-client-serial-number"] == "91ABCDEF00B00256"
    assert "wtv-ticket" not in headers
    assert dict(identity_headers(BoxProfile(), "T"))["wtv-ticket"] == "T"


def test_a_classic_in_flash_mode_sends_no_rom_type():
    headers = dict(identity_headers(make_profile("flash")))
    assert "wtv-client-rom-type" not in headers
    assert headers["wtv-client-bootrom-version"] == "105"


def _names(headers) -> list[str]:
    return [name for name, _ in headers]


IDENTITY = ["Accept-Language", "wtv-connect-session-id",
            "wtv-client-serial-number", "wtv-system-version",
            "wtv-capability-flags", "wtv-client-bootrom-version",
            "wtv-client-rom-type", "wtv-system-chipversion", "User-Agent",
            "wtv-encryption", "wtv-script-id", "wtv-script-mod"]
PER_REQUEST = ["wtv-request-type", "wtv-system-cpuspeed",
               "wtv-system-sysconfig", "wtv-disk-size", "wtv-incarnation",
               "wtv-client-address"]


def test_per_request_headers_start_with_the_referer_when_there_is_one():
    profile = make_profile("classic")
    assert _names(per_request_headers(profile, 3)) == PER_REQUEST
    headers = per_request_headers(profile, 3, "wtv-home:/home")
    assert headers[0] == ("Referer", "wtv-home:/home")
    assert dict(headers)["wtv-incarnation"] == "3"
    assert dict(headers)["wtv-disk-size"] == profile.disk_size


def test_secure_on_headers_are_the_identity_then_the_incarnation():
    names = _names(secure_on_headers(BoxProfile(), "T", 7))
    assert names == IDENTITY[:1] + ["wtv-ticket"] + IDENTITY[1:] + [
        "wtv-incarnation"]


def test_request_headers_order():
    profile = BoxProfile()
    first = request_headers(profile, 2, with_identity=True,
                            challenge_response="R", body=b"abc")
    assert _names(first) == (PER_REQUEST + ["wtv-challenge-response"]
                             + IDENTITY + ["Content-type", "Content-length"])
    later = request_headers(profile, 2, referer="wtv-1800:/x", ticket="T")
    assert _names(later) == ["Referer"] + PER_REQUEST


# -- Requests --------------------------------------------------------------

def test_format_request_uses_crlf_and_a_blank_line():
    data = format_request("POST", "wtv-log:/log?type=x",
                          [("Content-length", "5")], b"hello")
    assert data == (b"POST wtv-log:/log?type=x\r\nContent-length: 5\r\n"
                    b"\r\nhello")


def test_secure_on_block_has_no_url():
    data = format_request("SECURE ON", "", [("wtv-incarnation", "4")])
    assert data == b"SECURE ON\r\nwtv-incarnation: 4\r\n\r\n"


def test_encrypted_requests_match_the_captured_ciphertext():
    """The inner request and the continuing RC4 stream of scenario A."""
    scenario = load_vectors("secure_session.json")["scenarios"][0]
    secure = scenario["secure_connections"][1]
    streams = BoxStreams(bytes.fromhex(secure["session_key1_hex"]),
                         bytes.fromhex(secure["session_key2_hex"]),
                         secure["incarnation"])
    inner = format_request("GET", "wtv-register:/splash?",
                           [("wtv-request-type", "primary"),
                            ("wtv-show-time", "0")])
    for exchange in secure["exchanges"]:
        assert inner == exchange["request_plaintext_text"].encode()
        ciphertext = streams.encrypt(inner)
        assert ciphertext.hex() == exchange["request_ciphertext_hex"]


def test_parse_service():
    assert parse_service("reset") is None
    entry = parse_service("name=wtv-star host=10.0.0.1 port=1603 "
                          "flags=0x00000007")
    assert (entry.name, entry.host, entry.port, entry.flags) == (
        "wtv-star", "10.0.0.1", 1603, 7)
    assert not entry.encrypts
    log = parse_service("name=wtv-log host=h port=1609 connections=1")
    assert log.encrypts and log.connections == 1
    with pytest.raises(BoxError):
        parse_service("name=wtv-log host=h")


# -- Reading responses -----------------------------------------------------

async def _read(data: bytes, streams=None, timeout=1.0, eof=True, chunk=0,
                secure=None):
    """
    Read one response from C{data}, fed all at once or C{chunk} bytes at a
    time (yielding to the reader in between), on a secure connection when
    C{streams} are given (unless C{secure} says otherwise).
    """
    reader = asyncio.StreamReader()

    async def feed():
        pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] \
            if chunk else [data]
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0)
        if eof:
            reader.feed_eof()

    feeder = asyncio.ensure_future(feed())
    try:
        body_streams = None if streams is None else (lambda: streams)
        secure = streams is not None if secure is None else secure
        return await read_response(reader, body_streams, timeout, secure)
    finally:
        await feeder


def test_reads_a_plain_lf_response():
    response = run_async(_read(
        b"200 OK\nConnection: Keep-Alive\nwtv-visit:wtv-home:/home\n"
        b"wtv-service: reset\nwtv-service: name=a host=h port=1\n"
        b"Content-length: 5\n\nhello"))
    assert (response.status, response.reason, response.body) == (
        200, "OK", b"hello")
    assert response.headers.get("WTV-VISIT") == "wtv-home:/home"
    assert response.headers.getAll("wtv-service") == [
        "reset", "name=a host=h port=1"]
    assert response.compression is None and not response.encrypted


def test_reads_crlf_headers_and_a_multi_word_reason():
    response = run_async(_read(
        b"403 The password you entered was incorrect.\r\n"
        b"Content-length: 0\r\n\r\n"))
    assert response.status == 403
    assert response.reason == "The password you entered was incorrect."


def test_reads_exactly_content_length_bytes():
    async def two_responses():
        reader = asyncio.StreamReader()
        reader.feed_data(b"200 OK\nContent-length: 3\n\nabc"
                         b"404 Not here\nContent-length: 1\n\nx")
        reader.feed_eof()
        return (await read_response(reader, timeout=1),
                await read_response(reader, timeout=1))

    first, second = run_async(two_responses())
    assert first.body == b"abc"
    assert (second.status, second.body) == (404, b"x")


@pytest.mark.parametrize("data, message", [
    (b"HTTP/1.0 200 OK\nContent-length: 0\n\n", "bad status line"),
    (b"200 OK\nConnection: close\n\n", "no Content-length"),
    (b"200 OK\nno colon here\nContent-length: 0\n\n", "bad header line"),
])
def test_malformed_responses_are_errors(data, message):
    with pytest.raises(BoxError, match=message):
        run_async(_read(data))


def test_a_closed_connection_before_the_status_line_can_be_retried():
    with pytest.raises(ConnectionClosed) as caught:
        run_async(_read(b""))
    assert caught.value.before_response


def test_a_body_cut_short_is_an_error():
    with pytest.raises(ConnectionClosed) as caught:
        run_async(_read(b"200 OK\nContent-length: 10\n\nabc"))
    assert not caught.value.before_response


def test_every_read_has_a_timeout():
    with pytest.raises(BoxError, match="timed out"):
        run_async(_read(b"200 OK\nContent-length: 10\n\nabc", timeout=0.05,
                        eof=False))


def _lzpf_cases():
    return [case for case in load_vectors("lzpf.json")["cases"]]


@pytest.mark.parametrize("chunk", [0, 5])
def test_reads_lzpf_bodies_until_the_decoder_is_done(chunk):
    for case in _lzpf_cases():
        wire = b64decode(case["output_b64"])
        if len(wire) > 1000:
            chunk = chunk and 500           # keep re-decoding cheap
        head = (f"200 OK\nwtv-lzpf: 0\nContent-length: "
                f"{case['input_length']}\n\n").encode()
        response = run_async(_read(head + wire, chunk=chunk, eof=False))
        assert response.body == b64decode(case["input_b64"]), case["name"]
        assert response.compression == "lzpf"
        assert response.wire_length == len(wire)


def test_corrupt_lzpf_is_an_error():
    wire = bytearray(lzpf.compress(b"hello hello hello"))
    wire[-2] ^= 0xFF                      # breaks the checksum
    head = b"200 OK\nwtv-lzpf: 0\nContent-length: 17\n\n"
    with pytest.raises(BoxError, match="LZPF"):
        run_async(_read(head + bytes(wire)))


def test_bytes_after_the_lzpf_stream_are_an_error():
    head = b"200 OK\nwtv-lzpf: 0\nContent-length: 5\n\n"
    with pytest.raises(BoxError, match="follow the LZPF stream"):
        run_async(_read(head + lzpf.compress(b"hello") + b"junk"))


def _captured_exchanges(letter: str):
    """@return: the scenario's secure connection to 1607 and fresh streams."""
    scenarios = load_vectors("secure_session.json")["scenarios"]
    scenario = next(s for s in scenarios if s["scenario"] == letter)
    secure = scenario["secure_connections"][-1]
    streams = BoxStreams(bytes.fromhex(secure["session_key1_hex"]),
                         bytes.fromhex(secure["session_key2_hex"]),
                         secure["incarnation"])
    return secure["exchanges"], streams


@pytest.mark.parametrize("letter, expected_key, compression", [
    ("A", "response_body_text", None),
    ("B", "response_body_after_lzpf_text", "lzpf"),
    ("C", "response_body_after_inflate_text", "deflate"),
])
def test_reads_captured_encrypted_bodies_on_one_stream(letter, expected_key,
                                                       compression):
    exchanges, streams = _captured_exchanges(letter)
    for exchange in exchanges:
        streams.encrypt(exchange["request_plaintext_text"].encode())
        data = (exchange["response_head_text"].encode()
                + bytes.fromhex(exchange["response_body_wire_hex"]))
        response = run_async(_read(data, streams, chunk=64, eof=False))
        assert response.text == exchange[expected_key]
        assert response.encrypted and response.compression == compression


def test_a_secure_response_must_say_it_is_encrypted():
    streams = BoxStreams(b"1" * 16, b"2" * 16, 1)
    with pytest.raises(BoxError, match="wtv-encrypted"):
        run_async(_read(b"200 OK\nContent-length: 0\n\n", streams))


def _marked(body: bytes) -> bytes:
    return (f"200 OK\nwtv-encrypted: true\nContent-length: {len(body)}\n\n"
            .encode() + body)


def test_a_body_marked_encrypted_on_a_plain_connection_is_decrypted():
    server = ServerStreams(b"1" * 16, b"2" * 16, 4)
    box = BoxStreams(b"1" * 16, b"2" * 16, 4)
    empty = run_async(_read(_marked(b""), box, secure=False))
    assert (empty.body, empty.encrypted) == (b"", False)
    first = run_async(_read(_marked(server.encrypt(b"<html>")), box,
                            secure=False))
    second = run_async(_read(_marked(server.encrypt(b"</html>")), box,
                             secure=False))
    assert (first.body, second.body) == (b"<html>", b"</html>")
    assert first.encrypted and second.encrypted


def test_an_encrypted_body_without_a_stream_is_an_error():
    assert run_async(_read(_marked(b""))).body == b""
    with pytest.raises(BoxError, match="no RC4 stream"):
        run_async(_read(_marked(b"secret")))


def test_deflate_bodies_are_inflated_and_bad_ones_rejected():
    body = zlib.compress(b"<html>hi</html>")
    head = (f"200 OK\nContent-Encoding: deflate\n"
            f"Content-length: {len(body)}\n\n").encode()
    response = run_async(_read(head + body))
    assert response.body == b"<html>hi</html>"
    assert response.compression == "deflate"
    with pytest.raises(BoxError, match="inflate"):
        run_async(_read(b"200 OK\nContent-Encoding: deflate\n"
                        b"Content-length: 3\n\nabc"))


# -- Forms and URLs --------------------------------------------------------

REGISTER_PAGE = """<html><body>
<a href="wtv-register:/help">Help</a>
<form action="ValidateAgreement" method="post" enctype="x-www-form-encoded">
<input type="hidden" name="registering" value="true">
<input type="hidden" name="password" value="kept">
Name <input name="subscriber_name" size=18>
Nick <input name="subscriber_nickname" value="nick">
User <input type=text name="subscriber_username">
<input type=password name="subscriber_password">
<input type=password name="subscriber_password_again">
<input name="subscriber_contact">
<select name="subscriber_contact_method">
<option value="">--<option value="email" selected>E-mail</select>
<textarea name="comments">Hi &amp; bye</textarea>
<input type=checkbox name="agreement" value="yes"> I agree
<input type=checkbox name="newsletter" value="yes">
<input type=submit name="action" value="Change">
<input type=submit name="action" value="Sign Up">
<input type=reset value="Clear">
</form></body></html>"""


def test_form_fields_are_filled_from_the_profile():
    form = parse_page(REGISTER_PAGE).forms[0]
    values = BoxProfile(username="zed", password="pw").form_values()
    assert form_fields(form, values) == [
        ("registering", "true"),
        ("password", "kept"),                   # hidden: never overwritten
        ("subscriber_name", "Web Tester"),
        ("subscriber_nickname", "nick"),
        ("subscriber_username", "zed"),
        ("subscriber_password", "pw"),
        ("subscriber_password_again", "pw"),
        ("subscriber_contact", "webtester@example.com"),
        ("subscriber_contact_method", "email"),
        ("comments", "Hi & bye"),
        ("agreement", "yes"),
        ("action", "Sign Up"),
    ]


def test_a_post_form_resolves_its_action_within_the_service():
    form = parse_page(REGISTER_PAGE).forms[0]
    method, url, body = submission("wtv-register:/register?", form, {})
    assert (method, url) == ("POST", "wtv-register:/ValidateAgreement")
    assert _fields(body)["registering"] == "true"


def test_a_get_form_puts_its_fields_in_the_query():
    page = parse_page('<form action="/find?old=1"><input name="q" value="a b">'
                      '</form>')
    assert submission("wtv-home:/home", page.forms[0], {}) == (
        "GET", "wtv-home:/find?q=a+b", None)


@pytest.mark.parametrize("content, url", [
    ("4; url=wtv-register:/register?", "wtv-register:/register?"),
    ("0;URL='wtv-home:/home?'", "wtv-home:/home?"),
    ("2", None),
])
def test_meta_refresh(content, url):
    page = parse_page(f'<meta http-equiv="Refresh" content="{content}">')
    assert page.refresh == url


def test_links_keep_their_text():
    page = parse_page('<a href="ValidateLogin?user_id=1&amp;user_login=true">'
                      '<b>bob</b>\n smith</a>')
    assert page.links[0].href == "ValidateLogin?user_id=1&user_login=true"
    assert page.links[0].text == "bob smith"


@pytest.mark.parametrize("reference, expected", [
    ("ValidateLogin?user_id=1", "wtv-head-waiter:/ValidateLogin?user_id=1"),
    ("/password?", "wtv-head-waiter:/password?"),
    ("?x=1", "wtv-head-waiter:/choose-user?x=1"),
    ("wtv-home:/home", "wtv-home:/home"),
    ("client:relogin", "client:relogin"),
])
def test_resolve(reference, expected):
    assert resolve("wtv-head-waiter:/choose-user?", reference) == expected


def test_resolve_keeps_subdirectories():
    assert resolve("wtv-setup:/a/b?", "c?d") == "wtv-setup:/a/c?d"


def test_split_url():
    assert split_url("wtv-home:/home?x=1") == ("wtv-home", "/home", "x=1")
    assert split_url("wtv-home:home") == ("wtv-home", "/home", "")
    with pytest.raises(ValueError):
        split_url("/home")


# -- A fake server ---------------------------------------------------------

@dataclass
class Seen:
    """One request as the fake server received it."""

    connection: int
    method: str
    url: str
    headers: dict
    body: bytes
    raw_head: bytes
    secure: bool
    secure_on: bool

    @property
    def path(self) -> str:
        return split_url(self.url)[1]

    @property
    def query(self) -> dict:
        return _fields(split_url(self.url)[2])


@dataclass
class Account:
    users: list = field(default_factory=list)   # (username, password)


class FakeServer(LoopbackServer):
    """
    A small WTVP server on one port for every service: enough of
    preregister, the head-waiter login, registration and home to drive a
    box, including SECURE ON, LZPF and deflate. Not a model of any real
    server; L{routes} can be changed by tests.
    """

    def __init__(self, account: Account | None = None):
        super().__init__()
        self.account = account
        self.requests: list[Seen] = []
        self.incarnations: list[int] = []
        self.connections = 0
        self.box_key = None
        self.issued = None
        self.tickets: dict[str, tuple[bytes, bytes]] = {}
        self.user = 0
        self.close_after_each = False
        self.routes = {
            ("wtv-1800", "/preregister"): self.preregister,
            ("wtv-head-waiter", "/login"): self.login,
            ("wtv-head-waiter", "/ValidateLogin"): self.validate_login,
            ("wtv-head-waiter", "/choose-user"): self.choose_user,
            ("wtv-head-waiter", "/password"): self.password_page,
            ("wtv-head-waiter", "/login-stage-two"): self.stage_two,
            ("wtv-register", "/splash"): self.register_splash,
            ("wtv-register", "/register"): self.register_form,
            ("wtv-register", "/ValidateAgreement"): self.register_done,
            ("wtv-home", "/splash"): self.home_splash,
            ("wtv-home", "/home"): self.home,
            ("wtv-log", "/log"): self.log,
        }

    # Connections and framing.

    async def serve(self, reader, writer):
        self.connections += 1
        number, streams, identity = self.connections, None, {}
        while not writer.is_closing():
            secure_on = False
            if streams is None:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"SECURE ON\r\n"):
                    identity = dict(header_pairs(head))
                    streams = self._streams(identity)
                    secure_on = True
                    head = await decrypt_head(reader, streams)
            else:
                head = await decrypt_head(reader, streams)
            request = await self._request(reader, streams, identity,
                                          head, number, secure_on)
            await self._answer(writer, streams, request)
            if self.close_after_each:
                break

    def _streams(self, block: dict) -> ServerStreams:
        key1, key2 = self.tickets[block["wtv-ticket"]]
        incarnation = int(block["wtv-incarnation"])
        self.incarnations.append(incarnation)
        return ServerStreams(key1, key2, incarnation)

    async def _request(self, reader, streams, identity, head, number,
                       secure_on) -> Seen:
        """
        Read one request; like PROTOCOL.md 11.1, it is read with the
        identity of its connection (the SECURE ON block, or the headers of
        the first plain request), its own headers winning.
        """
        method, url = head.decode().split("\r\n")[0].split(" ", 1)
        own = dict(header_pairs(head))
        if not identity:
            identity.update(own)
        headers = {**identity, **own}
        body = await reader.readexactly(int(headers.get("Content-length", 0)))
        if streams is not None:
            body = streams.decrypt(body)
        seen = Seen(number, method, url, headers, body, head,
                    streams is not None, secure_on)
        self.requests.append(seen)
        return seen

    async def _answer(self, writer, streams, request: Seen) -> None:
        service, path, _ = split_url(request.url)
        route = self.routes.get((service, path))
        if route is None:
            status, headers, body = "404 Not found", [], b""
        else:
            status, headers, body = route(request)
        extra, wire = _compress(request, body)
        length = len(body) if extra == [("wtv-lzpf", "0")] else len(wire)
        if streams is not None:
            headers = [("wtv-encrypted", "true")] + headers
            wire = streams.encrypt(wire)
        lines = [status] + [f"{name}: {value}" for name, value in
                            headers + extra + [("Content-type", "text/html"),
                                               ("Content-length", length)]]
        writer.write(("\n".join(lines) + "\n\n").encode() + wire)
        await writer.drain()
        if ("Connection", "close") in headers:
            writer.close()

    # Pages.

    def preregister(self, request):
        self.box_key = os.urandom(8)
        relogin = request.query.get("relogin") == "true"
        visit = "wtv-head-waiter:/login?" + ("relogin=true" if relogin else "")
        return "200 OK", [
            ("wtv-initial-key", b64encode(self.box_key).decode()),
            *self.services("wtv-1800", "wtv-head-waiter", "wtv-register",
                           "wtv-log", "wtv-home"),
            ("wtv-visit", visit)], b""

    def login(self, request):
        self.issued = issue_challenge(self.box_key, os.urandom)
        self.box_key = self.issued.new_key
        return "200 OK", [("wtv-challenge", self.issued.challenge_b64),
                          ("wtv-visit", "wtv-head-waiter:/ValidateLogin?"
                                        "initial_login=true")], b""

    def validate_login(self, request):
        query = {**request.query, **_fields(request.body)}
        if "user_login" in query:
            self.user = int(query["user_id"])
            return self._after_user()
        if "password" in query:
            if query["password"] != self.account.users[self.user][1]:
                return "403 The password you entered was incorrect.", [], b""
            return "200 OK", [("wtv-visit",
                               "wtv-head-waiter:/login-stage-two?")], b""
        answer = request.headers.get("wtv-challenge-response")
        if not response_matches(self.issued, answer):
            return "500 Invalid challenge response received", [], b""
        ticket = b64encode(os.urandom(12)).decode()
        self.tickets[ticket] = (self.issued.key1, self.issued.key2)
        users = self.account.users if self.account else []
        if len(users) > 1:
            visit = "wtv-head-waiter:/choose-user?"
        elif users and users[0][1]:
            visit = "wtv-head-waiter:/password?"
        else:
            visit = "wtv-head-waiter:/login-stage-two?"
        return "200 OK", [("Connection", "close"), ("wtv-ticket", ticket),
                          ("wtv-encrypted", "true"), ("wtv-visit", visit)], b""

    def _after_user(self):
        if self.account.users[self.user][1]:
            return "200 OK", [("wtv-visit", "wtv-head-waiter:/password?")], b""
        return "200 OK", [("wtv-visit",
                           "wtv-head-waiter:/login-stage-two?")], b""

    def choose_user(self, request):
        links = "".join(
            f'<a href="ValidateLogin?user_id={n}&amp;user_login=true">'
            f"{name.title()} ({name})</a><br>"
            for n, (name, _) in enumerate(self.account.users))
        return "200 OK", [], f"<html><body>{links}</body></html>".encode()

    def password_page(self, request):
        return "200 OK", [], (
            f'<form action="ValidateLogin" method=post>'
            f'<input type=hidden name=user_id value={self.user}>'
            f'<input type=password name=password><input type=submit value=Go>'
            f"</form>").encode()

    def stage_two(self, request):
        if not request.secure:
            return "500 stage two must be encrypted", [], b""
        if self.account is None:
            return "200 OK", [("wtv-visit", "client:closeallpanels"),
                              ("wtv-visit", "wtv-register:/splash?")], b""
        return "200 OK", [("wtv-visit", "wtv-home:/splash?")], b""

    def register_splash(self, request):
        return "200 OK", [], _page('<meta http-equiv=Refresh '
                                   'content="1; url=wtv-register:/register?">')

    def register_form(self, request):
        return "200 OK", [], REGISTER_PAGE.encode()

    def register_done(self, request):
        form = _fields(request.body)
        if form.get("action") != "Sign Up" or "agreement" not in form:
            return "400 Please agree", [], b""
        self.account = Account([(form["subscriber_username"],
                                 form["subscriber_password"])])
        return "300 Moved", [("Connection", "close"),
                             *self.services("wtv-1800"),
                             ("Location", "client:relogin")], b""

    def home_splash(self, request):
        return "200 OK", [], _page(
            '<meta http-equiv=refresh content="0;url=wtv-home:/home?">')

    def home(self, request):
        return "200 OK", [], _page("<h1>Welcome home</h1>")

    def log(self, request):
        return "200 OK", [], b""


def _page(content: str) -> bytes:
    """@return: an HTML page long enough to be worth compressing."""
    filler = "<p>" + "WebTV makes the web as easy as TV. " * 20 + "</p>"
    return f"<html><body>{content}{filler}</body></html>".encode()


def _compress(request: Seen, body: bytes) -> tuple[list, bytes]:
    """Compress like PROTOCOL.md 10.1: LZPF for old boxes, else deflate."""
    flags = int(request.headers.get("wtv-capability-flags", "0"), 16)
    if not body or not flags & 8:
        return [], body
    old = (request.headers.get("wtv-client-rom-type") == "bf0app"
           or int(request.headers.get("wtv-system-version", "0")) < 3500)
    if old:
        return [("wtv-lzpf", "0")], lzpf.compress(body)
    return [("Content-Encoding", "deflate")], zlib.compress(body)


def _power_on(profile: BoxProfile, account: Account | None = None,
              change=None, **box_options):
    """
    Power a box on against a fresh fake server.

    @param change: called with the server before the box starts.
    @return: the box, the server and the result (a response or an error).
    """
    async def scenario():
        async with FakeServer(account) as server:
            if change is not None:
                change(server)
            box = Box("127.0.0.1", server.port, profile, log=quiet,
                      **box_options)
            try:
                result = await box.power_on()
            except BoxError as error:
                result = error
            finally:
                await box.close()
            return box, server, result

    return run_async(scenario())


def _urls(server: FakeServer) -> list[str]:
    return [f"{seen.method} {seen.url}" for seen in server.requests]


# -- The flow --------------------------------------------------------------

def test_classic_box_registers_relogs_and_reaches_home():
    box, server, home = _power_on(make_profile("classic", username="zed"))
    assert not isinstance(home, Exception), home
    assert b"Welcome home" in home.body and home.url == "wtv-home:/home?"
    assert _urls(server) == [
        "GET " + PREREGISTER_URL,
        "GET wtv-head-waiter:/login?",
        "GET wtv-head-waiter:/ValidateLogin?initial_login=true",
        "GET wtv-head-waiter:/login-stage-two?",
        "GET wtv-register:/splash?",
        "GET wtv-register:/register?",
        "POST wtv-register:/ValidateAgreement",
        "GET wtv-1800:/preregister?relogin=true",
        "GET wtv-head-waiter:/login?relogin=true",
        "GET wtv-head-waiter:/ValidateLogin?initial_login=true",
        "GET wtv-head-waiter:/login-stage-two?",
        "GET wtv-home:/splash?",
        "GET wtv-home:/home?",
    ]
    assert server.account.users == [("zed", "")]
    compressed = [r.compression for r in box.history if r.body]
    assert compressed == ["lzpf"] * 4
    assert all(r.encrypted for r in box.history[3:7])


def test_the_registration_form_is_filled_from_the_profile():
    profile = make_profile("plus", human_name="Zed Zero", username="zed",
                           password="pw1")
    _, server, home = _power_on(profile)
    assert not isinstance(home, Exception), home
    post, password = [seen for seen in server.requests
                      if seen.method == "POST"]
    form = _fields(post.body)
    assert form["subscriber_name"] == "Zed Zero"
    assert form["subscriber_username"] == "zed"
    assert form["subscriber_password"] == form["subscriber_password_again"] \
        == "pw1"
    assert (form["agreement"], form["action"]) == ("yes", "Sign Up")
    assert post.headers["Content-type"] == "application/x-www-form-urlencoded"
    assert int(post.headers["Content-length"]) == len(post.body)
    assert _fields(password.body)["password"] == "pw1"


def _sent_names(seen: Seen) -> list[str]:
    """@return: the header names of the request itself, in order."""
    lines = seen.raw_head.decode().split("\r\n")[1:]
    return [line.split(":")[0] for line in lines if line]


def test_plaintext_requests_carry_the_identity_once_per_connection():
    profile = make_profile("plus")
    _, server, _ = _power_on(profile)
    first, login, validate = server.requests[:3]
    assert (first.connection, login.connection) == (1, 2)
    assert validate.connection == 2
    for seen in (first, login, validate):
        assert not seen.secure
        assert seen.raw_head.count(b"\n") == seen.raw_head.count(b"\r\n")
    assert _sent_names(first) == PER_REQUEST + IDENTITY
    assert _sent_names(login) == ["Referer"] + PER_REQUEST + IDENTITY
    assert _sent_names(validate) == (["Referer"] + PER_REQUEST
                                     + ["wtv-challenge-response"])
    assert first.headers["wtv-script-id"] == profile.script_id
    assert validate.headers["Referer"] == "wtv-head-waiter:/login?"
    assert validate.headers["wtv-client-serial-number"] == profile.ssid
    incarnations = [s.headers["wtv-incarnation"]
                    for s in (first, login, validate)]
    assert incarnations == ["1", "2", "2"]


def test_secure_connections_are_kept_alive_with_rising_incarnations():
    _, server, home = _power_on(make_profile("plus"))
    assert not isinstance(home, Exception), home
    register = [s for s in server.requests if s.url.startswith("wtv-register")]
    assert len({s.connection for s in register}) == 1
    assert [s.secure_on for s in register] == [True, False, False]
    assert all(s.secure for s in register)
    assert server.incarnations == sorted(set(server.incarnations))
    assert all(s.secure_on for s in server.requests if s.path == "/splash"
               and s.url.startswith("wtv-home"))


def test_secure_requests_carry_only_per_request_headers():
    _, server, _ = _power_on(make_profile("plus"))
    seen = next(s for s in server.requests if s.secure_on)
    assert seen.url.startswith("wtv-head-waiter:/login-stage-two")
    # raw_head is the inner request; the identity came in the block.
    assert _sent_names(seen) == ["Referer"] + PER_REQUEST
    for name in ("wtv-ticket", "wtv-incarnation", "wtv-client-serial-number",
                 "Accept-Language", "wtv-capability-flags"):
        assert name in seen.headers                 # from the SECURE ON block
    assert seen.headers["wtv-encryption"] == "true"
    for later in server.requests:
        if later.secure and not later.secure_on:
            assert "wtv-client-serial-number" not in _sent_names(later)


def test_every_request_of_a_connection_has_its_incarnation():
    _, server, _ = _power_on(make_profile("plus"))
    by_connection = {}
    for seen in server.requests:
        by_connection.setdefault(seen.connection, set()).add(
            seen.headers["wtv-incarnation"])
    assert all(len(values) == 1 for values in by_connection.values())
    assert [int(next(iter(values))) for values in by_connection.values()] \
        == list(range(1, len(by_connection) + 1))


def test_send_every_header_puts_the_identity_on_every_request():
    _, server, home = _power_on(make_profile("plus"), send_every_header=True)
    assert not isinstance(home, Exception), home
    for seen in server.requests:
        assert set(IDENTITY) <= set(_sent_names(seen)), seen.url


def test_choose_user_and_password_page_with_deflate():
    account = Account([("alice", ""), ("bob", "secret")])
    profile = make_profile("new", choose_user="bob", password="secret")
    box, server, home = _power_on(profile, account)
    assert not isinstance(home, Exception), home
    assert "GET wtv-head-waiter:/ValidateLogin?user_id=1&user_login=true" \
        in _urls(server)
    post = next(seen for seen in server.requests if seen.method == "POST")
    assert _fields(post.body) == {"user_id": "1",
                                                    "password": "secret"}
    assert post.url == "wtv-head-waiter:/ValidateLogin"
    assert {r.compression for r in box.history if r.body} == {"deflate"}


def test_the_first_user_is_chosen_by_default():
    account = Account([("alice", ""), ("bob", "secret")])
    _, server, home = _power_on(make_profile("plus"), account)
    assert not isinstance(home, Exception), home
    assert "GET wtv-head-waiter:/ValidateLogin?user_id=0&user_login=true" \
        in _urls(server)


def test_a_user_is_chosen_by_a_whole_word_of_the_link():
    account = Account([("kiddo", ""), ("kid", ""), ("bob", "")])
    _, server, home = _power_on(make_profile("plus", choose_user="KID"),
                                account)
    assert not isinstance(home, Exception), home
    assert "GET wtv-head-waiter:/ValidateLogin?user_id=1&user_login=true" \
        in _urls(server)


def test_an_unknown_user_to_choose_is_an_error():
    account = Account([("alice", ""), ("bob", "")])
    _, _, error = _power_on(make_profile("plus", choose_user="carol"), account)
    assert isinstance(error, BoxError) and "carol" in str(error)


def test_a_wrong_password_fails_with_the_step_and_url():
    account = Account([("alice", "right")])
    profile = make_profile("plus", login_password="wrong")
    _, _, error = _power_on(profile, account)
    assert isinstance(error, BoxError)
    assert "POST wtv-head-waiter:/ValidateLogin: 403" in str(error)


def test_an_error_status_names_the_step_and_url():
    def break_login(server):
        del server.routes[("wtv-head-waiter", "/login")]

    _, _, error = _power_on(make_profile("plus"), change=break_login)
    assert isinstance(error, BoxError)
    assert str(error) == "step 2: GET wtv-head-waiter:/login?: 404 Not found"


def test_a_page_that_refreshes_to_itself_is_a_loop():
    def refresh_to_itself(request):
        return "200 OK", [], _page(
            '<meta http-equiv=refresh content="0;url=wtv-home:/splash?">')

    def loop(server):
        server.routes[("wtv-home", "/splash")] = refresh_to_itself

    _, _, error = _power_on(make_profile("plus"), Account([("a", "")]),
                            change=loop)
    assert isinstance(error, BoxError) and "loop" in str(error)


def test_too_many_steps_is_an_error():
    _, _, error = _power_on(make_profile("plus"), max_steps=3)
    assert isinstance(error, BoxError)
    assert "gave up after 3 steps" in str(error)


def test_a_silent_server_times_out():
    async def scenario():
        server = await asyncio.start_server(_hang, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        box = Box("127.0.0.1", port, log=quiet, timeout=0.2)
        try:
            with pytest.raises(BoxError, match="step 1: GET wtv-1800.*timed "
                                               "out after 0.2 s"):
                await box.power_on()
        finally:
            await box.close()
            server.close()
            await server.wait_closed()

    run_async(scenario())


async def _hang(reader, writer):
    """A server that reads a request and never answers."""
    try:
        await reader.read(100)
        await asyncio.sleep(1)
    finally:
        writer.close()


def test_a_missing_initial_key_is_an_error():
    def no_key(server):
        original = server.preregister

        def preregister(request):
            status, headers, body = original(request)
            return status, [h for h in headers
                            if h[0] != "wtv-initial-key"], body
        server.routes[("wtv-1800", "/preregister")] = preregister

    _, _, error = _power_on(make_profile("plus"), change=no_key)
    assert isinstance(error, BoxError) and "wtv-initial-key" in str(error)


def test_get_and_post_after_login_reuse_the_secure_connection():
    async def scenario():
        async with FakeServer(Account([("a", "")])) as server:
            async with Box("127.0.0.1", server.port, make_profile("plus"),
                           log=quiet) as box:
                await box.power_on()
                first = await box.post("wtv-log:/log?type=test", b"hello")
                second = await box.get("wtv-log:/log?type=again")
                missing = await box.get("wtv-home:/nowhere")
            return server, first, second, missing

    server, first, second, missing = run_async(scenario())
    logs = [s for s in server.requests if s.url.startswith("wtv-log")]
    assert [s.body for s in logs] == [b"hello", b""]
    assert logs[0].headers["Content-type"] == "text/plain"
    assert [s.secure_on for s in logs] == [True, False]
    assert first.status == second.status == 200 and first.encrypted
    assert missing.status == 404          # get/post return any status


def test_a_closed_keep_alive_connection_is_reopened():
    async def scenario():
        async with FakeServer() as server:
            server.close_after_each = True
            async with Box("127.0.0.1", server.port, log=quiet) as box:
                for _ in range(3):
                    response = await box.get("wtv-1800:/preregister?x=1")
                    assert response.status == 200
                    await asyncio.sleep(0.01)
            return server

    server = run_async(scenario())
    assert server.connections == 3


async def _answer_once_per_connection(reader, writer):
    """Answer the first request; hang up on the second without answering."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"200 OK\nContent-length: 2\n\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


def test_a_request_on_a_stale_connection_is_retried_once():
    lines = []

    async def scenario():
        server = await asyncio.start_server(_answer_once_per_connection,
                                            "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with Box("127.0.0.1", port, log=lines.append) as box:
                return [(await box.get("wtv-1800:/x")).body
                        for _ in range(3)]
        finally:
            server.close()
            await server.wait_closed()

    assert run_async(scenario()) == [b"ok"] * 3
    assert sum("retrying" in line for line in lines) == 2


def test_the_log_gets_one_line_per_request_and_response():
    lines = []

    async def scenario():
        async with FakeServer(Account([("a", "")])) as server:
            async with Box("127.0.0.1", server.port, make_profile("classic"),
                           log=lines.append) as box:
                await box.power_on()

    run_async(scenario())
    assert lines[0] == f"[1] -> GET {PREREGISTER_URL} (plain)"
    assert lines[1] == "<- 200 OK 0 bytes"
    assert any("(SECURE ON, incarnation" in line for line in lines)
    assert any(line.endswith("bytes (lzpf, encrypted)") for line in lines)
    assert lines[-1].startswith("home reached after")


# -- The command line ------------------------------------------------------

def test_cli_run_powers_on_and_posts_the_check(capsys):
    async def scenario():
        async with FakeServer(Account([("a", "")])) as server:
            options = build_parser().parse_args(
                [f"127.0.0.1:{server.port}", "--profile", "classic",
                 "--username", "zed", "--log-post"])
            await run(options)
            return server

    server = run_async(scenario())
    check = server.requests[-1]
    assert check.url == "wtv-log:/log?type=boxcheck" and check.method == "POST"
    assert b"ssid=91ABCDEF00B00256" in check.body
    assert "-> GET wtv-home:/home?" in capsys.readouterr().out


def test_cli_can_send_every_header_for_debugging():
    async def scenario():
        async with FakeServer(Account([("a", "")])) as server:
            options = build_parser().parse_args(
                [f"127.0.0.1:{server.port}", "--send-every-header",
                 "--log-post"])
            await run(options)
            return server

    check = run_async(scenario()).requests[-1]
    assert check.secure
    assert "wtv-client-serial-number" in _sent_names(check)
    assert not build_parser().parse_args(["h:1"]).send_every_header


def test_cli_reports_a_failure_with_a_non_zero_status(capsys):
    async def free_port():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return port

    port = run_async(free_port())
    assert main([f"127.0.0.1:{port}", "--timeout", "2"]) == 1
    error = capsys.readouterr().err
    assert "wtvserv: step 1: GET wtv-1800:/preregister" in error


def test_cli_rejects_a_bad_address():
    with pytest.raises(SystemExit):
        main(["localhost:notaport"])


def test_cli_defaults_to_wtv_1800s_port_on_this_machine():
    assert build_parser().parse_args([]).address == ("127.0.0.1", 1615)
    assert build_parser().parse_args(["192.0.2.5"]).address == ("192.0.2.5", 1615)
    assert build_parser().parse_args(["192.0.2.5:11615"]).address == ("192.0.2.5", 11615)


def test_cli_makes_valid_ssids(capsys):
    assert main(["--make-ssid"]) == 0
    assert main(["--make-ssid"]) == 0
    first, second = capsys.readouterr().out.split()
    assert first != second
    assert all(check_ssid(ssid) and len(ssid) == 16 for ssid in (first, second))
