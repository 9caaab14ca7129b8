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

#: Origins (client addresses) whose unproven keys are kept per SSID.
MAX_ORIGINS = 4


class _Entry:
    """What is known about one box."""

    __slots__ = ("touched", "proven_key", "session_keys", "offered", "pending")

    def __init__(self, now: float):
        self.touched = now
        self.proven_key: bytes | None = None
        self.session_keys: tuple[bytes, bytes] | None = None
        # origin -> initial key / challenge, oldest first
        self.offered: OrderedDict[str, bytes] = OrderedDict()
        self.pending: OrderedDict[str, IssuedChallenge] = OrderedDict()

    def __repr__(self) -> str:
        return (f"<_Entry touched={self.touched} offered={len(self.offered)} "
                f"pending={len(self.pending)}>")


def _remember(table: OrderedDict, origin: str, value) -> None:
    table.pop(origin, None)
    table[origin] = value
    while len(table) > MAX_ORIGINS:
        table.popitem(last=False)


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

    def currentKey(self, ssid: str, origin: str = "") -> bytes | None:
        entry = self._find(ssid)
        if entry is None:
            return None
        if origin in entry.offered:
            return entry.offered[origin]
        if entry.proven_key is not None:
            return entry.proven_key
        return next(reversed(entry.offered.values()), None)

    def offerKey(self, ssid: str, key: bytes, origin: str = "") -> None:
        _checkKey(key)
        _remember(self._find_or_create(ssid).offered, origin, bytes(key))

    def setCurrentKey(self, ssid: str, key: bytes) -> None:
        _checkKey(key)
        self._find_or_create(ssid).proven_key = bytes(key)

    def setPendingChallenge(self, ssid: str, challenge: IssuedChallenge,
                            origin: str = "") -> None:
        _remember(self._find_or_create(ssid).pending, origin, challenge)

    def pendingChallenges(self, ssid: str, origin: str = "") -> list[IssuedChallenge]:
        entry = self._find(ssid)
        if entry is None:
            return []
        own = entry.pending.get(origin)
        others = [c for o, c in reversed(entry.pending.items()) if o != origin]
        return [own, *others] if own is not None else others

    def challengeAnswered(self, ssid: str, challenge: IssuedChallenge) -> None:
        """
        See L{ISessionKeyRegistry.challengeAnswered}. With C{challenge} no
        longer pending (e.g. the entry expired) nothing changes, so a
        challenge cannot be answered twice.
        """
        entry = self._find(ssid)
        if entry is None:
            return
        for origin, pending in list(entry.pending.items()):
            if pending is challenge:
                del entry.pending[origin]
                entry.offered.pop(origin, None)
                entry.proven_key = challenge.new_key
                entry.session_keys = (challenge.key1, challenge.key2)
                return

    def sessionKeys(self, ssid: str) -> tuple[bytes, bytes] | None:
        entry = self._find(ssid)
        return None if entry is None else entry.session_keys

    def forget(self, ssid: str) -> None:
        self._entries.pop(ssid, None)


def _checkKey(key: bytes) -> None:
    if len(key) != 8:
        raise ValueError("a DES key is 8 bytes")
