"""
Tests for L{wtvserv.crypto.lzpf}, mostly against C{vectors/lzpf.json}.

Each test runs on both codecs, the pure-Python one and the C accelerator
(skipped where it was not built, unless C{WTVSERV_REQUIRE_LZPF_C} is set,
as C{.ci/run} does).
"""

import hashlib
import random
from base64 import b64decode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import builtOrSkipped, importedOrWhyNot
from tests.conftest import load_vectors
from wtvserv.crypto import _lzpf_python
from wtvserv.crypto.lzpf import WINDOW, IncompleteStream, LZPFError

_lzpf_c, C_MISSING = importedOrWhyNot("wtvserv.crypto._lzpf_c")


@pytest.fixture(scope="module", params=["python", "c"])
def codec(request):
    """The codec module under test: C{_lzpf_python} or C{_lzpf_c}."""
    if request.param == "python":
        return _lzpf_python
    return builtOrSkipped(_lzpf_c, C_MISSING, "WTVSERV_REQUIRE_LZPF_C")


def lzpf_cases():
    """@return: the ordinary cases of C{lzpf.json}."""
    return load_vectors("lzpf.json")["cases"]


def edge_case():
    """@return: the case where the anchor encoder is wrong."""
    return load_vectors("lzpf.json")["edge_cases"][0]


def case_named(name):
    """@return: input and anchor output of the case called C{name}."""
    for case in lzpf_cases():
        if case["name"] == name:
            return b64decode(case["input_b64"]), b64decode(case["output_b64"])
    raise LookupError(name)


def test_compress_reproduces_every_anchor_vector(codec):
    for case in lzpf_cases():
        data = b64decode(case["input_b64"])
        assert len(data) == case["input_length"], case["name"]
        assert hashlib.sha256(data).hexdigest() == case["input_sha256"]
        output = codec.compress(data)
        assert output == b64decode(case["output_b64"]), case["name"]
        assert len(output) == case["output_length"]


def test_short_inputs_give_the_documented_bytes(codec):
    """The examples of PROTOCOL.md 10.2."""
    assert codec.compress(b"").hex() == "000000"
    assert codec.compress(b"A").hex() == "40010400"
    assert codec.compress(b"AB").hex() == "406804c8041800"
    assert codec.compress(b"ABC").hex() == "4068e009900c6000"


def test_prediction_8192_back_compares_before_storing(codec):
    """
    The edge case compresses to the read-before-write output, which is not
    the anchor's.
    """
    case = edge_case()
    output = codec.compress(b64decode(case["input_b64"]))
    assert output == b64decode(case["read_before_write_encoder_output_b64"])
    assert len(output) == case["read_before_write_encoder_output_length"]
    assert output != b64decode(case["output_b64"])


def test_edge_case_output_decodes_to_its_input(codec):
    case = edge_case()
    data = b64decode(case["input_b64"])
    stream = b64decode(case["read_before_write_encoder_output_b64"])
    assert codec.decompress(stream, len(data)) == data


def test_anchor_output_of_the_edge_case_is_rejected(codec):
    """The anchor's stream decodes to other bytes, which the checks catch."""
    case = edge_case()
    with pytest.raises(LZPFError):
        codec.decompress(b64decode(case["output_b64"]), case["input_length"])


def test_decode_every_vector_with_its_known_length(codec):
    for case in lzpf_cases():
        data = b64decode(case["input_b64"])
        stream = b64decode(case["output_b64"])
        assert codec.decode(stream, len(data)) == (data, len(stream)), case["name"]
        assert codec.decompress(stream, len(data)) == data


def test_decode_says_where_the_stream_ends_when_more_bytes_follow(codec):
    data, stream = case_named("html")
    assert codec.decode(stream + b"200 OK\n", len(data)) == (data, len(stream))


@pytest.mark.parametrize("name", [
    "empty", "one-byte", "two-bytes", "three-bytes", "short-text", "html",
    "repetitive-abc-1500", "long-match-600-zero-bytes",
])
def test_every_truncation_is_an_incomplete_stream(codec, name):
    data, stream = case_named(name)
    for end in range(len(stream)):
        with pytest.raises(IncompleteStream):
            codec.decode(stream[:end], len(data))


@pytest.mark.parametrize("name", ["short-text", "text-with-repeats"])
def test_every_single_bit_flip_is_rejected(codec, name):
    data, stream = case_named(name)
    for bit in range(len(stream) * 8):
        corrupt = bytearray(stream)
        corrupt[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(LZPFError):
            codec.decompress(bytes(corrupt), len(data))


def test_wrong_checksum_is_a_corrupt_stream(codec):
    """C{A} is 010000, then the sum 0x0041, 2 padding bits and C{00}."""
    assert codec.compress(b"A") == bytes.fromhex("40010400")
    with pytest.raises(LZPFError, match="checksum") as raised:
        codec.decode(bytes.fromhex("40010800"), 1)  # sum 0x0042
    assert not isinstance(raised.value, IncompleteStream)


def test_non_zero_padding_or_last_byte_is_a_corrupt_stream(codec):
    for corrupt in ("40010500", "40010401"):
        with pytest.raises(LZPFError, match="00 byte"):
            codec.decode(bytes.fromhex(corrupt), 1)


def test_end_marker_before_the_expected_length_is_a_corrupt_stream(codec):
    data, stream = case_named("html")
    with pytest.raises(LZPFError, match="end marker after") as raised:
        codec.decode(stream, len(data) + 1)
    assert not isinstance(raised.value, IncompleteStream)


def test_output_longer_than_expected_is_a_corrupt_stream(codec):
    for name in ("short-text", "repetitive-A-1000"):
        data, stream = case_named(name)
        with pytest.raises(LZPFError) as raised:
            codec.decode(stream, len(data) - 1)
        assert not isinstance(raised.value, IncompleteStream)


def test_decompress_rejects_bytes_after_the_stream(codec):
    data, stream = case_named("short-text")
    with pytest.raises(LZPFError, match="follow"):
        codec.decompress(stream + b"\0", len(data))


def test_negative_expected_length_is_refused(codec):
    with pytest.raises(ValueError):
        codec.decode(b"\0\0\0", -1)


def test_run_longer_than_a_match_is_split_and_decodes(codec):
    data = b"<p>" + b"-" * 5000 + b"</p>"
    assert codec.decompress(codec.compress(data), len(data)) == data
    assert len(codec.compress(data)) < 60


def test_prediction_older_than_the_window_reads_what_replaced_it(codec):
    """
    The context C{<a>} comes back 9000 bytes later; its ring slot then
    holds a newer byte, which both sides must agree on.
    """
    filler = random.Random(7).randbytes(9000).replace(b"<a>", b"")
    data = b"<a>X" + filler + b"<a>X<a>Y"
    assert codec.decompress(codec.compress(data), len(data)) == data


HTML_TOKENS = [
    "<html>", "</html>", "<head>", "<title>", "</title>", "<body bgcolor=#000000>",
    "<table border=0>", "<tr>", "<td width=150>", "</td>", "<a href=\"wtv-home:/\">",
    "</a>", "<br>", "<p>", "<img src=\"file://ROM/Images/spacer.gif\" height=4>",
    "WebTV", "Mail", "the", "and", "of", "home", "favorites", " ", " ", "\n",
    "&nbsp;", "&rate;", "0", "42", "2000", "\u00e9",
]
ROUND_TRIP = settings(max_examples=100, deadline=None)


def html_like():
    """@return: a strategy for HTML-ish text of tags, words and numbers."""
    return st.lists(st.sampled_from(HTML_TOKENS), max_size=2000).map(
        lambda tokens: "".join(tokens).encode())


@st.composite
def long_html_like(draw):
    """
    @return: a strategy for HTML-ish text of 9000 bytes or more: a drawn
        fragment repeated with a counter, so predictions reach across the
        8 KiB window.
    """
    fragment = draw(st.lists(st.sampled_from(HTML_TOKENS), min_size=1,
                             max_size=300))
    target = draw(st.integers(9000, 20000))
    rows, size = [], 0
    while size < target:
        row = f"<!-- {len(rows)} -->" + "".join(fragment[len(rows) % 7:])
        rows.append(row)
        size += len(row.encode())
    return "".join(rows).encode()


def runs():
    """@return: a strategy for bytes made of long runs of one byte."""
    run = st.tuples(st.integers(0, 255), st.integers(1, 3000))
    return st.lists(run, max_size=8).map(
        lambda pairs: b"".join(bytes([value]) * count for value, count in pairs))


@ROUND_TRIP
@given(st.binary(max_size=3000))
def test_random_bytes_round_trip(codec, data):
    stream = codec.compress(data)
    assert codec.decode(stream, len(data)) == (data, len(stream))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32), st.integers(WINDOW + 1, 20000))
def test_random_bytes_over_the_window_round_trip(codec, seed, size):
    data = random.Random(seed).randbytes(size)
    assert codec.decompress(codec.compress(data), size) == data


@ROUND_TRIP
@given(html_like())
def test_html_like_text_round_trips(codec, data):
    assert codec.decompress(codec.compress(data), len(data)) == data


@settings(max_examples=30, deadline=None)
@given(long_html_like())
def test_html_like_text_over_the_window_round_trips(codec, data):
    assert len(data) > WINDOW
    assert codec.decompress(codec.compress(data), len(data)) == data


@ROUND_TRIP
@given(runs(), st.binary(max_size=64))
def test_long_runs_round_trip(codec, data, tail):
    data = data + tail
    assert codec.decompress(codec.compress(data), len(data)) == data


@ROUND_TRIP
@given(st.binary(max_size=2000), st.integers(0, 100000))
def test_garbage_never_hangs_and_never_overshoots(codec, garbage, expected):
    """Any input ends in a result of the promised length or an error."""
    try:
        output, used = codec.decode(garbage, expected)
    except LZPFError:
        return
    assert len(output) == expected
    assert used <= len(garbage)
