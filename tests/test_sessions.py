"""
Tests for L{wtvserv.sessions}.
"""

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from wtvserv.crypto.challenge import IssuedChallenge
from wtvserv.interfaces import ISessionKeyRegistry
from wtvserv.sessions import MAX_ORIGINS, SessionKeyRegistry

SSID = "8112345600B0026b"
OTHER = "91ABCDEF00B00256"


def make_challenge(new_key: bytes = b"newkey!!") -> IssuedChallenge:
    return IssuedChallenge(
        challenge_id=b"id" * 4, data=bytes(40), key1=b"1" * 16, key2=b"2" * 16,
        new_key=new_key, challenge_b64="challenge", expected_response_b64="r")


def make_registry(**options) -> tuple[SessionKeyRegistry, Clock]:
    clock = Clock()
    return SessionKeyRegistry(clock, **options), clock


def test_registry_provides_the_interface():
    assert verifyObject(ISessionKeyRegistry, make_registry()[0])


def test_unknown_ssids_have_nothing():
    registry, _ = make_registry()
    assert registry.currentKey(SSID) is None
    assert registry.pendingChallenges(SSID) == []
    assert registry.sessionKeys(SSID) is None
    assert len(registry) == 0


def test_reads_do_not_create_entries():
    registry, _ = make_registry()
    registry.currentKey(SSID, "192.0.2.1")
    registry.pendingChallenges(SSID)
    registry.sessionKeys(SSID)
    registry.challengeAnswered(SSID, make_challenge())
    registry.forget(SSID)
    assert len(registry) == 0


def test_current_key_is_remembered_per_ssid():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    registry.setCurrentKey(OTHER, b"otherkey")
    assert registry.currentKey(SSID) == b"initkey!"
    assert registry.currentKey(OTHER) == b"otherkey"


def test_keys_that_are_not_8_bytes_are_refused():
    registry, _ = make_registry()
    with pytest.raises(ValueError):
        registry.setCurrentKey(SSID, b"short")
    with pytest.raises(ValueError):
        registry.offerKey(SSID, b"short", HERE)


HERE, THERE = "192.0.2.1", "198.51.100.9"


def test_an_offered_key_serves_its_own_origin_before_the_proven_key():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"proven!!")
    registry.offerKey(SSID, b"offered!", THERE)
    assert registry.currentKey(SSID, THERE) == b"offered!"
    assert registry.currentKey(SSID, HERE) == b"proven!!", "a stranger's offer replaces nothing"


def test_with_nothing_proven_the_newest_offer_serves_any_origin():
    registry, _ = make_registry()
    registry.offerKey(SSID, b"first!!!", HERE)
    registry.offerKey(SSID, b"second!!", THERE)
    assert registry.currentKey(SSID, "203.0.113.5") == b"second!!"
    assert registry.currentKey(SSID, HERE) == b"first!!!"


def test_a_new_pending_challenge_replaces_only_its_origins_old_one():
    registry, _ = make_registry()
    first, second, third = (make_challenge(k) for k in (b"first!!!", b"second!!", b"third!!!"))
    registry.setPendingChallenge(SSID, first, HERE)
    registry.setPendingChallenge(SSID, second, HERE)
    registry.setPendingChallenge(SSID, third, THERE)
    assert registry.pendingChallenges(SSID, HERE) == [second, third]
    assert registry.pendingChallenges(SSID, THERE) == [third, second]
    assert registry.pendingChallenges(OTHER) == []


def test_pending_challenges_are_kept_for_a_few_origins_only():
    registry, _ = make_registry()
    for number in range(10):
        registry.setPendingChallenge(SSID, make_challenge(), f"192.0.2.{number}")
        registry.offerKey(SSID, b"initkey!", f"192.0.2.{number}")
    assert len(registry.pendingChallenges(SSID)) == MAX_ORIGINS


def test_answering_rotates_the_key_and_stores_the_session_keys():
    registry, _ = make_registry()
    registry.offerKey(SSID, b"initkey!", HERE)
    challenge = make_challenge(b"newkey!!")
    registry.setPendingChallenge(SSID, challenge, HERE)
    registry.challengeAnswered(SSID, challenge)
    assert registry.currentKey(SSID, HERE) == b"newkey!!"
    assert registry.sessionKeys(SSID) == (b"1" * 16, b"2" * 16)


def test_a_strangers_offer_and_challenge_leave_the_proven_session_alone():
    registry, _ = make_registry()
    mine = make_challenge(b"newkey!!")
    registry.setPendingChallenge(SSID, mine, HERE)
    registry.challengeAnswered(SSID, mine)
    registry.offerKey(SSID, b"strange!", THERE)
    registry.setPendingChallenge(SSID, make_challenge(b"theirs!!"), THERE)
    assert registry.sessionKeys(SSID) == (b"1" * 16, b"2" * 16)
    assert registry.currentKey(SSID, HERE) == b"newkey!!"


def test_an_answered_challenge_cannot_be_answered_again():
    registry, _ = make_registry()
    challenge = make_challenge(b"newkey!!")
    registry.setPendingChallenge(SSID, challenge, HERE)
    registry.challengeAnswered(SSID, challenge)
    assert registry.pendingChallenges(SSID) == []
    registry.setCurrentKey(SSID, b"laterkey")
    registry.challengeAnswered(SSID, challenge)
    assert registry.currentKey(SSID) == b"laterkey"


def test_forget_drops_everything_about_one_ssid():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    registry.setCurrentKey(OTHER, b"otherkey")
    registry.setPendingChallenge(SSID, make_challenge(), HERE)
    registry.forget(SSID)
    assert registry.currentKey(SSID) is None
    assert registry.pendingChallenges(SSID) == []
    assert registry.currentKey(OTHER) == b"otherkey"


def test_entries_expire_after_the_lifetime_without_use():
    registry, clock = make_registry(lifetime=100)
    registry.setCurrentKey(SSID, b"initkey!")
    clock.advance(99)
    assert registry.currentKey(SSID) == b"initkey!"
    clock.advance(99)
    assert registry.currentKey(SSID) == b"initkey!", "use refreshes the entry"
    clock.advance(100)
    assert registry.currentKey(SSID) is None
    assert len(registry) == 0


def test_expired_entries_are_dropped_when_others_are_used():
    registry, clock = make_registry(lifetime=100)
    for number in range(10):
        registry.setCurrentKey(f"old{number}", b"initkey!")
    clock.advance(100)
    registry.setCurrentKey(SSID, b"initkey!")
    assert len(registry) == 1


def test_capacity_drops_the_least_recently_used():
    registry, clock = make_registry(capacity=10)
    for number in range(15):
        registry.setCurrentKey(f"ssid{number}", b"initkey!")
        clock.advance(1)
    assert len(registry) == 10
    assert all(registry.currentKey(f"ssid{n}") is None for n in range(5))
    assert all(registry.currentKey(f"ssid{n}") for n in range(5, 15))


def test_use_protects_an_entry_from_eviction():
    registry, _ = make_registry(capacity=3)
    for ssid in ("a", "b", "c"):
        registry.setCurrentKey(ssid, b"initkey!")
    registry.currentKey("a")
    registry.setCurrentKey("d", b"initkey!")
    assert registry.currentKey("b") is None
    assert registry.currentKey("a") == b"initkey!"


def test_many_ssids_through_a_small_registry_keep_it_bounded():
    registry, _ = make_registry(capacity=1000)
    for number in range(200_000):
        registry.offerKey(f"{number:016x}", b"initkey!", HERE)
    assert len(registry) == 1000
    assert registry.currentKey(f"{199_999:016x}") == b"initkey!"
    assert registry.currentKey(f"{0:016x}") is None


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        SessionKeyRegistry(Clock(), capacity=0)


def test_repr_shows_no_keys():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    assert "initkey" not in repr(registry) and SSID not in repr(registry)
