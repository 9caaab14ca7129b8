"""
Tests for L{wtvserv.wire}: request parsing and response writing, no I/O.

Each test runs on both implementations of reading and writing heads, the
pure Python and the C accelerator (skipped where it was not built, unless
C{WTVSERV_REQUIRE_WIRE_C} is set, as C{.ci/run} does).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accelerators import builtOrSkipped, importedOrWhyNot
from wtvserv import wire
from wtvserv.wire import (
    SECURE_ON,
    Headers,
    Limits,
    RequestParser,
    Response,
    WireError,
    errorResponse,
    serializeHead,
)

_wire_c, C_MISSING = importedOrWhyNot("wtvserv._wire_c")


@pytest.fixture(scope="module", params=["python", "c"], autouse=True)
def implementation(request):
    """
    Make L{wtvserv.wire} read and write heads with the pure Python or with
    the C accelerator, for every test of the module that uses it.
    """
    if request.param == "python":
        chosen = wire._readHeadPython, wire._formatHeadPython
    else:
        native = builtOrSkipped(_wire_c, C_MISSING, "WTVSERV_REQUIRE_WIRE_C")
        chosen = native.readHead, native.formatHead
    saved = wire._readHead, wire._formatHead
    wire._readHead, wire._formatHead = chosen
    yield request.param
    wire._readHead, wire._formatHead = saved


LOGIN = (b"GET wtv-head-waiter:/login?\r\n"
         b"wtv-client-serial-number: 8112345600B0026b\r\n"
         b"wtv-incarnation:2\r\n"
         b"Accept-Language: en\r\n"
         b"\r\n")


def parseAll(data: bytes, limits: Limits = Limits()):
    parser = RequestParser(limits)
    parser.feed(data)
    requests = []
    while (request := parser.next()) is not None:
        requests.append(request)
    return requests, parser


def test_a_crlf_get_is_parsed_with_its_headers():
    [request], parser = parseAll(LOGIN)
    assert (request.method, request.url) == ("GET", "wtv-head-waiter:/login?")
    assert request.service == "wtv-head-waiter"
    assert request.path == "/login"
    assert request.ssid == "8112345600B0026b"
    assert parser.buffered == 0


def test_a_header_without_a_space_after_the_colon_is_read():
    [request], _ = parseAll(LOGIN)
    assert request.headers.get("wtv-incarnation") == "2"


def test_header_lookup_ignores_case():
    [request], _ = parseAll(LOGIN)
    assert request.headers.get("WTV-Client-Serial-Number") == "8112345600B0026b"


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("blank", [b"\n", b"\r\n"])
def test_lf_crlf_and_the_early_lf_crlf_terminators_all_end_a_request(end, blank):
    data = b"GET wtv-log:/log" + end + b"A: 1" + end + blank
    [request], parser = parseAll(data)
    assert request.headers.get("A") == "1"
    assert parser.buffered == 0


def test_repeated_headers_are_kept_in_order():
    [request], _ = parseAll(b"GET wtv-x:/y\r\nX: 1\r\nx: 2\r\nX: 3\r\n\r\n")
    assert request.headers.getAll("x") == ["1", "2", "3"]


@pytest.mark.parametrize("name", [b"Content-length", b"Content-Length", b"content-LENGTH"])
def test_a_post_body_is_read_with_either_spelling_of_content_length(name):
    [request], _ = parseAll(b"POST wtv-log:/log?type=x\r\n" + name + b": 5\r\n\r\nhello")
    assert request.body == b"hello"


def test_a_request_split_at_every_byte_is_parsed_once_complete():
    data = b"POST wtv-log:/log\r\nContent-length: 3\r\n\r\nabc" + LOGIN
    parser = RequestParser()
    seen = []
    for index in range(len(data)):
        parser.feed(data[index:index + 1])
        while (request := parser.next()) is not None:
            seen.append((request.method, request.body))
    assert seen == [("POST", b"abc"), ("GET", b"")]


def test_several_requests_in_one_read_come_out_in_order():
    requests, _ = parseAll(LOGIN + b"GET wtv-log:/second\r\n\r\n" + LOGIN)
    assert [r.path for r in requests] == ["/login", "/second", "/login"]


def test_secure_on_stops_at_its_block_and_leaves_the_ciphertext_buffered():
    parser = RequestParser()
    parser.feed(b"SECURE ON\r\nwtv-incarnation: 5\r\n\r\n\x8f\x00\r\n\r\nabc")
    request = parser.next()
    assert request.method == SECURE_ON
    assert parser.takeBuffered() == b"\x8f\x00\r\n\r\nabc"


def test_an_http_version_suffix_is_stripped():
    [request], _ = parseAll(b"GET wtv-home:/home HTTP/1.0\r\n\r\n")
    assert request.url == "wtv-home:/home"


def test_a_slashless_url_gets_its_slash():
    [request], _ = parseAll(b"GET wtv-home:home\r\n\r\n")
    assert request.path == "/home"


def test_query_and_posted_form_are_merged_with_the_body_winning():
    [request], _ = parseAll(b"POST wtv-x:/f?a=1&b=2\r\nContent-length: 7\r\n\r\nb=3&c=4")
    assert request.form == {"a": "1", "b": "3", "c": "4"}


@pytest.mark.parametrize("data, status", [
    (b"FETCH wtv-x:/y\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET wtv-x:/y\r\nno colon here\r\n\r\n", 400),
    (b"GET wtv-x:/y\r\n: empty name\r\n\r\n", 400),
    (b"POST wtv-x:/y\r\nContent-length: -1\r\n\r\n", 400),
    (b"POST wtv-x:/y\r\nContent-length: 12x\r\n\r\n", 400),
    (b"\x00\x01\x02\xff\xfe\r\n\r\n", 400),
])
def test_malformed_requests_raise_a_wire_error_with_a_status(data, status):
    with pytest.raises(WireError) as caught:
        parseAll(data)
    assert caught.value.status == status
    assert caught.value.message


def test_every_limit_is_enforced():
    limits = Limits(requestLine=64, headerCount=3, headerBlock=256, body=10)
    cases = [
        (b"GET wtv-x:/" + b"a" * 100, 414),
        (b"GET wtv-x:/" + b"a" * 100 + b"\r\n\r\n", 414),
        (b"GET wtv-x:/y\r\n" + b"A: 1\r\n" * 4 + b"\r\n", 400),
        (b"GET wtv-x:/y\r\n" + b"A: " + b"x" * 300, 400),
        (b"POST wtv-x:/y\r\nContent-length: 11\r\n\r\n", 413),
    ]
    for data, status in cases:
        with pytest.raises(WireError) as caught:
            parseAll(data, limits)
        assert caught.value.status == status, data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_never_escapes_as_anything_but_a_wire_error(data):
    try:
        parseAll(data, Limits(requestLine=128, headerCount=8, headerBlock=256, body=64))
    except WireError:
        pass


def test_a_response_has_no_version_lf_line_ends_and_a_byte_count():
    response = Response(headers=[("wtv-visit", "wtv-home:/home"), ("A", "1"), ("A", "2")],
                        body="café".encode("utf-8"))
    head = serializeHead(response, [("wtv-encrypted", "true")])
    assert head == (b"200 OK\nConnection: Keep-Alive\nwtv-encrypted: true\n"
                    b"wtv-visit: wtv-home:/home\nA: 1\nA: 2\n"
                    b"Content-type: text/html\nContent-length: 5\n\n")


def test_a_closing_response_says_connection_close():
    assert serializeHead(Response(close=True)).startswith(b"200 OK\nConnection: close\n")


def test_header_injection_is_impossible():
    response = Response(headers=[("wtv-visit", "x\r\nwtv-ticket: forged")], reason="OK\nX: y")
    head = serializeHead(response)
    assert head.count(b"\n") == 6
    assert b"\nwtv-ticket" not in head


def test_an_error_response_carries_the_message_as_reason_and_body():
    response = errorResponse(403, "No <way>.")
    assert serializeHead(response).startswith(b"403 No <way>.\n")
    assert b"No &lt;way&gt;." in response.body


def test_headers_with_fallback_prefer_their_own_values():
    merged = Headers([("A", "own")]).withFallback(Headers([("a", "block"), ("B", "b")]))
    assert (merged.get("a"), merged.get("b")) == ("own", "b")


def test_merged_headers_look_up_as_the_same_headers_made_at_once():
    """The merge reuses the fallback's lookup table; lookups must not tell."""
    block = Headers([("X-One", "1"), ("x-two", "block"), ("X-ONE", "later"), ("Three", "3")])
    block.get("three")  # its lookup table made before the merge, as a connection's is
    own = Headers([("X-Two", "own"), ("x-two", "own again"), ("Four", "4")])
    merged = own.withFallback(block)
    same = Headers(list(own) + list(block))
    for name in ("x-one", "X-TWO", "three", "four", "five"):
        assert merged.get(name) == same.get(name), name
    assert merged.getAll("x-two") == ["own", "own again", "block"] and len(merged) == 7
    merged.add("Five", "5")
    assert merged.get("five") == "5" and block.get("five") is None


@given(headers=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=20)), max_size=8),
       reason=st.text(max_size=20), contentType=st.text(max_size=12))
def test_a_head_is_cleaned_line_by_line_whatever_it_holds(headers, reason, contentType):
    """The whole-head check never lets through what cleaning each value would change."""
    response = Response(headers=headers, reason=reason, contentType=contentType, body=b"abc")
    expected = wire._head(response, tuple(headers), 3, wire._clean)
    assert serializeHead(response) == (expected + "\n\n").encode("latin-1", "replace")


def test_a_clean_head_is_made_once(implementation, monkeypatch):
    """
    The pure Python makes a head again, line by line through C{_clean},
    only when a value would break a line: never for a clean one.
    """
    cleaned = []
    original = wire._clean
    monkeypatch.setattr(wire, "_clean", lambda text: cleaned.append(text) or original(text))
    clean = Response(headers=[("wtv-visit", "wtv-home:/home"), ("wtv-expire-all", "wtv-")],
                     body=b"<html></html>")
    broken = Response(headers=[("wtv-visit", "wtv-home:/home\nwtv-evil: yes")])
    assert serializeHead(clean, [("wtv-encrypted", "true")]) == (
        b"200 OK\nConnection: Keep-Alive\nwtv-encrypted: true\nwtv-visit: wtv-home:/home\n"
        b"wtv-expire-all: wtv-\nContent-type: text/html\nContent-length: 13\n\n")
    if implementation == "python":
        assert cleaned == []
    assert b"wtv-evil: yes" in serializeHead(broken)
    assert b"\nwtv-evil" not in serializeHead(broken)
    if implementation == "python":
        assert "wtv-home:/home\nwtv-evil: yes" in cleaned


@settings(max_examples=300)
@given(text=st.text(alphabet="ab=&%+2F0c;é ", max_size=24))
def test_fields_read_as_parse_qsl_reads_them(text):
    """
    The fields of a query or form are parse_qsl's (first value of each
    name), whether or not the text takes the short way of one without C{%}
    or C{+}.
    """
    from urllib.parse import parse_qsl
    expected = {}
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        expected.setdefault(name, value)
    assert wire._fields(text) == expected


def test_a_query_and_a_path_are_worked_out_once():
    """Read twice, a request's path and query are the same objects, made on first use."""
    [request], _ = parseAll(b"GET wtv-x:/a%20b?c=1&c=2&d\r\n\r\n")
    assert request.path == "/a b" and request.path is request.path
    assert request.query == {"c": "1", "d": ""} and request.query is request.query
    request.url = "wtv-x:/other?e=3"
    assert request.path == "/a b"


def test_an_empty_buffer_is_no_request_and_no_scan():
    """After a whole request, the next call finds nothing without reading a head."""
    parser = RequestParser()
    parser.feed(LOGIN)
    assert parser.next() is not None
    assert parser.next() is None
    assert not parser.midRequest
    parser.feed(b"GET wtv-x:/y\r\n")
    assert parser.next() is None and parser.midRequest


@pytest.mark.parametrize("url, path", [
    ("wtv-x:/plain/path", "/plain/path"),
    ("wtv-x:/a%20b%2F", "/a b/"),
    ("wtv-x:/caf\xe9", "/caf\xc3\xa9"),      # as unquote_to_bytes has it: UTF-8 read as latin-1
    ("wtv-x:/caf%E9", "/caf\xe9"),
])
def test_a_path_is_percent_decoded_only_where_there_is_something_to_decode(url, path):
    from wtvserv.wire import Request
    assert Request("GET", url, Headers()).path == path
