"""
Tests for L{wtvserv.compression}: the choice of LZPF or deflate, the
encoded bodies of scenarios B and C of C{vectors/secure_session.json}, and
the cache.
"""

import zlib

import pytest

from tests.conftest import load_vectors
from wtvserv.compression import (
    DEFLATE,
    LZPF,
    CompressedCache,
    choose_encoding,
    encode_body,
)
from wtvserv.crypto.lzpf import compress, decompress

CAN_COMPRESS = "10935ffc8f"  # bit 3 set
CANNOT_COMPRESS = "10935ffc87"  # the same without bit 3
PAGE_LENGTH = 598


class FakeHeaders:
    """Request headers looked up without regard to case, like the real ones."""

    def __init__(self, *lines: str, **values: str) -> None:
        self._values = {}
        for line in lines:
            name, _, value = line.partition(":")
            self._values[name.strip().lower()] = value.strip()
        for name, value in values.items():
            self._values[name.replace("_", "-").lower()] = value

    def get(self, name, default=None):
        return self._values.get(name.lower(), default)


def box(flags=CAN_COMPRESS, version="7181", rom="US-LC2-disk-0MB-8MB", **more):
    """@return: the headers of a box, by default a newer one able to compress."""
    return FakeHeaders(wtv_capability_flags=flags, wtv_system_version=version,
                       wtv_client_rom_type=rom, **more)


def choose(headers, status=200, content_type="text/html", length=PAGE_LENGTH):
    """L{choose_encoding} for a 598-byte HTML page unless told otherwise."""
    return choose_encoding(headers, status, content_type, length)


def scenario(letter):
    """@return: scenario C{letter} of C{secure_session.json}."""
    for each in load_vectors("secure_session.json")["scenarios"]:
        if each["scenario"] == letter:
            return each
    raise LookupError(letter)


def first_exchange(letter):
    """@return: the first exchange on the first secure connection."""
    return scenario(letter)["secure_connections"][0]["exchanges"][0]


def profile_headers(letter):
    """@return: the identity headers the scripted box of C{letter} sent."""
    return FakeHeaders(*scenario(letter)["box_profile"]["headers"])


def test_scenario_letters_name_the_three_boxes():
    assert scenario("A")["box_profile"]["name"] == "plus-nocompress"
    assert scenario("B")["box_profile"]["name"] == "classic-bf0app-lzpf"
    assert scenario("C")["box_profile"]["name"] == "plus-deflate"


def test_captured_boxes_get_what_the_anchor_sent_them():
    """A: no bit 3, nothing; B: a classic box, LZPF; C: a newer box, deflate."""
    assert choose(profile_headers("A")) is None
    assert choose(profile_headers("B")) == LZPF
    assert choose(profile_headers("C")) == DEFLATE


def test_lzpf_of_scenario_b_page_is_the_captured_body():
    exchange = first_exchange("B")
    page = exchange["response_body_after_lzpf_text"].encode("latin-1")
    captured = bytes.fromhex(exchange["response_body_after_rc4_hex"])
    assert compress(page) == captured
    assert encode_body(LZPF, page) == (captured, [("wtv-lzpf", "0")])


def test_scenario_b_keeps_the_uncompressed_content_length():
    exchange = first_exchange("B")
    page = exchange["response_body_after_lzpf_text"].encode("latin-1")
    assert f"Content-length: {len(page)}\n" in exchange["response_head_text"]
    assert "wtv-lzpf: 0\n" in exchange["response_head_text"]
    wire = bytes.fromhex(exchange["response_body_after_rc4_hex"])
    assert decompress(wire, len(page)) == page


def test_deflate_of_scenario_c_page_is_a_level_9_zlib_stream_of_it():
    exchange = first_exchange("C")
    page = exchange["response_body_after_inflate_text"].encode("latin-1")
    captured = bytes.fromhex(exchange["response_body_after_rc4_hex"])
    body, headers = encode_body(DEFLATE, page)
    assert headers == [("Content-Encoding", "deflate")]
    assert body[:2] == captured[:2] == b"\x78\xda"
    assert zlib.decompress(body) == zlib.decompress(captured) == page
    assert f"Content-length: {len(captured)}\n" in exchange["response_head_text"]


def test_without_bit_3_nothing_is_compressed():
    assert choose(box(flags=CANNOT_COMPRESS)) is None
    assert choose(box(flags="not hex")) is None
    assert choose(FakeHeaders(wtv_system_version="1235")) is None


def test_only_status_200_is_compressed():
    for status in (201, 302, 404, 500):
        assert choose(box(), status=status) is None


def test_bodies_under_256_bytes_are_sent_as_they_are():
    assert choose(box(), length=255) is None
    assert choose(box(), length=256) == DEFLATE


@pytest.mark.parametrize("content_type", [
    "text/html", "TEXT/HTML; charset=iso-8859-1", "text/plain", "text/css",
    "application/javascript", "application/x-javascript",
    "application/json; charset=utf-8",
])
def test_text_javascript_and_json_are_compressed(content_type):
    assert choose(box(), content_type=content_type) == DEFLATE


@pytest.mark.parametrize("content_type", [
    "text/tellyscript", "text/dialscript", "Text/TellyScript; x=1",
    "image/gif", "audio/midi", "application/octet-stream", "", "texthtml",
])
def test_scripts_and_binary_types_are_not_compressed(content_type):
    assert choose(box(), content_type=content_type) is None


def test_download_requests_are_not_compressed():
    assert choose(box(wtv_request_type="download")) is None
    assert choose(box(wtv_request_type="primary")) == DEFLATE


def test_classic_box_gets_lzpf_whatever_its_build():
    assert choose(box(rom="bf0app", version="7181")) == LZPF


def test_builds_before_3500_get_lzpf():
    assert choose(box(version="3499")) == LZPF
    assert choose(box(version="3500")) == DEFLATE


def test_unknown_build_counts_as_old():
    """Without a numeric version LZPF, the box's own format, is the safe guess."""
    assert choose(FakeHeaders(wtv_capability_flags=CAN_COMPRESS)) == LZPF
    assert choose(box(version="7181b")) == LZPF
    assert choose(box(version="")) == LZPF


def box_lines():
    """@return: header lines of a newer box able to compress."""
    return [f"wtv-capability-flags: {CAN_COMPRESS}", "wtv-system-version: 7181"]


@pytest.mark.parametrize("header", ["wtv-need-upgrade", "wtv-used-8675309"])
def test_minibrowser_gets_lzpf(header):
    """Either header marks the minibrowser, even with an empty value."""
    assert choose(FakeHeaders(f"{header}: true", *box_lines())) == LZPF
    assert choose(FakeHeaders(f"{header}:", *box_lines())) == LZPF



def test_encode_body_without_encoding_changes_nothing():
    assert encode_body(None, b"body") == (b"body", [])


def test_encode_body_refuses_unknown_encodings():
    with pytest.raises(ValueError):
        encode_body("gzip", b"body")


PAGE = b"<html><body>" + b"<p>Welcome to WebTV</p>\n" * 40 + b"</body></html>"


def counting_encoder(monkeypatch):
    """@return: a list that grows by one each time a body is compressed."""
    import wtvserv.compression as module

    calls = []
    real = module.encode_body

    def counting(encoding, body):
        calls.append(encoding)
        return real(encoding, body)

    monkeypatch.setattr(module, "encode_body", counting)
    return calls


def test_cache_compresses_static_content_once(monkeypatch):
    calls = counting_encoder(monkeypatch)
    cache = CompressedCache()
    first = cache.get_or_encode("/splash", LZPF, PAGE)
    assert cache.get_or_encode("/splash", LZPF, PAGE) == first
    assert first == encode_body(LZPF, PAGE)
    assert calls == [LZPF]


def test_cache_key_includes_the_encoding(monkeypatch):
    calls = counting_encoder(monkeypatch)
    cache = CompressedCache()
    lzpf_body, _ = cache.get_or_encode("/splash", LZPF, PAGE)
    deflate_body, headers = cache.get_or_encode("/splash", DEFLATE, PAGE)
    assert zlib.decompress(deflate_body) == PAGE
    assert decompress(lzpf_body, len(PAGE)) == PAGE
    assert headers == [("Content-Encoding", "deflate")]
    assert calls == [LZPF, DEFLATE]


def test_cache_hands_out_headers_callers_may_change():
    cache = CompressedCache()
    cache.get_or_encode("/splash", LZPF, PAGE)[1].append(("X", "y"))
    assert cache.get_or_encode("/splash", LZPF, PAGE)[1] == [("wtv-lzpf", "0")]


def test_cache_evicts_the_least_recently_used_entry(monkeypatch):
    calls = counting_encoder(monkeypatch)
    cache = CompressedCache(maxEntries=2)
    cache.get_or_encode("a", LZPF, PAGE)
    cache.get_or_encode("b", LZPF, PAGE)
    cache.get_or_encode("a", LZPF, PAGE)  # "a" is now the most recent
    cache.get_or_encode("c", LZPF, PAGE)  # evicts "b"
    assert len(cache) == 2
    cache.get_or_encode("a", LZPF, PAGE)
    assert len(calls) == 3
    cache.get_or_encode("b", LZPF, PAGE)
    assert len(calls) == 4


def test_cache_stays_under_its_byte_budget():
    size = len(encode_body(DEFLATE, PAGE)[0])
    cache = CompressedCache(maxBytes=size * 3)
    for key in range(10):
        cache.get_or_encode(key, DEFLATE, PAGE)
        assert cache.totalBytes <= size * 3
    assert len(cache) == 3


def test_cache_does_not_keep_a_body_bigger_than_its_budget():
    cache = CompressedCache(maxBytes=10)
    body, headers = cache.get_or_encode("big", LZPF, PAGE)
    assert decompress(body, len(PAGE)) == PAGE
    assert len(cache) == 0 and cache.totalBytes == 0
