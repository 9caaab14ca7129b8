"""
Tests for L{wtvserv.tickets}.
"""

import os
import stat
from base64 import b64decode, b64encode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from tests.conftest import load_vectors
from wtvserv.interfaces import ITicketAuthority
from wtvserv.tickets import (
    ExpiredTicket,
    ForgedTicket,
    MalformedTicket,
    Ticket,
    TicketAuthority,
    TicketError,
    WrongSSIDTicket,
    load_or_create_secret,
)

SSID = "8112345600B0026b"
SECRET = bytes(range(32))
NOW = 946684800  # 2000-01-01T00:00:00Z


def make_ticket(**changes) -> Ticket:
    fields = dict(ssid=SSID, key1=b"1" * 16, key2=b"2" * 16, des_key=b"deskey!!",
                  user_id=0, password_ok=True)
    fields.update(changes)
    return Ticket(**fields)


def make_authority(secret: bytes = SECRET, lifetime: float = 86400):
    clock = Clock()
    clock.advance(NOW)
    return TicketAuthority(secret, clock, lifetime), clock


def test_authority_provides_the_interface():
    authority, _ = make_authority()
    assert verifyObject(ITicketAuthority, authority)


def test_round_trip_keeps_every_field_and_stamps_the_times():
    authority, _ = make_authority(lifetime=600)
    for ticket in [make_ticket(), make_ticket(user_id=None, password_ok=False),
                   make_ticket(user_id=254), make_ticket(ssid="1SEGA" + "x" * 27)]:
        verified = authority.verify(authority.issue(ticket), ticket.ssid)
        assert verified == Ticket(
            ssid=ticket.ssid, key1=ticket.key1, key2=ticket.key2,
            des_key=ticket.des_key, user_id=ticket.user_id,
            password_ok=ticket.password_ok, issued=NOW, expires=NOW + 600)


def test_tickets_are_short_and_never_repeat():
    authority, _ = make_authority()
    texts = {authority.issue(make_ticket()) for _ in range(50)}
    assert len(texts) == 50
    assert max(len(text) for text in texts) == 132
    assert len(authority.issue(make_ticket(ssid="A" * 32))) < 200


def test_ticket_reveals_nothing_in_clear():
    raw = b64decode(make_authority()[0].issue(make_ticket()))
    for secret in (SSID.encode(), b"1" * 16, b"2" * 16, b"deskey!!"):
        assert secret not in raw


def test_every_bit_flip_of_the_bytes_is_rejected():
    authority, _ = make_authority()
    raw = b64decode(authority.issue(make_ticket()))
    for bit in range(len(raw) * 8):
        altered = bytearray(raw)
        altered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(b64encode(altered).decode(), SSID)


def test_every_bit_flip_of_the_text_is_rejected():
    """Including flips of the spare bits of the last base64 digit."""
    authority, _ = make_authority()
    text = authority.issue(make_ticket())
    for bit in range(len(text) * 8):
        altered = bytearray(text.encode())
        altered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(altered.decode("latin-1"), SSID)


def test_a_flipped_byte_past_the_version_is_forged():
    authority, _ = make_authority()
    raw = bytearray(b64decode(authority.issue(make_ticket())))
    raw[20] ^= 0x40
    with pytest.raises(ForgedTicket):
        authority.verify(b64encode(raw).decode(), SSID)


def test_truncated_tickets_are_rejected():
    authority, _ = make_authority()
    text = authority.issue(make_ticket())
    raw = b64decode(text)
    for length in range(len(raw)):
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(b64encode(raw[:length]).decode(), SSID)
    for length in range(len(text)):
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(text[:length], SSID)


def test_another_secret_rejects_the_ticket_as_forged():
    authority, _ = make_authority()
    other, _ = make_authority(secret=b"another secret of 32 bytes......")
    with pytest.raises(ForgedTicket):
        other.verify(authority.issue(make_ticket()), SSID)


def test_another_process_with_the_same_secret_accepts_it():
    authority, _ = make_authority()
    other, _ = make_authority()
    assert other.verify(authority.issue(make_ticket()), SSID).key1 == b"1" * 16


def test_another_ssid_is_rejected():
    authority, _ = make_authority()
    text = authority.issue(make_ticket())
    for ssid in ("91ABCDEF00B00256", SSID.upper(), SSID[:-1], ""):
        with pytest.raises(WrongSSIDTicket):
            authority.verify(text, ssid)


def test_tickets_expire_after_their_lifetime():
    authority, clock = make_authority(lifetime=100)
    text = authority.issue(make_ticket())
    clock.advance(99)
    assert authority.verify(text, SSID).expires == NOW + 100
    clock.advance(1)
    with pytest.raises(ExpiredTicket):
        authority.verify(text, SSID)


def test_a_ticket_needs_renewal_from_half_its_life():
    authority, clock = make_authority(lifetime=100)
    ticket = authority.verify(authority.issue(make_ticket()), SSID)
    clock.advance(49)
    assert not authority.needsRenewal(ticket)
    clock.advance(1)
    assert authority.needsRenewal(ticket)
    renewed = authority.verify(authority.issue(ticket), SSID)
    assert (renewed.issued, renewed.expires) == (NOW + 50, NOW + 150)
    assert not authority.needsRenewal(renewed)


def test_errors_carry_a_message_for_the_user():
    for error in (TicketError, MalformedTicket, ForgedTicket, ExpiredTicket,
                  WrongSSIDTicket):
        assert issubclass(error, TicketError)
        assert error().message and str(error()) == error().message
    assert TicketError("custom").message == "custom"


def test_oversized_input_is_refused_before_decoding():
    authority, _ = make_authority()
    text = authority.issue(make_ticket())
    with pytest.raises(MalformedTicket):
        authority.verify(text + " " * 1024, SSID)
    with pytest.raises(MalformedTicket):
        authority.verify("A" * 1028, SSID)


def test_anchor_tickets_are_not_ours():
    authority, _ = make_authority()
    for case in load_vectors("ticket.json")["cases"]:
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(case["wtv_ticket_b64"], SSID)
    for scenario in load_vectors("secure_session.json")["scenarios"]:
        with pytest.raises((ForgedTicket, MalformedTicket)):
            authority.verify(scenario["wtv_ticket_b64"],
                             scenario["box_profile"]["ssid"])


@given(st.text(max_size=300))
def test_garbage_text_raises_only_ticket_errors(text):
    authority, _ = make_authority()
    with pytest.raises(TicketError):
        authority.verify(text, SSID)


@given(st.binary(max_size=300))
def test_garbage_base64_raises_only_ticket_errors(raw):
    authority, _ = make_authority()
    with pytest.raises(TicketError):
        authority.verify(b64encode(raw).decode(), SSID)


@given(st.binary(min_size=96, max_size=96))
def test_garbage_with_our_version_byte_is_forged(raw):
    authority, _ = make_authority()
    with pytest.raises(ForgedTicket):
        authority.verify(b64encode(b"\x02" + raw).decode(), SSID)


@pytest.mark.parametrize("value", [None, 42, b"bytes"])
def test_non_text_is_malformed(value):
    with pytest.raises(MalformedTicket):
        make_authority()[0].verify(value, SSID)


@pytest.mark.parametrize("changes", [
    dict(ssid=""), dict(ssid="A" * 33), dict(ssid="bad ssid"),
    dict(key1=b"short"), dict(key2=b"x" * 17), dict(des_key=b"x" * 16),
    dict(user_id=255), dict(user_id=-1),
])
def test_issue_refuses_unencodable_tickets(changes):
    with pytest.raises(ValueError):
        make_authority()[0].issue(make_ticket(**changes))


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError):
        TicketAuthority(b"minisrv!", Clock())


def test_nothing_secret_shows_in_reprs():
    authority, _ = make_authority()
    assert SECRET.hex() not in repr(authority) and repr(SECRET) not in repr(authority)
    assert "1111" not in repr(make_ticket()) and "deskey" not in repr(make_ticket())


def test_secret_file_is_created_private_and_reused(tmp_path):
    data_dir = tmp_path / "data" / "nested"
    secret = load_or_create_secret(data_dir)
    path = data_dir / "ticket-secret"
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert load_or_create_secret(data_dir) == secret
    assert load_or_create_secret(tmp_path / "elsewhere") != secret
    assert sorted(p.name for p in data_dir.iterdir()) == ["ticket-secret"]


def test_a_secret_file_open_to_others_is_refused(tmp_path):
    load_or_create_secret(tmp_path)
    os.chmod(tmp_path / "ticket-secret", 0o640)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_secret(tmp_path)


def test_a_secret_file_of_the_wrong_size_is_refused(tmp_path):
    path = tmp_path / "ticket-secret"
    path.write_bytes(b"too short")
    path.chmod(0o600)
    with pytest.raises(ValueError):
        load_or_create_secret(tmp_path)


def test_seal_returns_the_text_and_what_verify_reads_back_from_it():
    authority, clock = make_authority()
    text, stamped = authority.seal(make_ticket())
    assert stamped.expires == stamped.issued + 86400
    assert authority.verify(text, stamped.ssid) == stamped


def test_a_sealed_ticket_is_the_one_given_with_its_times_stamped():
    """What seal stamps equals replace() of every field, and is as frozen and hashable."""
    from dataclasses import FrozenInstanceError, replace
    authority, clock = make_authority()
    given = make_ticket(user_id=3, password_ok=False, generation=9, issued=1, expires=2)
    _, stamped = authority.seal(given)
    expected = replace(given, issued=NOW, expires=NOW + 86400)
    assert stamped == expected and hash(stamped) == hash(expected)
    assert repr(stamped) == repr(expected) and type(stamped) is Ticket
    with pytest.raises(FrozenInstanceError):
        stamped.issued = 0


def test_changed_is_replace_and_refuses_what_replace_refuses():
    from dataclasses import replace

    from wtvserv.tickets import changed
    ticket = make_ticket(user_id=None, password_ok=False)
    assert changed(ticket, user_id=2, password_ok=True) == replace(ticket, user_id=2,
                                                                   password_ok=True)
    assert changed(ticket) == ticket
    with pytest.raises(TypeError):
        changed(ticket, colour="red")


def test_the_generation_travels_in_the_ticket():
    authority, _ = make_authority()
    text = authority.issue(make_ticket(generation=7))
    assert authority.verify(text, SSID).generation == 7
    with pytest.raises(ValueError):
        authority.issue(make_ticket(generation=2 ** 32))


def test_a_version_1_ticket_is_refused_as_damaged():
    authority, _ = make_authority()
    raw = b64decode(authority.issue(make_ticket()))
    with pytest.raises(MalformedTicket):
        authority.verify(b64encode(b"\x01" + raw[1:]).decode(), SSID)
