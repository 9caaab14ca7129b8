"""
Tests for L{wtvserv.sessions}.
"""

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from wtvserv.crypto.challenge import IssuedChallenge
from wtvserv.interfaces import ISessionKeyRegistry
from wtvserv.sessions import SessionKeyRegistry

SSID = "8112345600B0026b"
OTHER = "91ABCDEF00B00256"


def make_challenge(new_key: bytes = b"newkey!!") -> IssuedChallenge:
    return IssuedChallenge(
        challenge_id=b"id" * 4, data=bytes(40), key1=b"1" * 16, key2=b"2" * 16,
        new_key=new_key, challenge_b64="challenge")


def make_registry(**options) -> tuple[SessionKeyRegistry, Clock]:
    clock = Clock()
    return SessionKeyRegistry(clock, **options), clock


def test_registry_provides_the_interface():
    assert verifyObject(ISessionKeyRegistry, make_registry()[0])


HERE, THERE = "192.0.2.1", "198.51.100.9"


def answered(registry, ssid=SSID, origin=HERE, new_key=b"newkey!!"):
    """Offer, challenge and answer for C{ssid} from C{origin}, as a login does."""
    registry.offerKey(ssid, b"initkey!", origin)
    challenge = make_challenge(new_key)
    registry.setPendingChallenge(ssid, challenge, origin)
    registry.challengeAnswered(ssid, challenge, origin)
    return challenge


def test_unknown_ssids_have_nothing():
    registry, _ = make_registry()
    assert registry.currentKey(SSID) is None
    assert registry.pendingChallenge(SSID) is None
    assert registry.sessionKeys(SSID) is None
    assert len(registry) == 0


def test_reads_do_not_create_entries():
    registry, _ = make_registry()
    registry.currentKey(SSID, HERE)
    registry.pendingChallenge(SSID, HERE)
    registry.sessionKeys(SSID)
    registry.challengeAnswered(SSID, make_challenge(), HERE)
    registry.forget(SSID)
    assert len(registry) == 0


def test_keys_that_are_not_8_bytes_are_refused():
    registry, _ = make_registry()
    with pytest.raises(ValueError):
        registry.offerKey(SSID, b"short", HERE)


def test_an_offered_key_serves_its_own_origin_only():
    """Issue 12, item 11: currentKey fell back to other origins' keys."""
    registry, _ = make_registry()
    answered(registry)
    registry.offerKey(SSID, b"offered!", THERE)
    assert registry.currentKey(SSID, THERE) == b"offered!"
    assert registry.currentKey(SSID, HERE) is None, "no stranger's key, nor the proven one"
    assert registry.currentKey(SSID, "203.0.113.5") is None


def test_no_number_of_strangers_displaces_an_origins_slot():
    """Issue 12, item 11: four strangers evicted the box's slot (4 per SSID)."""
    registry, _ = make_registry()
    registry.offerKey(SSID, b"victim!!", HERE)
    mine = make_challenge(b"mine!!!!")
    registry.setPendingChallenge(SSID, mine, HERE)
    for number in range(50):
        registry.offerKey(SSID, b"strange!", f"198.51.100.{number}")
        registry.setPendingChallenge(SSID, make_challenge(), f"198.51.100.{number}")
    assert registry.currentKey(SSID, HERE) == b"victim!!"
    assert registry.pendingChallenge(SSID, HERE) is mine


def test_a_new_pending_challenge_replaces_only_its_origins_old_one():
    registry, _ = make_registry()
    first, second, third = (make_challenge(k) for k in (b"first!!!", b"second!!", b"third!!!"))
    registry.setPendingChallenge(SSID, first, HERE)
    registry.setPendingChallenge(SSID, second, HERE)
    registry.setPendingChallenge(SSID, third, THERE)
    assert registry.pendingChallenge(SSID, HERE) is second
    assert registry.pendingChallenge(SSID, THERE) is third
    assert registry.pendingChallenge(OTHER, HERE) is None


def test_a_new_offer_drops_the_origins_pending_challenge():
    registry, _ = make_registry()
    registry.setPendingChallenge(SSID, make_challenge(), HERE)
    registry.offerKey(SSID, b"initkey!", HERE)
    assert registry.pendingChallenge(SSID, HERE) is None


def test_answering_consumes_the_offer_and_stores_the_session_keys():
    registry, _ = make_registry()
    answered(registry)
    assert registry.currentKey(SSID, HERE) is None
    assert registry.pendingChallenge(SSID, HERE) is None
    assert registry.sessionKeys(SSID) == (b"1" * 16, b"2" * 16)


def test_only_the_origin_a_challenge_was_sent_to_can_answer_it():
    registry, _ = make_registry()
    challenge = make_challenge()
    registry.setPendingChallenge(SSID, challenge, HERE)
    registry.challengeAnswered(SSID, challenge, THERE)
    assert registry.sessionKeys(SSID) is None
    assert registry.pendingChallenge(SSID, HERE) is challenge


def test_a_strangers_offer_and_challenge_leave_the_proven_session_alone():
    registry, _ = make_registry()
    answered(registry)
    registry.offerKey(SSID, b"strange!", THERE)
    registry.setPendingChallenge(SSID, make_challenge(b"theirs!!"), THERE)
    assert registry.sessionKeys(SSID) == (b"1" * 16, b"2" * 16)


def test_an_answered_challenge_cannot_be_answered_again():
    registry, _ = make_registry()
    challenge = answered(registry)
    other = make_challenge()
    other = type(other)(*(getattr(other, f) for f in ("challenge_id", "data")),
                        key1=b"3" * 16, key2=b"4" * 16, new_key=b"later!!!",
                        challenge_b64="c")
    registry.setPendingChallenge(SSID, other, HERE)
    registry.challengeAnswered(SSID, other, HERE)
    registry.challengeAnswered(SSID, challenge, HERE)
    assert registry.sessionKeys(SSID) == (b"3" * 16, b"4" * 16)


def test_forget_drops_what_one_ssid_proved():
    registry, _ = make_registry()
    answered(registry)
    answered(registry, OTHER)
    registry.forget(SSID)
    assert registry.sessionKeys(SSID) is None
    assert registry.sessionKeys(OTHER) == (b"1" * 16, b"2" * 16)


def test_entries_expire_after_the_lifetime_without_use():
    registry, clock = make_registry(lifetime=100)
    registry.offerKey(SSID, b"initkey!", HERE)
    clock.advance(99)
    assert registry.currentKey(SSID, HERE) == b"initkey!"
    clock.advance(99)
    assert registry.currentKey(SSID, HERE) == b"initkey!", "use refreshes the entry"
    clock.advance(100)
    assert registry.currentKey(SSID, HERE) is None
    assert len(registry) == 0


def test_expired_entries_are_dropped_when_others_are_used():
    registry, clock = make_registry(lifetime=100)
    for number in range(10):
        registry.offerKey(f"old{number}", b"initkey!", HERE)
        answered(registry, f"proven{number}")
    clock.advance(100)
    registry.offerKey(SSID, b"initkey!", HERE)
    answered(registry, OTHER)
    assert len(registry) == 2


def test_capacity_drops_the_least_recently_used():
    registry, clock = make_registry(capacity=10)
    for number in range(15):
        registry.offerKey(f"ssid{number}", b"initkey!", HERE)
        clock.advance(1)
    assert len(registry) == 10
    assert all(registry.currentKey(f"ssid{n}", HERE) is None for n in range(5))
    assert all(registry.currentKey(f"ssid{n}", HERE) for n in range(5, 15))


def test_use_protects_an_entry_from_eviction():
    registry, _ = make_registry(capacity=3)
    for ssid in ("a", "b", "c"):
        registry.offerKey(ssid, b"initkey!", HERE)
    registry.currentKey("a", HERE)
    registry.offerKey("d", b"initkey!", HERE)
    assert registry.currentKey("b", HERE) is None
    assert registry.currentKey("a", HERE) == b"initkey!"


def test_many_ssids_through_a_small_registry_keep_it_bounded():
    registry, _ = make_registry(capacity=1000)
    for number in range(200_000):
        registry.offerKey(f"{number:016x}", b"initkey!", HERE)
    assert len(registry) == 1000
    assert registry.currentKey(f"{199_999:016x}", HERE) == b"initkey!"
    assert registry.currentKey(f"{0:016x}", HERE) is None


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        SessionKeyRegistry(Clock(), capacity=0)


def test_repr_shows_no_keys():
    registry, _ = make_registry()
    registry.offerKey(SSID, b"initkey!", HERE)
    assert "initkey" not in repr(registry) and SSID not in repr(registry)
