"""
One request or response on the wire: writing a request, reading a response
with its RC4-encrypted, LZPF or deflate body.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from wtvserv.box.errors import BoxError, ConnectionClosed
from wtvserv.crypto import lzpf
from wtvserv.crypto.rc4 import BoxStreams
from wtvserv.directory import ServiceEntry
from wtvserv.wire import Headers

DEFAULT_TIMEOUT = 10.0
#: The most header lines a response may have.
MAX_HEADER_LINES = 500
#: How many bytes to ask for at a time while reading an LZPF body.
_CHUNK = 4096


@dataclass
class Response:
    """
    One response as the box saw it.

    @ivar body: the body after decryption and decompression.
    @ivar compression: C{"lzpf"}, C{"deflate"} or L{None}.
    @ivar encrypted: whether it came on a secure (SECURE ON) connection or
        its body was decrypted.
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


def parse_service(value: str) -> ServiceEntry | None:
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


async def timed(awaitable, timeout: float, what: str,
                before_response: bool = False):
    """
    Await a read or write with a timeout, turning failures into L{BoxError}.
    """
    try:
        if timeout is None:     # no timer at all: a load generator's choice
            return await awaitable
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
    line = await timed(reader.readline(), timeout, "the status line", True)
    if not line:
        raise ConnectionClosed("the server closed the connection without "
                               "answering", before_response=True)
    status, reason = _parse_status(line)
    lines = await timed(_read_header_lines(reader), timeout, "the headers")
    return status, reason, Headers(_parse_header(line) for line in lines)


async def _read_header_lines(reader: asyncio.StreamReader) -> list[bytes]:
    """Read header lines up to the blank line (one timer for them all)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionClosed("connection closed inside the headers")
        if line in (b"\n", b"\r\n"):
            return lines
        if len(lines) >= MAX_HEADER_LINES:
            raise BoxError("too many header lines")
        lines.append(line)


def _content_length(headers: Headers) -> int:
    value = headers.get("Content-length")
    if value is None:
        raise BoxError("the response has no Content-length")
    if not (value.isascii() and value.isdigit()):
        raise BoxError(f"bad Content-length: {value!r}")
    return int(value)


def says_encrypted(headers: Headers) -> bool:
    """@return: whether the response says C{wtv-encrypted: true}."""
    return headers.get("wtv-encrypted", "").strip().lower() == "true"


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
        chunk = await timed(reader.read(_CHUNK), timeout, "the LZPF body")
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


def _decryptor(body_streams: Callable[[], BoxStreams] | None
               ) -> Callable[[bytes], bytes]:
    """@return: what decrypts the wire bytes of an encrypted body; no
    bytes need no stream."""
    def decrypt(data: bytes) -> bytes:
        if not data:
            return data
        if body_streams is None:
            raise BoxError("an encrypted body, but no RC4 stream for it")
        return body_streams().decrypt(data)
    return decrypt


async def read_response(reader: asyncio.StreamReader,
                        body_streams: Callable[[], BoxStreams] | None = None,
                        timeout: float = DEFAULT_TIMEOUT,
                        secure: bool = False) -> Response:
    """
    Read one response: status line, LF or CRLF headers, then the body.

    The body is decrypted when the response says C{wtv-encrypted: true};
    an empty body consumes no keystream.

    @param body_streams: returns the connection's RC4 streams; called for
        the wire bytes of an encrypted body, which continue their
        server-to-box stream.
    @param secure: whether the connection is in SECURE ON, where every
        response must say C{wtv-encrypted: true}.
    @raise BoxError: on a malformed response, a timeout, a bad body, or a
        non-empty encrypted body without C{body_streams}.
    """
    status, reason, headers = await _read_head(reader, timeout)
    encrypted = says_encrypted(headers)
    if secure and not encrypted:
        raise BoxError("a response on a secure connection lacks "
                       "wtv-encrypted: true")
    decrypt = _decryptor(body_streams) if encrypted else (lambda data: data)
    length = _content_length(headers)
    response = Response(status, reason, headers)
    if "wtv-lzpf" in headers:
        response.body, response.wire_length = await _read_lzpf(
            reader, length, decrypt, timeout)
        response.compression = "lzpf"
    else:
        wire = await timed(reader.readexactly(length), timeout, "the body")
        response.wire_length = length
        response.body = decrypt(wire)
        if headers.get("Content-Encoding", "").lower() == "deflate":
            response.body = _inflate(response.body)
            response.compression = "deflate"
    response.encrypted = secure or (encrypted and response.wire_length > 0)
    return response
