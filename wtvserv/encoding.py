"""
Compression of response bodies on the way out, after the service answered
and before the connection encrypts (PROTOCOL.md 2.5, 10).

LZPF is pure Python (about 2 MB/s): a small body is compressed at once, a
larger one in the worker threads so the reactor keeps serving other boxes,
and one too large for a box to want compressed is sent as it is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from twisted.internet.defer import Deferred

from wtvserv.compression import CompressedCache, choose_encoding, encode_body
from wtvserv.wire import Request, Response

#: Bodies up to this size are compressed on the reactor (a few ms of LZPF).
INLINE_LIMIT = 16 * 1024
#: Bodies over this size are never compressed (about 100 ms of LZPF).
MAX_COMPRESSED = 256 * 1024


class BodyEncoder:
    """
    Compresses a body when the box can take it and it pays. Bodies marked
    static (a C{cacheKey}) are compressed once and cached.
    """

    def __init__(self, cache: CompressedCache | None = None,
                 inThread: Callable[..., Deferred] | None = None,
                 inlineLimit: int = INLINE_LIMIT, maxLength: int = MAX_COMPRESSED) -> None:
        """
        @param inThread: runs a function in a worker thread (a L{Deferred}
            of its result); without one, every body is compressed at once.
        """
        self.cache = cache if cache is not None else CompressedCache()
        self.inThread = inThread
        self.inlineLimit = inlineLimit
        self.maxLength = maxLength

    def encode(self, request: Request, response: Response) -> Response | Deferred:
        """@return: C{response} encoded for the box, or a L{Deferred} of it."""
        length = len(response.body)
        encoding = choose_encoding(request.headers, response.status,
                                   response.contentType, length)
        if encoding is None or length > self.maxLength:
            return response
        key = response.cacheKey
        if key is not None:
            cached = self.cache.get(key, encoding)
            if cached is not None:
                return _encoded(response, encoding, cached)
        if self.inThread is None or length <= self.inlineLimit:
            return self._done(encode_body(encoding, response.body), response, encoding)
        return self.inThread(encode_body, encoding, response.body).addCallback(
            self._done, response, encoding)

    def _done(self, encoded: tuple[bytes, list[tuple[str, str]]], response: Response,
              encoding: str) -> Response:
        if response.cacheKey is not None:
            self.cache.put(response.cacheKey, encoding, encoded)
        return _encoded(response, encoding, encoded)


def _encoded(response: Response, encoding: str,
             encoded: tuple[bytes, list[tuple[str, str]]]) -> Response:
    body, headers = encoded
    # LZPF announces the uncompressed length; deflate the bytes on the wire.
    length = len(response.body) if encoding == "lzpf" else len(body)
    return replace(response, body=body, headers=[*response.headers, *headers],
                   contentLength=length)
