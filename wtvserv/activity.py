"""
What happened lately, for C{wtvserv status}: logins and sign-ups in the
last hour, counted per minute so memory stays the same however many there
are.
"""

from __future__ import annotations

from collections import deque

LOGIN = "login"
SIGNUP = "signup"


class Activity:
    """
    Events of each kind over the last C{window} seconds, in buckets of
    C{step} seconds (the count is exact to within one bucket's age).
    """

    def __init__(self, clock, window: float = 3600.0, step: float = 60.0) -> None:
        self._clock = clock
        self._buckets = int(window // step)
        self._step = step
        self._counts: dict[str, deque[list[int]]] = {}

    def _now(self) -> int:
        return int(self._clock.seconds() // self._step)

    def _recent(self, kind: str) -> deque[list[int]]:
        counts = self._counts.setdefault(kind, deque())
        oldest = self._now() - self._buckets
        while counts and counts[0][0] <= oldest:
            counts.popleft()
        return counts

    def record(self, kind: str) -> None:
        counts, now = self._recent(kind), self._now()
        if counts and counts[-1][0] == now:
            counts[-1][1] += 1
        else:
            counts.append([now, 1])

    def count(self, kind: str) -> int:
        """@return: the events of C{kind} within the window."""
        return sum(n for _, n in self._recent(kind))
