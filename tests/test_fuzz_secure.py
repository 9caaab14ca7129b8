"""
Fuzzing SECURE ON in L{wtvserv.protocol}: blocks keyed every way a box can
key them (session keys, a ticket, an expired ticket, a fresh challenge, an
old ticket with a new challenge's keys), followed by random ciphertext, by
real encrypted request streams with damaged ciphertext, and by whole streams
damaged anywhere, block included.

Besides the properties of C{test_protocol_fuzz.py} (no exception, only
well-formed responses, every request answered, an error closes, the factory
serves the next box, securely too), damaged ciphertext must be handled
exactly as its decryption would be on a plain connection: RC4 turns a byte
flipped, dropped or added in the ciphertext into the same change of the
plaintext, so the service must see the same requests and the box get the
same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event, given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from tests.fuzzing import chunked, fuzzSettings, mutated, mutatedText
from tests.harness import countingRandom
from tests.test_protocol import (
    K1,
    K2,
    SSID,
    RecordingService,
    connect,
    rememberKeys,
    secureOn,
)
from tests.test_protocol_fuzz import (
    assertClean,
    assertStillServes,
    feed,
    hangUp,
    reconnect,
    responsesIn,
    sentBackThroughLogin,
    settle,
)
from wtvserv.crypto.challenge import issue_challenge
from wtvserv.crypto.rc4 import BoxStreams
from wtvserv.tickets import Ticket, TicketAuthority

NOW = 946684800
INCARNATION = 5
#: What a box sends encrypted after the block: no incarnation of its own.
INNER = (b"GET wtv-test:/one?x=1\r\nwtv-request-type: primary\r\nwtv-show-time: 0\r\n\r\n"
         b"POST wtv-test:/two\r\nContent-type: application/x-www-form-urlencoded\r\n"
         b"Content-length: 12\r\n\r\nname=Ann&a=1"
         b"GET wtv-test:/three\r\n\r\n")
INNER_PATHS = ["/one", "/two", "/three"]

#: How the connection learns the keys; the box encrypts with C{Keyed.keys}.
KINDS = ("session keys", "ticket", "ticket and session keys", "expired ticket",
         "new challenge", "old ticket, new challenge", "old ticket, old keys")
#: Kinds with one candidate pair of keys, where nothing depends on the first bytes.
ONE_CANDIDATE = KINDS[:5]


@dataclass
class Keyed:
    protocol: object
    transport: object
    clock: Clock
    block: bytes
    keys: tuple[bytes, bytes]

    @property
    def factory(self):
        return self.protocol.factory

    def box(self) -> BoxStreams:
        return BoxStreams(*self.keys, INCARNATION)


def keyedConnection(kind: str) -> Keyed:
    """A connection whose factory knows keys for L{SSID} the way C{kind} says."""
    clock = Clock()
    clock.advance(NOW)
    tickets = TicketAuthority(b"k" * 32, clock, lifetime=3600)
    keys, ticket = (K1, K2), None
    if "ticket" in kind:
        ticket = tickets.issue(Ticket(SSID, K1, K2, b"d" * 8, user_id=0, password_ok=True))
    if kind == "expired ticket":
        clock.advance(3601)
    protocol, transport, clock = connect(RecordingService(), tickets=tickets, clock=clock)
    if "session keys" in kind:
        rememberKeys(protocol.factory.sessions)
    if "challenge" in kind or kind == "old ticket, old keys":
        challenge = issue_challenge(b"d" * 8, countingRandom())
        protocol.factory.sessions.setPendingChallenge(SSID, challenge, "127.0.0.1")
        if "new challenge" in kind:
            keys = (challenge.key1, challenge.key2)
    return Keyed(protocol, transport, clock, secureOn(INCARNATION, ticket), keys)


def assertStillServesSecurely(keyed: Keyed) -> None:
    """A new box on the same factory, keyed the same way, is understood and answered."""
    protocol, transport = reconnect(keyed.factory, port=6001)
    box = keyed.box()
    protocol.dataReceived(keyed.block + box.encrypt(b"GET wtv-test:/alive\r\n\r\n"))
    assert responsesIn(transport.value(), box) == [(200, b"<html>/alive</html>")]


def wrapUp(keyed: Keyed) -> None:
    """The checks every case ends with; L{settle} has been called."""
    keyed.clock.advance(keyed.factory.timeouts.idle + 1)
    assert keyed.transport.disconnecting, "the connection outlived every timeout"
    hangUp(keyed.protocol, keyed.clock)
    assertStillServes(keyed.factory)
    assertStillServesSecurely(keyed)


@fuzzSettings(200)
@given(st.sampled_from(KINDS), st.lists(st.binary(max_size=64), max_size=12))
def test_random_ciphertext_after_any_secure_on_is_refused_without_raising(kind, chunks):
    keyed = keyedConnection(kind)
    feed(keyed.protocol, [keyed.block, *chunks])
    settle(keyed.protocol, keyed.transport, keyed.clock)
    wrapUp(keyed)


@fuzzSettings(200)
@given(st.sampled_from(KINDS), st.data())
def test_a_real_encrypted_stream_split_anyhow_is_understood(kind, data):
    keyed = keyedConnection(kind)
    box = keyed.box()
    stream = keyed.block + box.encrypt(INNER)
    feed(keyed.protocol, data.draw(chunked(stream, maxCuts=16), label="chunks"))
    assert [r.path for r in keyed.factory.service.requests] == INNER_PATHS
    assert keyed.factory.service.requests[1].body == b"name=Ann&a=1"
    assert responsesIn(keyed.transport.value(), box) == [
        (200, b"<html>" + path.encode() + b"</html>") for path in INNER_PATHS]
    settle(keyed.protocol, keyed.transport, keyed.clock)
    assertClean(keyed.protocol, keyed.transport, keyed.clock, box.encrypt, box)
    hangUp(keyed.protocol, keyed.clock)


def plaintextTwin(plaintext: bytes):
    """What a plain connection makes of C{plaintext}: service requests, responses, closed."""
    protocol, transport, clock = connect(RecordingService())
    protocol.dataReceived(plaintext)
    settle(protocol, transport, clock)
    return ([(r.method, r.url, r.body) for r in protocol.factory.service.requests],
            responsesIn(transport.value()), transport.disconnecting)


@fuzzSettings(300)
@given(st.sampled_from(ONE_CANDIDATE), st.data())
def test_damaged_ciphertext_is_handled_as_its_plaintext_would_be(kind, data):
    keyed = keyedConnection(kind)
    ciphertext = keyed.box().encrypt(INNER)
    damaged = data.draw(mutated(ciphertext, maxEdits=4), label="ciphertext")
    feed(keyed.protocol, data.draw(chunked(keyed.block + damaged), label="chunks"))
    settle(keyed.protocol, keyed.transport, keyed.clock)
    box = keyed.box()
    plaintext = box.encrypt(damaged)   # what the server decrypted
    responses = responsesIn(keyed.transport.value(), box)
    served = [(r.method, r.url, r.body) for r in keyed.factory.service.requests]
    if damaged == ciphertext:
        assert served == [("GET", "wtv-test:/one?x=1", b""), ("POST", "wtv-test:/two", b"name=Ann&a=1"),
                          ("GET", "wtv-test:/three", b"")]
    rekeys = b"incarnation" in plaintext.lower() or b"secure on" in plaintext.lower()
    event("re-keyed, not compared" if rekeys else f"compared, {len(served)} served")
    if not rekeys:
        assert (served, responses, keyed.transport.disconnecting) == plaintextTwin(plaintext)
        assertClean(keyed.protocol, keyed.transport, keyed.clock, box.encrypt, box)
    wrapUp(keyed)


@fuzzSettings(300)
@given(st.sampled_from(KINDS), st.data())
def test_a_damaged_secure_stream_block_and_all_never_raises(kind, data):
    keyed = keyedConnection(kind)
    stream = keyed.block + keyed.box().encrypt(INNER)
    damaged = data.draw(mutated(stream, maxEdits=5), label="stream")
    feed(keyed.protocol, data.draw(chunked(damaged), label="chunks"))
    settle(keyed.protocol, keyed.transport, keyed.clock)
    if damaged == stream:
        assert [r.path for r in keyed.factory.service.requests] == INNER_PATHS
    wrapUp(keyed)


@fuzzSettings(300)
@given(st.data())
def test_an_altered_ticket_in_the_block_never_opens_the_connection(data):
    """
    With no other keys known for the box, only its ticket exactly as issued
    (the header's surrounding whitespace aside) lets a request through.
    """
    keyed = keyedConnection("ticket")
    ticket = keyed.block.split(b"wtv-ticket: ")[1].split(b"\r\n")[0].decode()
    altered = data.draw(mutatedText(ticket, maxEdits=3), label="ticket")
    block = secureOn(INCARNATION, altered)
    feed(keyed.protocol, data.draw(chunked(block + keyed.box().encrypt(INNER)), label="chunks"))
    responses = settle(keyed.protocol, keyed.transport, keyed.clock)
    served = keyed.factory.service.requests
    if served:
        assert altered.strip() == ticket, altered
    else:
        # Sent back through login unread, or the block ended early and the
        # rest decrypted to garbage (400, 408, ...): a close either way.
        output = keyed.transport.value()
        assert responses and keyed.transport.disconnecting
        assert responses[-1][0] >= 400 or sentBackThroughLogin(output)
    if altered == ticket:
        assert [r.path for r in served] == INNER_PATHS
    wrapUp(keyed)
