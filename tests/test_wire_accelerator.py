"""
The C accelerator of L{wtvserv.wire} against its pure Python: the same
heads read and written, and the same L{WireError} (status and message) at
the same point, on any input, and which code a process uses (its build:
C{tests/test_accelerator_fallbacks.py}).

C{tests/test_wire.py} and C{tests/test_fuzz_wire.py} run the wire's own
tests on both.
"""

import enum
import itertools
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import importedOrWhyNot, memoryGrownBy, needsExtension, outcome
from tests.fuzzing import mutated
from tests.test_bench_smoke import runBench
from tests.test_fuzz_wire import LIMITS, SAMPLES, limitsNear
from wtvserv import wire
from wtvserv.wire import Limits, Response, WireError

native, _ = importedOrWhyNot("wtvserv._wire_c")
needs_native = needsExtension(native, "WTVSERV_REQUIRE_WIRE_C")
DIFFERENTIAL = settings(max_examples=400, deadline=None)


def read(function, data: bytes, scanned: int, limits: Limits):
    """
    @return: what C{function} made of C{data}: its result (with the order
        of the first-values table), or the type, status and message of
        what it raised.
    """
    result = outcome(function, bytearray(data), scanned, limits)
    if result[0] == "raised":
        return result
    head = result[1]
    return "returned", head, None if head is None else list(head[4].items())


def same_reading(data: bytes, scanned: int = 0, limits: Limits = Limits()):
    """Both implementations read C{data} alike; @return: what they made of it."""
    expected = read(wire._readHeadPython, data, scanned, limits)
    assert read(native.readHead, data, scanned, limits) == expected, (data, scanned, limits)
    return expected


#: Bytes that mean something to the head's reader, or that Python's str
#: methods judge by tables: whitespace strip() takes (\x85 \xa0 \x1c), what
#: isprintable() refuses (\x7f \xad), latin-1 letters, digits, the HTTP suffix.
SPECIAL = (b"\x00", b"\t", b"\n", b"\r", b"\x0b", b"\x1c", b"\x1f", b" ", b":", b".", b"/", b"0",
           b"9", b"H", b"P", b"S", b"s", b"\x7f", b"\x85", b"\xa0", b"\xad", b"\xb2", b"\xdf",
           b"\xe9", b"\xff")

#: Request lines each a step from a good one, or from a bad one.
ODD_REQUEST_LINES = [
    "GET wtv-home:/home", "get wtv-home:/home", "PoSt wtv-x:/y?a=1", "PUT wtv-x:/y", "FETCH wtv-x:/",
    "GET", "GET ", "GET  wtv-x:/y", "SECURE ON", "secure on", "Secure On", "SECURE  ON",
    "SECURE ON ", "SECURE\tON", "G\xc9T wtv-x:/", "GET wtv-x:/y HTTP/1.0", "GET wtv-x:/y\tHTTP/1.1",
    "GET wtv-x:/y \xa0 HTTP/10.22", "GET wtv-x:/y\x85HTTP/1.0", "GET wtv-x:/y HTTP/1.",
    "GET wtv-x:/y HTTP/.1", "GET wtv-x:/y HTTP/1.0.1", "GET wtv-x:/y http/1.0",
    "GET wtv-x:/y HTTP/1.0 ", "GET HTTP/1.0", "GET  HTTP/1.0", "GET wtv-x:/a b", "GET \xa0wtv-x:/\xa0",
    "GET wtv-x:/\xad", "GET wtv-x:/\xe9\xff", "GET wtv-x:/\x7f", "GET wtv-x:/\x00",
    "GET wtv-x:/y HTTP/1.0 HTTP/1.1", "GET x\r", "GET x\rHTTP/1.0", "GET wtv-x:/y  HTTP/1.0",
    "GET wtv-x:/y \x1c\x85 HTTP/1.0", "GET \x85 HTTP/1.0", "GET a HTTP/1.0\r\r",
]
REQUEST_LINES = st.sampled_from(ODD_REQUEST_LINES) | st.text(st.sampled_from("GETPOSsecure n:/\t\r\x00\x85\xa0\xe9HTP1.0"), max_size=20)
NAMES = st.sampled_from([
    "wtv-client-serial-number", "Content-length", "CONTENT-LENGTH", "content-length",
    "Content-Length ", " A", "A\xa0", "\x85A", "", " ", "X Y", "X\x00", "\xe9", "a_b~c|d",
    "wtv-ticket", "Accept-Language", "X-One", "x-one", "!#$%&'*+.^_`|~-",
]) | st.text(st.sampled_from("AaZz09-_:\r \t\x00\x85\xa0\xe9"), max_size=8)
VALUES = st.sampled_from([
    "", "1", "0", "007", "12x", " 5 ", "-1", "+1", "\xb2", "1\xb9", "99999999999999999999999",
    "9" * 40, "8112345600B0026b", "a\rb", "a\x00b", "\x85x\xa0", "\xe9t\xe9",
]) | st.text(st.characters(min_codepoint=0, max_codepoint=0xff, exclude_characters="\n"),
             max_size=12)
SEPARATORS = st.sampled_from([":", ": ", " : ", ":\t", "::", "", ":\xa0", "\x85:"])
LINE_ENDS = st.sampled_from(["\r\n", "\n", "\r\r\n", "\r"])
TERMINATORS = st.sampled_from(["\r\n\r\n", "\n\r\n", "\n\n", "\r\n", "\r\n\r", "", "\r\n \r\n"])


@st.composite
def heads(draw) -> bytes:
    """A head built from pieces, well-formed or not, maybe incomplete."""
    lines = [draw(REQUEST_LINES)]
    for _ in range(draw(st.integers(0, 6))):
        lines.append(draw(NAMES) + draw(SEPARATORS) + draw(VALUES))
    text = "".join(line + draw(LINE_ENDS) for line in lines[:-1]) + lines[-1]
    text += draw(TERMINATORS) + draw(st.sampled_from(["", "body", "GET wtv-x:/\r\n\r\n"]))
    return text.encode("latin-1")


@st.composite
def reads(draw, data):
    """C{(data, scanned, limits)}: how much was searched before, and limits."""
    stream = draw(data)
    scanned = draw(st.integers(0, len(stream) + 4))
    return stream, scanned, draw(LIMITS | limitsNear(stream))


@needs_native
@DIFFERENTIAL
@given(reads(st.binary(max_size=400)))
def test_both_read_garbage_alike(case):
    same_reading(*case)


@needs_native
@DIFFERENTIAL
@given(reads(heads()))
def test_both_read_heads_made_of_odd_pieces_alike(case):
    same_reading(*case)


@needs_native
@DIFFERENTIAL
@given(reads(st.sampled_from(SAMPLES).flatmap(lambda sample: mutated(sample, maxEdits=6))))
def test_both_read_damaged_requests_alike(case):
    same_reading(*case)


@needs_native
def test_every_byte_of_real_heads_changed_to_a_special_one_is_read_alike():
    """Each byte of each sample's first head in turn becomes each of L{SPECIAL}."""
    for sample in SAMPLES:
        head = sample[:sample.index(b"\n\r\n") + 3] if b"\n\r\n" in sample else sample
        for index in range(len(head)):
            for byte in SPECIAL:
                same_reading(head[:index] + byte + head[index + 1:])


@needs_native
def test_odd_request_lines_are_read_alike():
    for line in ODD_REQUEST_LINES:
        for end in ("\r\n\r\n", "\n\n", "\r\nA: 1\n\r\n"):
            same_reading((line + end).encode("latin-1"))


@needs_native
def test_every_prefix_is_read_alike_however_much_was_searched():
    for sample in SAMPLES:
        for cut in range(len(sample) + 1):
            for scanned in {0, max(0, cut - 3), cut}:
                same_reading(sample[:cut], scanned)


@needs_native
def test_heads_at_and_over_each_limit_are_read_alike():
    """Each limit from three under to three over what each sample's first head needs."""
    for sample in SAMPLES:
        head = re.split(rb"\r\n\r\n|\n\r\n|\n\n", sample, maxsplit=1)[0]
        lines = head.split(b"\n")
        needs = {"requestLine": len(lines[0].rstrip(b"\r")), "headerCount": len(lines) - 1,
                 "headerBlock": len(head), "body": 39}
        outcomes = set()
        for field, need in needs.items():
            for limit in range(max(0, need - 3), need + 4):
                for data in (sample, head, head + b"\r\n"):
                    result = same_reading(data, 0, Limits(**{field: limit}))
                    outcomes.add(result[0] if result[0] == "returned" else result[2])
        assert "returned" in outcomes and len(outcomes) > 1, (sample, outcomes)


@needs_native
def test_lengths_past_any_integer_are_refused_alike():
    for length in ("9" * 19, "9" * 30, "9223372036854775807", "9223372036854775808", "0" * 50 + "1"):
        data = f"POST wtv-x:/\r\nContent-length: {length}\r\n\r\n".encode()
        for body in (0, 1, 2**62, 2**63 - 1, -1):
            same_reading(data, 0, Limits(body=body))


@needs_native
def test_the_first_content_length_counts_however_many_follow():
    for first, second in itertools.permutations(["3", "x", "", "99", " 4 "], 2):
        for method in ("POST wtv-x:/", "SECURE ON"):
            same_reading(f"{method}\r\nContent-Length: {first}\r\nA: b\r\n"
                         f"content-length:{second}\r\n\r\nabc".encode(), 0, Limits(body=10))


@needs_native
def test_the_read_is_the_one_the_parser_returns():
    data = (b"POST wtv-x:/f?a=1 HTTP/1.0\r\nX: 1\r\nx:2\r\nContent-Length: 3\r\n\r\nabc"
            b"GET wtv-y:/\r\n\r\n")
    _, head, order = same_reading(data)
    assert head == (len(data) - 18, "POST", "wtv-x:/f?a=1",
                    [("X", "1"), ("x", "2"), ("Content-Length", "3")],
                    {"x": "1", "content-length": "3"}, 3)
    assert order == [("x", "1"), ("content-length", "3")]
    status = same_reading(b"GET wtv-x:/y\r\nA: 1\r\n" + b"B\r\n\r\n")
    assert status == ("raised", WireError, "400 The request had a malformed header.")


def written(function, response, core, length):
    return outcome(function, response, core, length)


TEXT = st.text(st.characters(blacklist_categories=()), max_size=16) | st.sampled_from(
    ["", "OK", "a\r\nb", "\x00", "caf\xe9", "\u20ac", "\ud800", "\U0001f600", "\n" * 3])
HEADER_LISTS = st.lists(st.tuples(TEXT, TEXT), max_size=6)


@needs_native
@DIFFERENTIAL
@given(status=st.integers(-10**20, 10**20), reason=TEXT, close=st.booleans(),
       headers=HEADER_LISTS, core=HEADER_LISTS, contentType=TEXT,
       length=st.integers(-10**20, 10**20), asTuple=st.booleans())
def test_both_write_any_head_alike(status, reason, close, headers, core, contentType, length,
                                   asTuple):
    response = Response(status=status, reason=reason, close=close, contentType=contentType,
                        headers=tuple(headers) if asTuple else headers)
    expected = written(wire._formatHeadPython, response, core, length)
    assert written(native.formatHead, response, core, length) == expected
    assert expected[0] == "returned"


class Status(enum.IntEnum):
    OK = 200


@needs_native
@pytest.mark.parametrize("change", [
    {"status": Status.OK}, {"status": True}, {"reason": None}, {"contentType": b"text/html"},
    {"headers": [("wtv-expire-all", 0)]}, {"headers": [["A", "1"]]}, {"headers": [("A",)]},
    {"headers": {"A": "1"}.items()}, {"headers": [("A", "1\n"), ("B", 2)]},
    {"headers": [(type("Name", (str,), {})("A"), "1")]},
])
def test_heads_with_other_types_are_left_to_the_pure_code(change):
    """The accelerator declines (L{None}); serializeHead then says what the pure code says."""
    response = Response(**{"body": b"abc", **change})
    assert native.formatHead(response, [], 3) is None
    assert (outcome(wire.serializeHead, response)
            == outcome(wire._formatHeadPython, response, (), 3))


@needs_native
def test_reading_and_writing_leak_neither_memory_nor_references():
    limits = Limits(requestLine=64, headerCount=4, headerBlock=200, body=10)
    heads = [bytearray(head) for head in (
        b"GET wtv-x:/y\r\nA: 1\r\nB: 2\r\nContent-length: 5\r\n\r\n",
        b"GET wtv-x:/y\r\nA: 1\r\nB\r\n\r\n", b"GET wtv-x:/" + b"y" * 70 + b"\r\n\r\n",
        b"GET wtv-x:/y\r\n" + b"A: 1\r\n" * 5 + b"\r\n", b"FETCH x\r\n\r\n",
        b"POST wtv-x:/y\r\nContent-length: 11\r\n\r\n", b"GET wtv-x:/y" + b"z" * 300)]
    response = Response(headers=[("A", "1"), ("B", "\u20ac\r\n")], body=b"x")

    def work():
        for _ in range(300):
            for head in heads:
                try:
                    native.readHead(head, 0, limits)
                except WireError:
                    pass
            native.formatHead(response, [("wtv-encrypted", "true")], 1)

    work()  # warm up caches, exceptions' first messages
    references = [sys.getrefcount(head) for head in heads] + [sys.getrefcount(limits)]
    grown = memoryGrownBy(work)
    assert [sys.getrefcount(head) for head in heads] + [sys.getrefcount(limits)] == references
    assert grown < 32 * 1024, grown  # the objects of a head lost per call: megabytes
    for head in heads:
        head += b"x"  # no buffer is still exported, on success or on error


@needs_native
def test_the_process_uses_the_c_code_where_it_is_built():
    assert wire.IMPLEMENTATION == "c" and wire.FALLBACK_REASON is None
    assert wire._readHead is native.readHead and wire._formatHead is native.formatHead


def test_the_benchmark_runs_and_prints_both_implementations():
    output = runBench("bench_wire.py", "--runs", "1", "--calls", "20")
    assert f"wtvserv.wire in use: {wire.IMPLEMENTATION}" in output, output
    assert "parse first request" in output and "serialize login response" in output, output
    if native is not None:
        assert "ratio" in output, output
