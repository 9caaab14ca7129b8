"""
The keys each box holds: what it proved, per SSID, and what each origin
(client address) was handed, per SSID and origin; both in bounded LRUs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from zope.interface import implementer

from wtvserv.interfaces import ISessionKeyRegistry

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.interfaces import IReactorTime

    from wtvserv.crypto.challenge import IssuedChallenge


class _Slot:
    """What one origin was handed for one SSID: an initial key, a challenge."""

    __slots__ = ("touched", "key", "pending")

    def __init__(self, now: float):
        self.touched = now
        self.key: bytes | None = None
        self.pending: IssuedChallenge | None = None


class _Proven:
    """What a box proved by answering a challenge: its session keys."""

    __slots__ = ("touched", "session_keys")

    def __init__(self, now: float, session_keys: tuple[bytes, bytes]):
        self.touched = now
        self.session_keys = session_keys


class _Expiring(OrderedDict):
    """
    Entries with a C{touched} time, least recently used first: an entry
    unused for C{lifetime} seconds is gone, and beyond C{capacity} entries
    the least recently used go. Expired entries are dropped lazily.
    """

    def __init__(self, clock, lifetime: float, capacity: int) -> None:
        super().__init__()
        self._clock, self._lifetime, self._capacity = clock, lifetime, capacity

    def find(self, key):
        """@return: the live entry of C{key}, marked as just used, or L{None}."""
        now = self._clock.seconds()
        self._dropStale(now)
        entry = self.get(key)
        if entry is None:
            return None
        if now - entry.touched >= self._lifetime:
            del self[key]
            return None
        entry.touched = now
        self.move_to_end(key)
        return entry

    def put(self, key, entry) -> None:
        self.pop(key, None)
        self[key] = entry
        self._dropStale(entry.touched)

    def _dropStale(self, now: float) -> None:
        while self and now - next(iter(self.values())).touched >= self._lifetime:
            self.popitem(last=False)
        while len(self) > self._capacity:
            self.popitem(last=False)


@implementer(ISessionKeyRegistry)
class SessionKeyRegistry:
    """
    An in-memory L{ISessionKeyRegistry}.

    An origin's slot holds only what was handed to that origin, and only
    that origin reads it: no number of strangers claiming an SSID can
    displace the slot of the box that is logging in (they only add slots of
    their own, bounded in all by C{capacity} and by the per-address rate of
    pre-registrations). Every read or write counts as use; an entry or slot
    unused for C{lifetime} seconds is gone.
    """

    def __init__(self, clock: IReactorTime, lifetime: float = 3600.0,
                 capacity: int = 100_000):
        """
        @param clock: anything with C{seconds()}, e.g. the reactor.
        @param capacity: the most SSIDs with proven keys, and the most
            (SSID, origin) slots, each kept.
        """
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._clock = clock
        self._lifetime = lifetime
        self._capacity = capacity
        self._proven = _Expiring(clock, lifetime, capacity)
        self._slots = _Expiring(clock, lifetime, capacity)

    def __len__(self) -> int:
        return len(self._proven) + len(self._slots)

    def __repr__(self) -> str:
        return (f"<SessionKeyRegistry {len(self._proven)} proven, {len(self._slots)} offered"
                f"/{self._capacity}, lifetime={self._lifetime}>")

    def _slot(self, ssid: str, origin: str) -> _Slot:
        slot = self._slots.find((ssid, origin))
        if slot is None:
            slot = _Slot(self._clock.seconds())
            self._slots.put((ssid, origin), slot)
        return slot

    def currentKey(self, ssid: str, origin: str = "") -> bytes | None:
        slot = self._slots.find((ssid, origin))
        return None if slot is None else slot.key

    def offerKey(self, ssid: str, key: bytes, origin: str = "") -> None:
        if len(key) != 8:
            raise ValueError("a DES key is 8 bytes")
        slot = self._slot(ssid, origin)
        slot.key, slot.pending = bytes(key), None

    def setPendingChallenge(self, ssid: str, challenge: IssuedChallenge,
                            origin: str = "") -> None:
        self._slot(ssid, origin).pending = challenge

    def pendingChallenge(self, ssid: str, origin: str = "") -> IssuedChallenge | None:
        slot = self._slots.find((ssid, origin))
        return None if slot is None else slot.pending

    def challengeAnswered(self, ssid: str, challenge: IssuedChallenge,
                          origin: str = "") -> None:
        """
        See L{ISessionKeyRegistry.challengeAnswered}. With C{challenge} no
        longer pending (e.g. the slot expired) nothing changes, so a
        challenge cannot be answered twice.
        """
        slot = self._slots.find((ssid, origin))
        if slot is None or slot.pending is not challenge:
            return
        del self._slots[(ssid, origin)]
        self._proven.put(ssid, _Proven(self._clock.seconds(),
                                       (challenge.key1, challenge.key2)))

    def sessionKeys(self, ssid: str) -> tuple[bytes, bytes] | None:
        entry = self._proven.find(ssid)
        return None if entry is None else entry.session_keys

    def forget(self, ssid: str) -> None:
        self._proven.pop(ssid, None)
