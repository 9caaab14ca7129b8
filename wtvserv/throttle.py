"""
Counting events per key over a sliding time window, in bounded memory:
login failures per SSID and per address, sign-ups and reports per address.
"""

from __future__ import annotations

import math
from collections import OrderedDict


class SlidingWindow:
    """
    Allows at most C{limit} events per key in any C{window} seconds.

    At most C{capacity} keys are tracked; the least recently active are
    forgotten first, so a flood of new keys costs bounded memory (and at
    worst forgives an old key early). Keys for which C{exempt} is true
    (addresses the operator exempted) are never counted nor stopped.
    """

    def __init__(self, clock, limit: int, window: float, capacity: int = 10_000,
                 exempt=lambda key: False) -> None:
        self._clock = clock
        self._exempt = exempt
        self.limit = limit
        self.window = window
        self._capacity = capacity
        self._events: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str) -> list[float]:
        horizon = self._clock.seconds() - self.window
        times = [t for t in self._events.get(key, ()) if t > horizon]
        if times:
            self._events[key] = times
        else:
            self._events.pop(key, None)
        return times

    def exceeded(self, key: str) -> bool:
        """@return: whether C{key} has used up its events for now."""
        return self.retryAfter(key) > 0

    def record(self, key: str) -> int:
        """Count an event. @return: events of C{key} within the window."""
        if self._exempt(key):
            return 0
        times = self._recent(key)
        times.append(self._clock.seconds())
        self._events[key] = times[-self.limit:]
        self._events.move_to_end(key)
        while len(self._events) > self._capacity:
            self._events.popitem(last=False)
        return len(times)

    def retryAfter(self, key: str) -> float:
        """@return: seconds until C{key} may have another event (0 if now)."""
        times = self._recent(key)
        if len(times) < self.limit or self._exempt(key):
            return 0.0
        return max(0.0, times[-self.limit] + self.window - self._clock.seconds())

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


def minutesText(seconds: float) -> str:
    """How long to wait, as a box owner reads it: C{"3 minutes"}."""
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
