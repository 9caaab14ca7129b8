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
        new_key=new_key, challenge_b64="challenge", expected_response_b64="r")


def make_registry(**options) -> tuple[SessionKeyRegistry, Clock]:
    clock = Clock()
    return SessionKeyRegistry(clock, **options), clock


def test_registry_provides_the_interface():
    assert verifyObject(ISessionKeyRegistry, make_registry()[0])


def test_unknown_ssids_have_nothing():
    registry, _ = make_registry()
    assert registry.currentKey(SSID) is None
    assert registry.pendingChallenge(SSID) is None
    assert registry.sessionKeys(SSID) is None
    assert len(registry) == 0


def test_reads_do_not_create_entries():
    registry, _ = make_registry()
    registry.currentKey(SSID)
    registry.pendingChallenge(SSID)
    registry.sessionKeys(SSID)
    registry.challengeAnswered(SSID)
    registry.forget(SSID)
    assert len(registry) == 0


def test_current_key_is_remembered_per_ssid():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    registry.setCurrentKey(OTHER, b"otherkey")
    assert registry.currentKey(SSID) == b"initkey!"
    assert registry.currentKey(OTHER) == b"otherkey"


def test_set_current_key_refuses_a_key_that_is_not_8_bytes():
    registry, _ = make_registry()
    with pytest.raises(ValueError):
        registry.setCurrentKey(SSID, b"short")


def test_a_new_pending_challenge_replaces_the_old_one():
    registry, _ = make_registry()
    first, second = make_challenge(b"first!!!"), make_challenge(b"second!!")
    registry.setPendingChallenge(SSID, first)
    registry.setPendingChallenge(SSID, second)
    assert registry.pendingChallenge(SSID) is second
    assert registry.pendingChallenge(OTHER) is None


def test_answering_rotates_the_key_and_stores_the_session_keys():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    registry.setPendingChallenge(SSID, make_challenge(b"newkey!!"))
    registry.challengeAnswered(SSID)
    assert registry.currentKey(SSID) == b"newkey!!"
    assert registry.sessionKeys(SSID) == (b"1" * 16, b"2" * 16)


def test_an_answered_challenge_cannot_be_answered_again():
    registry, _ = make_registry()
    registry.setPendingChallenge(SSID, make_challenge(b"newkey!!"))
    registry.challengeAnswered(SSID)
    assert registry.pendingChallenge(SSID) is None
    registry.setCurrentKey(SSID, b"laterkey")
    registry.challengeAnswered(SSID)
    assert registry.currentKey(SSID) == b"laterkey"


def test_failures_count_up_and_reset_on_success():
    registry, _ = make_registry()
    assert [registry.recordFailure(SSID) for _ in range(3)] == [1, 2, 3]
    assert registry.recordFailure(OTHER) == 1
    registry.setPendingChallenge(SSID, make_challenge())
    registry.challengeAnswered(SSID)
    assert registry.recordFailure(SSID) == 1


def test_a_failure_keeps_the_pending_challenge():
    registry, _ = make_registry()
    challenge = make_challenge()
    registry.setPendingChallenge(SSID, challenge)
    registry.recordFailure(SSID)
    assert registry.pendingChallenge(SSID) is challenge


def test_forget_drops_everything_about_one_ssid():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    registry.setCurrentKey(OTHER, b"otherkey")
    registry.recordFailure(SSID)
    registry.forget(SSID)
    assert registry.currentKey(SSID) is None
    assert registry.recordFailure(SSID) == 1
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


def test_failure_counts_expire_too():
    registry, clock = make_registry(lifetime=100)
    registry.recordFailure(SSID)
    clock.advance(100)
    assert registry.recordFailure(SSID) == 1


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
        registry.recordFailure(f"{number:016x}")
    assert len(registry) == 1000
    assert registry.recordFailure(f"{199_999:016x}") == 2
    assert registry.recordFailure(f"{0:016x}") == 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        SessionKeyRegistry(Clock(), capacity=0)


def test_repr_shows_no_keys():
    registry, _ = make_registry()
    registry.setCurrentKey(SSID, b"initkey!")
    assert "initkey" not in repr(registry) and SSID not in repr(registry)
