"""
Choosing and applying the compression of a response body (PROTOCOL.md 10.1).

A box that sets capability bit 3 (L{RECEIVE_COMPRESSED}) gets text bodies
compressed: LZPF (C{wtv-lzpf: 0}) for classic boxes, old builds and the
minibrowser, zlib deflate (C{Content-Encoding: deflate}) for the others.

The two differ in what C{Content-length} must say, which the caller sets:

  - LZPF: the B{uncompressed} length. The box needs it to know how much
    output to expect; the stream's end marker ends the compressed bytes.
  - deflate: the B{compressed} length, as for any HTTP-style body.

Compress first, then encrypt (SECURE ON applies RC4 to the wire body).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import Protocol

from wtvserv.capabilities import RECEIVE_COMPRESSED, hasCapability, inMinibrowser
from wtvserv.crypto import lzpf

__all__ = [
    "DEFLATE",
    "LZPF",
    "CompressedCache",
    "choose_encoding",
    "encode_body",
]

LZPF = "lzpf"
DEFLATE = "deflate"

MIN_COMPRESSED_LENGTH = 256
"""Shorter bodies are sent as they are."""

OLD_BUILD_BEFORE = 3500
"""C{wtv-system-version} below this is an old build: LZPF, not deflate."""

DEFLATE_LEVEL = 9
"""
zlib level of deflate bodies: the anchor's streams carry the C{78 da}
header of levels 7-9. Its exact bytes come from the zlib fork Node.js
bundles, which never emits 3-byte matches; stock zlib gives a few bytes
less for the same text, and any inflater reads both.
"""

_COMPRESSIBLE_TYPES = frozenset({
    "application/javascript",
    "application/x-javascript",
    "application/json",
})
_UNCOMPRESSED_TEXT_TYPES = frozenset({"text/tellyscript", "text/dialscript"})


class Headers(Protocol):
    """Request headers, looked up without regard to case."""

    def get(self, name: str, default: str | None = None) -> str | None:
        """@return: the value of header C{name}, or C{default}."""


def choose_encoding(
    headers: Headers, status: int, content_type: str, length: int
) -> str | None:
    """
    Decide how to compress a response body.

    @param headers: the request's headers.
    @param status: the response's status code.
    @param content_type: the response's C{Content-type}, parameters allowed.
    @param length: the uncompressed body length.
    @return: L{LZPF}, L{DEFLATE}, or L{None} to send the body as it is.
    """
    if status != 200 or length < MIN_COMPRESSED_LENGTH:
        return None
    if not _is_compressible_type(content_type):
        return None
    if not hasCapability(headers.get("wtv-capability-flags"), RECEIVE_COMPRESSED):
        return None
    if _header(headers, "wtv-request-type") == "download":
        return None
    return LZPF if _wants_lzpf(headers) else DEFLATE


def _header(headers: Headers, name: str) -> str:
    """@return: header C{name} trimmed and lower-cased, or C{""}."""
    return (headers.get(name) or "").strip().lower()


def _is_compressible_type(content_type: str) -> bool:
    """
    @return: whether bodies of this C{Content-type} are worth compressing:
        text (but not the scripts the modem runs) and JavaScript or JSON.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _UNCOMPRESSED_TEXT_TYPES:
        return False
    return media_type.startswith("text/") or media_type in _COMPRESSIBLE_TYPES


def _wants_lzpf(headers: Headers) -> bool:
    """
    @return: whether the box should get LZPF rather than deflate: a classic
        (C{bf0app}) box, the minibrowser, or a build older than 3500.

    A missing or non-numeric C{wtv-system-version} counts as old: LZPF is
    the box's own format, which deflate support came after, so it is the
    safe guess for a box that does not say what it runs.
    """
    if _header(headers, "wtv-client-rom-type") == "bf0app":
        return True
    if inMinibrowser(headers):
        return True
    version = _header(headers, "wtv-system-version")
    if not (version.isascii() and version.isdigit()):
        return True
    return int(version) < OLD_BUILD_BEFORE


def encode_body(
    encoding: str | None, body: bytes
) -> tuple[bytes, list[tuple[str, str]]]:
    """
    Compress a body as L{choose_encoding} decided.

    The caller still sets C{Content-length}: the uncompressed length for
    LZPF, the returned body's length otherwise.

    @param encoding: L{LZPF}, L{DEFLATE} or L{None}.
    @return: C{(wire body, headers to add)}.
    @raise ValueError: for an unknown encoding.
    """
    if encoding is None:
        return body, []
    if encoding == LZPF:
        return lzpf.compress(body), [("wtv-lzpf", "0")]
    if encoding == DEFLATE:
        return (zlib.compress(body, DEFLATE_LEVEL),
                [("Content-Encoding", "deflate")])
    raise ValueError(f"unknown body encoding {encoding!r}")


class CompressedCache:
    """
    Compressed bodies of static content, so each is compressed once.

    Least recently used entries go first once there are more than
    C{maxEntries} of them or their compressed bodies add up to more than
    C{maxBytes}. The caller's key must change whenever the body does (for
    instance the path and the file's modification time); the encoding is
    added to it here.
    """

    def __init__(self, maxEntries: int = 256,
                 maxBytes: int = 8 * 1024 * 1024) -> None:
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        self.totalBytes = 0
        self._entries: OrderedDict[
            tuple[object, str | None],
            tuple[bytes, tuple[tuple[str, str], ...]],
        ] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_encode(
        self, key: object, encoding: str | None, body: bytes
    ) -> tuple[bytes, list[tuple[str, str]]]:
        """
        @param key: names C{body}; hashable.
        @return: what L{encode_body} returns for C{body}, from the cache
            when C{(key, encoding)} was encoded before.
        """
        entry = self.get(key, encoding)
        if entry is None:
            entry = encode_body(encoding, body)
            self.put(key, encoding, entry)
        return entry

    def get(self, key: object, encoding: str | None
            ) -> tuple[bytes, list[tuple[str, str]]] | None:
        """@return: the encoded body and headers cached for C{(key, encoding)}, or L{None}."""
        entry = self._entries.get((key, encoding))
        if entry is None:
            return None
        self._entries.move_to_end((key, encoding))
        return entry[0], list(entry[1])

    def put(self, key: object, encoding: str | None,
            encoded: tuple[bytes, list[tuple[str, str]]]) -> None:
        """Keep what L{encode_body} gave for C{(key, encoding)}."""
        self._store((key, encoding), (encoded[0], tuple(encoded[1])))

    def _store(self, entry_key: tuple[object, str | None],
               entry: tuple[bytes, tuple[tuple[str, str], ...]]) -> None:
        """Keep C{entry} unless it alone is too big; evict to make room."""
        size = len(entry[0])
        if size > self.maxBytes or self.maxEntries < 1:
            return
        self._entries[entry_key] = entry
        self.totalBytes += size
        while (len(self._entries) > self.maxEntries
               or self.totalBytes > self.maxBytes):
            _, (evicted, _) = self._entries.popitem(last=False)
            self.totalBytes -= len(evicted)
