"""
L{wtvserv.encoding.BodyEncoder}: compression on the way out, with static
content compressed once.
"""

from wtvserv.crypto import lzpf
from wtvserv.encoding import BodyEncoder
from wtvserv.wire import Headers, Request, Response

CLASSIC = Headers([("wtv-capability-flags", "1009c93bef"), ("wtv-client-rom-type", "bf0app"),
                   ("wtv-system-version", "1235")])
PAGE = b"<html><body>" + b"<p>WebTV rules. " * 64 + b"</body></html>"


def classicRequest():
    return Request("GET", "wtv-x:/page", CLASSIC)


def test_lzpf_keeps_the_uncompressed_length_and_adds_its_header():
    encoded = BodyEncoder().encode(classicRequest(), Response(body=PAGE))
    assert ("wtv-lzpf", "0") in encoded.headers
    assert encoded.contentLength == len(PAGE) > len(encoded.body)
    assert lzpf.decompress(encoded.body, len(PAGE)) == PAGE


def test_static_bodies_are_compressed_once_and_served_from_the_cache(monkeypatch):
    encoder = BodyEncoder()
    calls = []
    real = lzpf.compress
    monkeypatch.setattr(lzpf, "compress", lambda data: calls.append(1) or real(data))
    first = encoder.encode(classicRequest(), Response(body=PAGE, cacheKey=("page", 1)))
    second = encoder.encode(classicRequest(), Response(body=PAGE, cacheKey=("page", 1)))
    assert first.body == second.body
    assert len(calls) == 1 and len(encoder.cache) == 1
    encoder.encode(classicRequest(), Response(body=PAGE))
    assert len(calls) == 2  # dynamic pages are compressed every time


def test_small_bodies_errors_and_incapable_boxes_are_left_alone():
    encoder = BodyEncoder()
    assert encoder.encode(classicRequest(), Response(body=b"<p>tiny</p>")).headers == []
    assert encoder.encode(classicRequest(), Response(status=404, body=PAGE)).headers == []
    plain = Request("GET", "wtv-x:/p", Headers([("wtv-capability-flags", "10935ffc87")]))
    assert encoder.encode(plain, Response(body=PAGE)).body == PAGE
