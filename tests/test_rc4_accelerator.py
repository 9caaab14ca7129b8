"""
The C accelerator of L{wtvserv.crypto.rc4} against pycryptodome's ARC4: the
same keystream for any key, however the input is split, and the same errors,
and which stream a process uses (its build:
C{tests/test_accelerator_fallbacks.py}).

C{tests/test_rc4.py} runs the known-answer tests on both.
"""

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import importedOrWhyNot, memoryGrownBy, needsExtension, outcome
from wtvserv.crypto import rc4
from wtvserv.crypto.rc4 import PycryptodomeRC4Stream

extension, _ = importedOrWhyNot("wtvserv.crypto._rc4_c")
native = extension and extension.RC4Stream
needs_native = needsExtension(native, "WTVSERV_REQUIRE_RC4_C")
DIFFERENTIAL = settings(max_examples=400, deadline=None)
KEYS = st.binary(min_size=1, max_size=256)


@needs_native
@DIFFERENTIAL
@given(KEYS, st.lists(st.binary(max_size=600), max_size=8))
def test_both_streams_give_the_same_bytes_message_after_message(key, messages):
    ours, theirs = native(key), PycryptodomeRC4Stream(key)
    for message in messages:
        assert ours.process(message) == theirs.process(message)


@needs_native
@DIFFERENTIAL
@given(KEYS, st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=6))
def test_a_message_split_anywhere_gives_the_one_keystream(key, data, cuts):
    """What one stream makes of C{data} split at C{cuts} is what the other makes of it whole."""
    whole = PycryptodomeRC4Stream(key).process(data)
    stream = native(key)
    edges = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    pieces = [stream.process(data[start:end]) for start, end in zip(edges, edges[1:])]
    assert b"".join(pieces) == whole


@needs_native
def test_every_key_length_and_its_edges_are_treated_alike():
    for length in (0, 1, 2, 5, 15, 16, 17, 64, 255, 256, 257, 1000):
        key = bytes(n % 256 for n in range(7, 7 + length))
        expected = outcome(lambda: PycryptodomeRC4Stream(key).process(bytes(300)))
        assert outcome(lambda: native(key).process(bytes(300)))[:2] == expected[:2], length
    assert outcome(native, b"")[:2] == ("raised", ValueError)


@needs_native
def test_keys_and_messages_of_any_bytes_like_type_are_accepted():
    key, data = b"k" * 16, b"GET wtv-home:/home\r\n\r\n"
    expected = PycryptodomeRC4Stream(key).process(data)
    for wrap in (bytes, bytearray, memoryview):
        assert native(wrap(key)).process(wrap(data)) == expected
        assert native(key=wrap(key)).process(wrap(data)) == expected
    for stream in (native, PycryptodomeRC4Stream):
        with pytest.raises(TypeError):
            stream("a text key")
        with pytest.raises(TypeError):
            stream(key).process("text")


@needs_native
def test_the_stream_shows_no_key():
    assert repr(native(b"K" * 16)) == repr(PycryptodomeRC4Stream(b"K" * 16)) == "<RC4Stream>"


@needs_native
def test_streams_leak_neither_memory_nor_references():
    key, message = b"k" * 16, bytearray(b"GET wtv-home:/home\r\n\r\n" * 4)

    def work():
        for _ in range(2000):
            stream = native(key)
            stream.process(message)
            stream.process(b"")
            with pytest.raises(ValueError):
                native(b"")
            with pytest.raises(TypeError):
                stream.process(7)

    work()  # warm up caches, exceptions' first messages
    references = sys.getrefcount(key), sys.getrefcount(message)
    grown = memoryGrownBy(work)
    assert (sys.getrefcount(key), sys.getrefcount(message)) == references
    assert grown < 32 * 1024, grown  # 2000 lost streams or outputs: over 200 KB
    message += b"x"  # no buffer is still exported


@needs_native
def test_the_process_uses_the_c_stream_where_it_is_built():
    assert rc4.IMPLEMENTATION == "c" and rc4.FALLBACK_REASON is None
    assert rc4.RC4Stream is native
    assert type(rc4.ServerStreams(b"1" * 16, b"2" * 16, 3)._upstream) is native
