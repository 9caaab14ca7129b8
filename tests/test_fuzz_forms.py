"""
Fuzzing form reading: L{Request.query} and L{Request.form} on urlencoded
bodies, L{wtvserv.web.Box.form}, and the built-in services that act on forms
(wtv-head-waiter, wtv-register, wtv-log, wtv-1800), sent real forms with
their query strings and bodies damaged.

Properties: fields always come out as text, field for field when the form
was well formed; a service never fails on a form (no C{500}, which is how
the connection reports a handler's exception) and never echoes a field into
its HTML unescaped.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from hypothesis import event, example, given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from tests.fuzzing import (
    WIRE_TOKENS,
    chunked,
    fuzzSettings,
    mutated,
    mutatedForm,
    mutatedText,
)
from tests.harness import makeServer
from tests.test_protocol_fuzz import responsesIn
from wtvserv.passwords import hash_password
from wtvserv.ssid import ssid_crc
from wtvserv.tickets import Ticket
from wtvserv.web import Box
from wtvserv.wire import Headers, Limits, Request, RequestParser

#: A marker no page contains: if it comes back unescaped, a field was echoed raw.
MARKER = b"<x-fuzz>"
FORM_TOKENS = (*WIRE_TOKENS, b"%B2", b"%B9", b"%E9", b"%FF", b"%%", b"+", b"=&=", b"&&",
               MARKER, b'"', b"'", b"%3Cx-fuzz%3E", b"%22", b"\xb2", b"0", b"1", b"255",
               b"true", b"yes")
#: What may be typed into a URL and still reach the service.
URL_BYTES = bytes(range(0x21, 0x7f))
QUERY_TOKENS = tuple(token for token in FORM_TOKENS if set(token) <= set(URL_BYTES))


def damagedForm(sample: bytes) -> st.SearchStrategy[bytes]:
    """A form body with fields replaced or bytes damaged."""
    return st.one_of(mutatedForm(sample, tokens=FORM_TOKENS),
                     mutated(sample, minEdits=0, maxEdits=5, tokens=FORM_TOKENS))


def damagedQuery(sample: bytes) -> st.SearchStrategy[bytes]:
    """L{damagedForm} for a query string, kept to what a URL may hold."""
    return st.one_of(
        mutatedForm(sample, tokens=QUERY_TOKENS, raw=False, alphabet=URL_BYTES),
        mutated(sample, minEdits=0, alphabet=URL_BYTES, tokens=QUERY_TOKENS))


LATIN1 = st.text(st.characters(min_codepoint=0, max_codepoint=0xff), max_size=20)


def firstValues(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def parseOne(data: bytes) -> Request:
    parser = RequestParser(Limits())
    parser.feed(data)
    request = parser.next()
    assert request is not None
    return request


@fuzzSettings(200)
@given(st.lists(st.tuples(LATIN1, LATIN1), max_size=6),
       st.lists(st.tuples(LATIN1, LATIN1), max_size=6), st.data())
def test_urlencoded_forms_come_back_field_for_field(query, body, data):
    """Query and body merge, the body winning and each name's first value counting."""
    encodedBody = urlencode(body, encoding="latin-1").encode("ascii")
    url = "wtv-test:/form?" + urlencode(query, encoding="latin-1")
    stream = (f"POST {url}\r\nContent-length: {len(encodedBody)}\r\n\r\n").encode() + encodedBody
    parser = RequestParser(Limits())
    for chunk in data.draw(chunked(stream), label="chunks"):
        parser.feed(chunk)
    request = parser.next()
    assert request.query == firstValues(query)
    assert request.form == {**firstValues(query), **firstValues(body)}
    assert Box(request, None).form == request.form


FORM_BODIES = (
    b"subscriber_name=Ann+Box&subscriber_username=annbox&subscriber_password="
    b"&subscriber_password_again=&agreement=yes",
    b"user_id=1&user_login=true",
    b"password=s%E9cret+1&user_id=0",
    b"a=1&a=2&b=&=c&d&e=%41%42%zz%4&f=%C3%A9",
)


@fuzzSettings(300)
@given(st.data())
def test_damaged_form_bodies_still_give_text_fields(data):
    body = data.draw(damagedForm(data.draw(st.sampled_from(FORM_BODIES))), label="body")
    query = data.draw(damagedQuery(b"x=1&user_id=2"), label="query")
    method = data.draw(st.sampled_from(["POST", "GET"]), label="method")
    request = Request(method, "wtv-test:/f?" + query.decode("latin-1"),
                      Headers([("Content-length", str(len(body)))]), body)
    for fields in (request.query, request.form, Box(request, None).form):
        for name, value in fields.items():
            assert isinstance(name, str) and isinstance(value, str)
            assert max(map(ord, name + value), default=0) <= 0xff
    if method == "GET" or b"=" not in body:
        assert request.form == request.query
    else:
        assert set(request.query) <= set(request.form)


# The built-in services, through their connections

SECRET_PASSWORD = "s\xe9cret 1"
#: Boxes connect from here, exempt from the per-address limits, or from elsewhere.
EXEMPT = "127.0.0.1"


def ssidNumber(number: int) -> str:
    first = f"81{number:06x}00B002"
    return first + ssid_crc(first)


@cache
def liveServer():
    """
    One server for every case (building one per case would dominate the
    run), with a box that has two users, the first with a password. Made on
    first use, removed when the process ends.
    """
    directory = Path(tempfile.mkdtemp(prefix="wtvserv-fuzz-"))
    server, reactor = makeServer(directory / "data", exemptAddresses=[EXEMPT])
    registered = ssidNumber(0)
    server.accounts.createAccount(registered, "Ann", "ann", hash_password(SECRET_PASSWORD))
    server.accounts.addUser(registered, "Bob", "bob", None)

    def cleanUp():
        server.accounts.close()
        server.logs.close()
        shutil.rmtree(directory, ignore_errors=True)
    atexit.register(cleanUp)
    return server, registered, itertools.count(1)


FORMS = (
    ("wtv-register", "/ValidateAccountInfo?", FORM_BODIES[0]),
    ("wtv-register", "/ValidateRegistration", FORM_BODIES[0]),
    ("wtv-register", "/ValidateReviewAccountInfo", FORM_BODIES[0] + b"&registering=true&Change="),
    ("wtv-register", "/register?subscriber_name=Ann", b""),
    ("wtv-head-waiter", "/ValidateLogin?user_id=1&user_login=true", b""),
    ("wtv-head-waiter", "/ValidateLogin", b"password=s%E9cret+1&user_id=0"),
    ("wtv-head-waiter", "/login-stage-two?initial_login=true&new_registration=1", b""),
    ("wtv-head-waiter", "/check-tellyscript?next-url=wtv-home:/home&dummy=0x1", b""),
    ("wtv-head-waiter", "/relogin?reconnect=true", b""),
    ("wtv-head-waiter", "/reconnect?reconnect=true", b""),
    ("wtv-log", "/log?type=crash&url=wtv-home:/home", b"a log line\n"),
    ("wtv-1800", "/preregister?scriptless-visit-reason=10&reconnect=true", b""),
)
#: What a box says of itself; it decides, among others, how answers are compressed.
IDENTITY = (("wtv-client-bootrom-version", "2046"), ("wtv-client-rom-type", "US-LC2-disk-0MB-8MB"),
            ("wtv-system-version", "7181"), ("wtv-capability-flags", "10935ffc87"),
            ("wtv-request-type", "primary"), ("wtv-incarnation", "3"))


@st.composite
def identities(draw) -> list[tuple[str, str]]:
    """L{IDENTITY}, some headers left out and some values damaged (kept to one line)."""
    headers = []
    for name, value in IDENTITY:
        if draw(st.booleans()):
            if draw(st.booleans()):
                value = draw(mutatedText(value, alphabet=URL_BYTES + b" ",
                                         tokens=(b"bf0app", b"0", b"ffffffffff", b" ")))
            headers.append((name, value.replace("\r", " ").replace("\n", " ")))
    return headers


#: Who the box is: a registered box at each step of its login, or a new one.
TICKETS = ("none", "registered, no user", "user 0, no password yet", "user 1 logged in",
           "new box")


def ticketFor(server, registered: str, fresh: str, state: str) -> tuple[str, str | None]:
    """@return: the SSID the box sends and its C{wtv-ticket}, if any."""
    keys = dict(key1=b"1" * 16, key2=b"2" * 16, des_key=b"3" * 8)
    if state == "none":
        return registered, None
    if state == "new box":
        return fresh, server.tickets.issue(Ticket(fresh, **keys))
    userId, passwordOk = {"registered, no user": (None, False),
                          "user 0, no password yet": (0, False),
                          "user 1 logged in": (1, True)}[state]
    return registered, server.tickets.issue(
        Ticket(registered, **keys, user_id=userId, password_ok=passwordOk))


@st.composite
def serviceCases(draw):
    """A real form for a built-in service, damaged, from a box in some state of login."""
    service, url, body = draw(st.sampled_from(FORMS), label="form")
    path, _, query = url.partition("?")
    return (service, path, draw(damagedQuery(query.encode()), label="query").decode("latin-1"),
            draw(damagedForm(body), label="body"), draw(st.sampled_from(TICKETS), label="ticket"),
            draw(identities(), label="identity"),
            draw(st.sampled_from([EXEMPT, "10.0.0.2"]), label="from"))


@fuzzSettings(300)
@given(serviceCases())
@example(("wtv-head-waiter", "/ValidateLogin", "user_id=%B2&user_login=true", b"",
          "registered, no user", [], EXEMPT))
def test_the_services_answer_damaged_forms_without_failing_or_echoing_them_raw(case):
    """
    The explicit example was found by this property (now fixed):
    C{headwaiter._integer} accepted what C{str.isdigit} accepts,
    which includes the superscripts C{\xb2 \xb3 \xb9} of ISO-8859-1, and
    C{int()} then raises C{ValueError}. A box with a ticket that answers the
    choose-user page with C{user_id=%B2} gets a C{500} (and the log a
    traceback) instead of the C{400} for an unknown user.
    """
    service, path, query, body, state, identity, host = case
    server, registered, counter = liveServer()
    ssid, ticket = ticketFor(server, registered, ssidNumber(next(counter)), state)
    head = [f"POST {service}:{path}?{query}", f"wtv-client-serial-number: {ssid}",
            f"Content-length: {len(body)}", *(f"{name}: {value}" for name, value in identity)]
    if ticket:
        head.append(f"wtv-ticket: {ticket}")
    address = IPv4Address("TCP", host, 7000)
    protocol = server.factories[service].buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    protocol.makeConnection(transport)
    try:
        protocol.dataReceived(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        responses = responsesIn(transport.value())
    finally:
        protocol.connectionLost(Failure(ConnectionDone()))
    assert len(responses) == 1, transport.value()[:200]
    [(status, page)] = responses
    event(f"{service} status {status}")
    assert status != 500, transport.value()[:300]
    assert MARKER not in page
