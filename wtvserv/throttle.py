"""
Counting events per key over a sliding time window, in bounded memory:
login failures per SSID and per address, sign-ups and reports per address.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from twisted.logger import Logger

log = Logger()


class SlidingWindow:
    """
    Allows at most C{limit} events per key in any C{window} seconds.

    At most C{capacity} keys are tracked. A key that has used up its events
    (one that is locking someone out) is never forgotten before its window
    passes: a flood of new keys makes room only by forgetting the least
    recently active keys that are not at their limit. When every tracked key
    is at its limit, keys not tracked are refused too (L{exceeded} is true)
    until one frees up: a limit that cannot count does not let events
    through. Keys for which C{exempt} is true (addresses the operator
    exempted) are never counted nor stopped.
    """

    def __init__(self, clock, limit: int, window: float, capacity: int = 10_000,
                 exempt=lambda key: False) -> None:
        self._clock = clock
        self._exempt = exempt
        self.limit = limit
        self.window = window
        self._capacity = capacity
        # Keys below their limit, least recently active first; keys at it,
        # in the order they got there (about the order they free up). Each
        # key's times, oldest first, at most limit of them.
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked: OrderedDict[str, deque[float]] = OrderedDict()
        self._saturated = False

    def __len__(self) -> int:
        return len(self._events) + len(self._locked)

    def _recent(self, key: str) -> deque[float]:
        """
        The key's events within the window, kept in the table it now belongs in.

        Those that left the window are dropped from the old end, so a check
        costs what expired, not the limit: a wide limit (logs: 10,000) used
        to be copied and filtered on every event. Were the clock set back,
        times behind a later one are forgotten only with it: a key is held
        to its limit longer, never less.
        """
        horizon = self._clock.seconds() - self.window
        locked = key in self._locked
        times = self._locked.get(key) if locked else self._events.get(key)
        if times is None:
            times = deque(maxlen=self.limit)
        while times and times[0] <= horizon:
            times.popleft()
        if locked and len(times) < self.limit:
            del self._locked[key]
            locked = False
        if locked:
            self._locked[key] = times
        elif times:
            self._events[key] = times
        else:
            self._events.pop(key, None)
        return times

    def _full(self) -> bool:
        """Whether the table is full of keys at their limit, after freeing what it can."""
        while len(self) >= self._capacity and not self._events and self._locked:
            if len(self._recent(next(iter(self._locked)))) >= self.limit:
                break
        full = len(self) >= self._capacity and not self._events
        if full and not self._saturated:
            log.warn("every one of the {n} keys tracked for a limit of {limit} per {window:.0f} s "
                     "is at its limit; new keys are refused until one frees up",
                     n=len(self), limit=self.limit, window=self.window)
        self._saturated = full
        return full

    def exceeded(self, key: str) -> bool:
        """@return: whether C{key} has used up its events for now."""
        return self.retryAfter(key) > 0

    def record(self, key: str) -> int:
        """
        Count an event (nothing, for a key that L{exceeded} refuses when the
        table is full). @return: events of C{key} within the window.
        """
        if self._exempt(key):
            return 0
        times = self._recent(key)
        if not times and self._full():
            return self.limit
        times.append(self._clock.seconds())     # the oldest goes, at the limit
        self._events.pop(key, None)
        self._locked.pop(key, None)
        (self._locked if len(times) >= self.limit else self._events)[key] = times
        while len(self) > self._capacity and self._events:
            self._events.popitem(last=False)
        return len(times)

    def refund(self, key: str) -> None:
        """Take back the newest event of C{key}: one that was reserved and did not happen."""
        times = self._recent(key)
        if times:
            times.pop()
            self._recent(key)

    def retryAfter(self, key: str) -> float:
        """@return: seconds until C{key} may have another event (0 if now)."""
        if self._exempt(key):
            return 0.0
        times = self._recent(key)
        if not times and len(self) >= self._capacity and self._full():
            return self.window
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[-self.limit] + self.window - self._clock.seconds())

    def count(self, key: str) -> int:
        """@return: the events of C{key} within the window."""
        return len(self._recent(key))

    def clear(self, key: str) -> None:
        self._events.pop(key, None)
        self._locked.pop(key, None)


def minutesText(seconds: float) -> str:
    """How long to wait, as a box owner reads it: C{"3 minutes"}."""
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
