"""
The C accelerator of LZPF against the pure-Python codec: equal streams,
equal results and equal errors on any input; its build (warnings, an
install without a compiler) and which codec a process uses.

C{tests/test_lzpf.py} runs the known-answer tests on both codecs.
"""

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import fallbackIn, importedOrWhyNot, needsExtension, startLine
from tests.offline import copyOfTheCheckout, offlineEnvironment
from tests.realserver import REPOSITORY, RealServer
from tests.test_lzpf import html_like, long_html_like, runs
from wtvserv.box import Box, make_profile, make_ssid
from wtvserv.crypto import _lzpf_python as pure
from wtvserv.crypto import lzpf

native, _ = importedOrWhyNot("wtvserv.crypto._lzpf_c")
needs_native = needsExtension(native, "WTVSERV_REQUIRE_LZPF_C")
DIFFERENTIAL = settings(max_examples=300, deadline=None)
SOURCE = REPOSITORY / "wtvserv" / "crypto" / "_lzpf_c.c"


def outcome(function, *args):
    """@return: what C{function(*args)} returned, or the type and text of
    what it raised."""
    try:
        return "returned", function(*args)
    except Exception as error:
        return "raised", type(error), str(error)


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
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fail_many()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(damaged) for damaged in bad] == references
    assert grown < 64 * 1024, grown  # one lost output would be 36 KB, 1500 lost 54 MB


@needs_native
def test_the_process_uses_the_c_codec_where_it_is_built():
    assert lzpf.IMPLEMENTATION == "c" and lzpf.FALLBACK_REASON is None
    assert lzpf.compress is native.compress and lzpf.decode is native.decode


def compiler():
    """@return: the C compiler Python was built with, if it is on PATH."""
    command = (sysconfig.get_config_var("CC") or "cc").split()
    return command if shutil.which(command[0]) else None


def assert_compiles_without_warnings(source, tmp_path):
    """C{source} compiles with C{-Wall -Wextra}, every warning an error."""
    include = sysconfig.get_paths()["include"]
    result = subprocess.run(
        [*compiler(), "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{include}",
         "-c", str(source), "-o", str(tmp_path / "extension.o")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(compiler() is None, reason="no C compiler")
def test_the_extension_compiles_without_warnings(tmp_path):
    assert_compiles_without_warnings(SOURCE, tmp_path)


@pytest.fixture(scope="module")
def without_compiler(tmp_path_factory):
    """
    A new virtual environment where pip installed a copy of wtvserv, offline,
    with the C compiler made unusable (C{CC=/bin/false}).

    @return: its python and pip's verbose output.
    """
    base = tmp_path_factory.mktemp("no-compiler")
    return offlineEnvironment(base, copyOfTheCheckout(base / "src"),
                              env=dict(os.environ, CC="/bin/false"), verbose=True)


def test_without_a_compiler_the_install_works_and_falls_back(without_compiler, tmp_path):
    assert fallbackIn(without_compiler, tmp_path, "wtvserv.crypto", "lzpf", "_lzpf_c") == ("python",)


def sign_up_on(python, tmp_path, profile, seen):
    """
    Start the real server with C{python}, power on a box of C{profile}
    (its lines to C{seen}) and stop the server.

    @return: the home page the box reached and the server's log.
    """
    server = RealServer(tmp_path / "data", python=str(python), fromCheckout=False).start()

    async def box_signs_up():
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile, log=seen.append) as box:
            return await box.power_on()

    try:
        return asyncio.run(box_signs_up()), server.log
    finally:
        server.stop()


def test_without_a_compiler_the_server_says_so_once_and_serves_lzpf(without_compiler, tmp_path):
    python, _ = without_compiler
    seen = []
    profile = make_profile("classic", ssid=make_ssid(61), username="fallback")
    home, log = sign_up_on(python, tmp_path, profile, seen)
    assert home.status == 200 and home.encrypted
    assert any("(lzpf, encrypted)" in line for line in seen), seen  # the sign-up page
    line = startLine(log, "LZPF compression")
    assert "pure Python" in line and "_lzpf_c" in line
