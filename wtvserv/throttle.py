"""
Counting failures per key over a time window, in bounded memory.
"""

from __future__ import annotations

from collections import OrderedDict


class FailureThrottle:
    """
    Allows at most C{limit} failures per key in any C{window} seconds.

    Anyone who knows an SSID can pre-register and answer the challenge (the
    initial key travels in clear), so password guessing must be limited
    over time, not per login attempt. At most C{capacity} keys are tracked;
    the least recently failing are forgotten first.
    """

    def __init__(self, clock, limit: int, window: float, capacity: int = 10_000) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._capacity = capacity
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str) -> list[float]:
        horizon = self._clock.seconds() - self.window
        times = [t for t in self._failures.get(key, ()) if t > horizon]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, key: str) -> bool:
        """@return: whether C{key} has used up its failures for now."""
        return len(self._recent(key)) >= self.limit

    def fail(self, key: str) -> int:
        """Count a failure. @return: failures of C{key} within the window."""
        times = self._recent(key)
        times.append(self._clock.seconds())
        self._failures[key] = times[-self.limit:]
        self._failures.move_to_end(key)
        while len(self._failures) > self._capacity:
            self._failures.popitem(last=False)
        return len(times)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
