"""
The C accelerator of LZPF against the pure-Python codec: equal streams,
equal results and equal errors on any input, and which codec a process
uses. C{tests/test_accelerator_fallbacks.py} checks its build (warnings,
an install without a compiler); C{tests/test_lzpf.py} runs the
known-answer tests on both codecs.
"""

import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import importedOrWhyNot, memoryGrownBy, needsExtension, outcome
from tests.test_lzpf import html_like, long_html_like, runs
from wtvserv.crypto import _lzpf_python as pure
from wtvserv.crypto import lzpf

native, _ = importedOrWhyNot("wtvserv.crypto._lzpf_c")
needs_native = needsExtension(native, "WTVSERV_REQUIRE_LZPF_C")
DIFFERENTIAL = settings(max_examples=300, deadline=None)


def same_decoding(stream, expected):
    """Both codecs' C{decode} and C{decompress} agree on C{stream}."""
    for name in ("decode", "decompress"):
        assert (outcome(getattr(native, name), stream, expected)
                == outcome(getattr(pure, name), stream, expected)), name


@st.composite
def damaged_streams(draw):
    """
    @return: C{(stream, expected length)}: a real stream, then cut, bits
        flipped, bytes spliced in or added, and the length maybe off.
    """
    data = draw(st.one_of(st.binary(max_size=600), html_like(), runs()))
    stream = bytearray(pure.compress(data))
    for _ in range(draw(st.integers(0, 3))):
        bit = draw(st.integers(0, len(stream) * 8 - 1))
        stream[bit // 8] ^= 0x80 >> (bit % 8)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(stream)))
        stream = stream[:cut] + draw(st.binary(max_size=8)) + stream[cut + draw(st.integers(0, 3)):]
    stream += draw(st.binary(max_size=4))
    expected = len(data) + draw(st.sampled_from([0, 0, 0, 1, -1, 2, 300, -300]))
    return bytes(stream), max(expected, 0)


@needs_native
@DIFFERENTIAL
@given(st.one_of(st.binary(max_size=4000), html_like(), runs()))
def test_both_codecs_compress_to_the_same_stream(data):
    assert native.compress(data) == pure.compress(data)


@needs_native
@settings(max_examples=20, deadline=None)
@given(long_html_like())
def test_both_codecs_agree_across_the_window(data):
    stream = native.compress(data)
    assert stream == pure.compress(data)
    same_decoding(stream, len(data))


@needs_native
@DIFFERENTIAL
@given(st.binary(max_size=2000), st.integers(0, 100_000))
def test_both_codecs_say_the_same_about_garbage(garbage, expected):
    same_decoding(garbage, expected)


@needs_native
@DIFFERENTIAL
@given(damaged_streams())
def test_both_codecs_say_the_same_about_damaged_streams(case):
    same_decoding(*case)


@needs_native
def test_every_cut_with_any_tail_is_judged_alike():
    """
    Every prefix of a few streams, followed by bits that read as a match,
    a literal or nothing, with the right length and lengths one off: which
    check comes first must be the same too.
    """
    for data in (b"abcabcabcabc", b"<p>" + b"-" * 400 + b"</p>", b"hello, hello world"):
        stream = pure.compress(data)
        for cut in range(len(stream)):
            for tail in (b"", b"\xff", b"\x80", b"\x7f", b"\x00"):
                for expected in (len(data) - 1, len(data), len(data) + 1):
                    same_decoding(stream[:cut] + tail, expected)


@needs_native
def test_odd_expected_lengths_are_treated_alike():
    stream = pure.compress(b"hello hello hello")
    for expected in (-1, -2**70, 2**70, 0, 16, 18):
        same_decoding(stream, expected)


@needs_native
def test_any_bytes_like_input_is_accepted():
    data = b"<p>bytes-like</p>" * 20
    stream = pure.compress(data)
    for wrap in (bytearray, memoryview):
        assert native.compress(wrap(data)) == stream
        assert native.decode(wrap(stream), len(data)) == (data, len(stream))
    with pytest.raises(TypeError):
        native.compress("text")


@needs_native
def test_large_inputs_are_coded_in_several_threads_at_once():
    """Large inputs are worked on without the GIL; results stay exact."""
    pages = [(b"<tr><td>row %d</td></tr>\n" % n) * 4000 + bytes([n]) for n in range(4)]
    streams = [pure.compress(page) for page in pages]
    failures = []

    def work(index):
        for _ in range(5):
            if native.compress(pages[index]) != streams[index]:
                failures.append(f"compress {index}")
            if native.decompress(streams[index], len(pages[index])) != pages[index]:
                failures.append(f"decompress {index}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pages[0]) >= 65536 and failures == []


@needs_native
def test_errors_leak_neither_memory_nor_references():
    data = b"<html><body>" + b"<p>lost?</p>" * 3000
    stream = native.compress(data)
    bad = [stream[:len(stream) // 2], stream[:-2] + b"\x01\x00", b"\xff" * 4000]

    def fail_many():
        for _ in range(300):
            for damaged in bad:
                with pytest.raises(lzpf.LZPFError):
                    native.decompress(damaged, len(data))
            with pytest.raises(lzpf.LZPFError):
                native.decompress(stream + b"\0", len(data))
            with pytest.raises(ValueError):
                native.decode(stream, -1)

    fail_many()  # warm up caches, exceptions' first messages
    references = [sys.getrefcount(damaged) for damaged in bad]
    grown = memoryGrownBy(fail_many)
    assert [sys.getrefcount(damaged) for damaged in bad] == references
    assert grown < 64 * 1024, grown  # one lost output would be 36 KB, 1500 lost 54 MB


@needs_native
def test_the_process_uses_the_c_codec_where_it_is_built():
    assert lzpf.IMPLEMENTATION == "c" and lzpf.FALLBACK_REASON is None
    assert lzpf.compress is native.compress and lzpf.decode is native.decode
