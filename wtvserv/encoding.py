"""
Compression of response bodies on the way out, after the service answered
and before the connection encrypts (PROTOCOL.md 2.5, 10).
"""

from __future__ import annotations

from dataclasses import replace

from wtvserv.compression import CompressedCache, choose_encoding, encode_body
from wtvserv.wire import Request, Response


class BodyEncoder:
    """
    Compresses a body when the box can take it and it pays. Bodies marked
    static (a C{cacheKey}) are compressed once and cached.
    """

    def __init__(self, cache: CompressedCache | None = None) -> None:
        self.cache = cache if cache is not None else CompressedCache()

    def encode(self, request: Request, response: Response) -> Response:
        encoding = choose_encoding(request.headers, response.status,
                                   response.contentType, len(response.body))
        if encoding is None:
            return response
        if response.cacheKey is not None:
            body, headers = self.cache.get_or_encode(response.cacheKey, encoding, response.body)
        else:
            body, headers = encode_body(encoding, response.body)
        # LZPF announces the uncompressed length; deflate the bytes on the wire.
        length = len(response.body) if encoding == "lzpf" else len(body)
        return replace(response, body=body, headers=[*response.headers, *headers],
                       contentLength=length)
