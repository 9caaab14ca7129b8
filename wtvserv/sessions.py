"""
The keys each box holds, remembered per SSID in a bounded LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from zope.interface import implementer

from wtvserv.interfaces import ISessionKeyRegistry

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.interfaces import IReactorTime

    from wtvserv.crypto.challenge import IssuedChallenge


class _Entry:
    """What is known about one box."""

    __slots__ = ("touched", "current_key", "pending", "session_keys",
                 "failures")

    def __init__(self, now: float):
        self.touched = now
        self.current_key: bytes | None = None
        self.pending: IssuedChallenge | None = None
        self.session_keys: tuple[bytes, bytes] | None = None
        self.failures = 0

    def __repr__(self) -> str:
        return f"<_Entry touched={self.touched} failures={self.failures}>"


@implementer(ISessionKeyRegistry)
class SessionKeyRegistry:
    """
    An in-memory L{ISessionKeyRegistry}.

    Every read or write of an SSID counts as use. An entry unused for
    C{lifetime} seconds is gone; beyond C{capacity} entries the least
    recently used go first. Expired entries are dropped lazily, on access.
    """

    def __init__(self, clock: IReactorTime, lifetime: float = 3600.0,
                 capacity: int = 100_000):
        """
        @param clock: anything with C{seconds()}, e.g. the reactor.
        """
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._clock = clock
        self._lifetime = lifetime
        self._capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (f"<SessionKeyRegistry {len(self)}/{self._capacity} entries, "
                f"lifetime={self._lifetime}>")

    def _is_expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.touched >= self._lifetime

    def _drop_stale(self, now: float) -> None:
        """
        Drop expired entries from the least recently used end, then the
        oldest while over capacity.
        """
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if not self._is_expired(oldest, now):
                break
            entries.popitem(last=False)
        while len(entries) > self._capacity:
            entries.popitem(last=False)

    def _find(self, ssid: str) -> _Entry | None:
        """@return: the live entry of C{ssid}, marked as just used, or L{None}."""
        now = self._clock.seconds()
        self._drop_stale(now)
        entry = self._entries.get(ssid)
        if entry is None:
            return None
        if self._is_expired(entry, now):
            del self._entries[ssid]
            return None
        entry.touched = now
        self._entries.move_to_end(ssid)
        return entry

    def _find_or_create(self, ssid: str) -> _Entry:
        entry = self._find(ssid)
        if entry is None:
            entry = self._entries[ssid] = _Entry(self._clock.seconds())
            self._drop_stale(entry.touched)
        return entry

    def currentKey(self, ssid: str) -> bytes | None:
        entry = self._find(ssid)
        return None if entry is None else entry.current_key

    def setCurrentKey(self, ssid: str, key: bytes) -> None:
        if len(key) != 8:
            raise ValueError("a DES key is 8 bytes")
        self._find_or_create(ssid).current_key = bytes(key)

    def setPendingChallenge(self, ssid: str, challenge: IssuedChallenge) -> None:
        self._find_or_create(ssid).pending = challenge

    def pendingChallenge(self, ssid: str) -> IssuedChallenge | None:
        entry = self._find(ssid)
        return None if entry is None else entry.pending

    def challengeAnswered(self, ssid: str) -> None:
        """
        See L{ISessionKeyRegistry.challengeAnswered}. The challenge is
        consumed so it cannot be answered twice; with nothing pending (e.g.
        the entry expired) nothing changes.
        """
        entry = self._find(ssid)
        if entry is None or entry.pending is None:
            return
        challenge, entry.pending = entry.pending, None
        entry.current_key = challenge.new_key
        entry.session_keys = (challenge.key1, challenge.key2)
        entry.failures = 0

    def recordFailure(self, ssid: str) -> int:
        entry = self._find_or_create(ssid)
        entry.failures += 1
        return entry.failures

    def sessionKeys(self, ssid: str) -> tuple[bytes, bytes] | None:
        entry = self._find(ssid)
        return None if entry is None else entry.session_keys

    def forget(self, ssid: str) -> None:
        self._entries.pop(ssid, None)
