"""
What happened lately, for C{wtvserv status} and the console's dashboard:
logins and sign-ups over the last hours, counted per minute so memory
stays the same however many there are, and the latest few boxes that
logged in or signed up.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

LOGIN = "login"
SIGNUP = "signup"
#: How far back the per-minute counts go (the dashboard's chart).
WINDOW = 3 * 3600.0
#: Boxes remembered in L{Activity.latest}.
LATEST = 50


@dataclass(frozen=True)
class Arrival:
    """The latest login or sign-up of one box."""

    time: float
    kind: str
    ssid: str
    address: str


class Activity:
    """
    Events of each kind over the last C{window} seconds, in buckets of
    C{step} seconds (a count is exact to within one bucket's age).
    """

    def __init__(self, clock, window: float = WINDOW, step: float = 60.0) -> None:
        self._clock = clock
        self._buckets = int(window // step)
        self._step = step
        self._counts: dict[str, deque[list[int]]] = {}
        self._latest: OrderedDict[str, Arrival] = OrderedDict()

    def _now(self) -> int:
        return int(self._clock.seconds() // self._step)

    def _recent(self, kind: str, now: int) -> deque[list[int]]:
        """@return: the buckets of C{kind}, without those older than the window at C{now}."""
        counts = self._counts.setdefault(kind, deque())
        oldest = now - self._buckets
        while counts and counts[0][0] <= oldest:
            counts.popleft()
        return counts

    def record(self, kind: str, ssid: str | None = None, address: str | None = None) -> None:
        """Count an event; with C{ssid}, the box is one of L{latest}."""
        seconds = self._clock.seconds()
        now = int(seconds // self._step)
        counts = self._recent(kind, now)
        if counts and counts[-1][0] == now:
            counts[-1][1] += 1
        else:
            counts.append([now, 1])
        if ssid is not None:
            self._latest.pop(ssid, None)
            self._latest[ssid] = Arrival(seconds, kind, ssid, address or "-")
            while len(self._latest) > LATEST:
                self._latest.popitem(last=False)

    def count(self, kind: str, within: float = 3600.0) -> int:
        """@return: the events of C{kind} in the last C{within} seconds."""
        now = self._now()
        oldest = now - int(within // self._step)
        return sum(n for bucket, n in self._recent(kind, now) if bucket > oldest)

    def perStep(self, kind: str) -> list[int]:
        """@return: the count of each step of the window, oldest first, this one last."""
        now = self._now()
        counts = [0] * self._buckets
        for bucket, n in self._recent(kind, now):
            counts[bucket - now - 1] = n
        return counts

    def latest(self) -> list[Arrival]:
        """@return: the boxes that logged in or signed up lately, newest first."""
        return list(reversed(self._latest.values()))
