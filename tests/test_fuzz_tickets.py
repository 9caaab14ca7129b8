"""
Fuzzing L{wtvserv.tickets.TicketAuthority.verify}: random text, and real
tickets with their base64 text or their bytes damaged.

What may come back: the ticket, or a L{TicketError}; never another
exception. Which ticket: a ticket's text is canonical base64 of
C{version || nonce || AES-GCM ciphertext || tag}, so an edit can change the
decoded bytes (the tag then fails: L{ForgedTicket}), break the base64 or the
layout (L{MalformedTicket}), or leave the bytes as they were. The last
happens only with non-canonical spellings: setting the spare low bits of the
digit before C{=} padding, adding padding or whitespace. A lenient decoder
would accept those and return the very same ticket; ours refuses any text
that is not exactly C{b64encode} of its bytes (so that every altered
character counts). The property is therefore the sharp one: a text verifies
if and only if it is the issued text, and then to exactly the issued ticket.
"""

from __future__ import annotations

from base64 import b64decode, b64encode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from tests.fuzzing import BASE64_ALPHABET, fuzzSettings, mutated, mutatedText
from wtvserv.tickets import (
    ExpiredTicket,
    ForgedTicket,
    MalformedTicket,
    Ticket,
    TicketAuthority,
    TicketError,
    WrongSSIDTicket,
)

SECRET = bytes(range(32))
NOW = 946684800
SSIDS = st.text(alphabet="0123456789ABCDEFabcdefSEGA", min_size=1, max_size=32)


def authority(clock: Clock | None = None, nonce: bytes = bytes(12)) -> TicketAuthority:
    if clock is None:
        clock = Clock()
        clock.advance(NOW)
    return TicketAuthority(SECRET, clock, lifetime=86400, random=lambda n: nonce[:n])


@st.composite
def sealedTickets(draw) -> tuple[TicketAuthority, str, Ticket]:
    """
    A ticket as issued: the authority, its text and its stamped contents.
    SSIDs of 1 to 32 characters give texts with no, one and two C{=}.
    """
    ticket = Ticket(ssid=draw(SSIDS, label="ssid"),
                    key1=draw(st.binary(min_size=16, max_size=16)),
                    key2=draw(st.binary(min_size=16, max_size=16)),
                    des_key=draw(st.binary(min_size=8, max_size=8)),
                    user_id=draw(st.none() | st.integers(0, 254)),
                    password_ok=draw(st.booleans()))
    issuer = authority(nonce=draw(st.binary(min_size=12, max_size=12), label="nonce"))
    text, stamped = issuer.seal(ticket)
    return issuer, text, stamped


def outcome(issuer: TicketAuthority, text, ssid: str) -> Ticket | TicketError:
    """@return: the verified ticket or the L{TicketError}; anything else propagates."""
    try:
        return issuer.verify(text, ssid)
    except TicketError as error:
        return error


NEAR_TICKETS = st.one_of(
    st.text(max_size=400),
    st.text(alphabet=BASE64_ALPHABET.decode(), min_size=100, max_size=200),
    st.binary(max_size=200).map(lambda raw: b64encode(raw).decode()),
    st.binary(min_size=60, max_size=140).map(lambda raw: b64encode(b"\x01" + raw).decode()),
    st.binary(max_size=1100).map(lambda raw: raw.decode("latin-1")),
)


@fuzzSettings(300)
@given(NEAR_TICKETS, st.one_of(SSIDS, st.text(max_size=40)))
def test_random_text_is_refused_with_a_ticket_error(text, ssid):
    result = outcome(authority(), text, ssid)
    assert isinstance(result, (MalformedTicket, ForgedTicket)), result
    assert result.message


@fuzzSettings(300)
@given(st.data())
def test_a_ticket_with_its_text_altered_never_verifies(data):
    issuer, text, stamped = data.draw(sealedTickets())
    altered = data.draw(mutatedText(text, maxEdits=3), label="altered")
    result = outcome(issuer, altered, stamped.ssid)
    if altered == text:
        assert result == stamped
    else:
        assert isinstance(result, (MalformedTicket, ForgedTicket)), (altered, result)


@fuzzSettings(300)
@given(st.data())
def test_a_ticket_with_its_bytes_altered_never_verifies(data):
    issuer, text, stamped = data.draw(sealedTickets())
    raw = b64decode(text)
    altered = data.draw(mutated(raw, maxEdits=3, tokens=(b"\x00", b"\x01", b"\xff" * 16)),
                        label="altered")
    result = outcome(issuer, b64encode(altered).decode(), stamped.ssid)
    if altered == raw:
        assert result == stamped
    else:
        assert isinstance(result, (MalformedTicket, ForgedTicket)), result


@fuzzSettings(200)
@given(st.data())
def test_a_spelling_that_decodes_to_the_same_bytes_is_refused_all_the_same(data):
    """
    The decoding no-ops: spare bits of the last digit, extra padding, and
    whitespace a lenient decoder skips. None may verify, and the error is
    the ticket's form, not its authenticity.
    """
    issuer, text, stamped = data.draw(sealedTickets())
    body = text.rstrip("=")
    spare = {2: 4, 3: 2}.get(len(body) % 4, 0)   # low bits unused in the last digit
    choices = [text + "=", text + "==", " " + text, text + "\n", text[:40] + "\r\n" + text[40:]]
    if spare:
        last = BASE64_ALPHABET.index(body[-1].encode())
        bits = data.draw(st.integers(1, (1 << spare) - 1), label="spare bits")
        choices.append(body[:-1] + chr(BASE64_ALPHABET[last | bits]) + text[len(body):])
    spelling = data.draw(st.sampled_from(choices), label="spelling")
    assert b64decode(spelling.encode(), validate=False) == b64decode(text)
    assert isinstance(outcome(issuer, spelling, stamped.ssid), MalformedTicket)


@fuzzSettings(200)
@given(st.data())
def test_a_ticket_verifies_for_its_own_ssid_only(data):
    issuer, text, stamped = data.draw(sealedTickets())
    ssid = data.draw(st.one_of(st.just(stamped.ssid), SSIDS,
                               mutatedText(stamped.ssid, alphabet=None)), label="ssid")
    result = outcome(issuer, text, ssid)
    if ssid == stamped.ssid:
        assert result == stamped
    else:
        assert isinstance(result, WrongSSIDTicket)


@fuzzSettings(200)
@given(st.data(), st.floats(0, 3 * 86400))
def test_an_altered_ticket_is_refused_before_its_age_is_looked_at(data, age):
    """Expiry is only ever reported for authentic tickets, with their contents."""
    clock = Clock()
    clock.advance(NOW)
    _, text, stamped = data.draw(sealedTickets())
    issuer = authority(clock)
    clock.advance(age)
    altered = data.draw(mutatedText(text, minEdits=0, maxEdits=2), label="altered")
    result = outcome(issuer, altered, stamped.ssid)
    if altered != text:
        assert isinstance(result, (MalformedTicket, ForgedTicket))
    elif age >= 86400:
        assert isinstance(result, ExpiredTicket) and result.ticket == stamped
    else:
        assert result == stamped


@pytest.mark.parametrize("value", [None, 3, 2.5, b"AQ==", ["AQ=="], object()])
def test_values_that_are_not_text_are_malformed(value):
    assert isinstance(outcome(authority(), value, "81"), MalformedTicket)
