"""
Timers of one fixed delay, all waiting on one reactor call.

Every connection sets an idle timer when it opens and after each answer,
and a handler timer for each answer that takes its time. Through
C{callLater} each is a L{DelayedCall} pushed on, and later taken off,
the reactor's heap, whose order Python code compares: some 16,000
instructions a timer, most of the timers' share of a login. Deadlines of
one delay, set as time goes on, fall due in the order they were set, so
L{FixedDelay} keeps them in a queue and waits for the first only:
setting one is an append, cancelling one drops its function.

Each still runs at the first turn of the reactor at or after its time,
as its own C{callLater} would. A clock set back would put a deadline
before one already queued: that one gets a C{callLater} of its own.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

log = Logger()

#: Cancelled deadlines kept at most (beyond twice the live ones) before the queue is swept.
SLACK = 64


class Deadline:
    """One function due at C{time}, unless cancelled first (the part of L{IDelayedCall} used)."""

    __slots__ = ("time", "_function", "_queue")

    def __init__(self, time: float, function: Callable[[], object], queue: FixedDelay) -> None:
        self.time = time
        self._function = function
        self._queue = queue

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return self._function is not None

    def cancel(self) -> None:
        if self._function is not None:
            self._function = None
            self._queue._cancelled()


class FixedDelay:
    """Calls C{delay} seconds after they are set, in the order set, on one timer of C{clock}."""

    def __init__(self, clock: IReactorTime, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        self._waiting: deque[Deadline] = deque()
        self._live = 0
        self._call: IDelayedCall | None = None
        self._due = 0.0             # the time self._call waits for
        self._firing = False

    def callLater(self, function: Callable[[], object]) -> Deadline | IDelayedCall:
        """Call C{function} (no arguments) C{delay} seconds from now."""
        time = self.clock.seconds() + self.delay
        waiting = self._waiting
        if waiting and time < waiting[-1].time:
            return self.clock.callLater(self.delay, function)     # the clock went back
        deadline = Deadline(time, function, self)
        waiting.append(deadline)
        self._live += 1
        if self._call is None and not self._firing:
            # Nothing else waits: the call this deadline's own callLater would be.
            self._due = time
            self._call = self.clock.callLater(self.delay, self._fire)
        return deadline

    def _cancelled(self) -> None:
        self._live -= 1
        waiting = self._waiting
        if self._live == 0:
            waiting.clear()
            if self._call is not None:
                self._call.cancel()
                self._call = None
        elif len(waiting) > 2 * self._live + SLACK:
            self._waiting = deque(d for d in waiting if d._function is not None)

    def _wait(self) -> None:
        """Wait for the first live deadline, if any."""
        waiting = self._waiting
        while waiting and waiting[0]._function is None:
            waiting.popleft()
        if waiting:
            self._due = waiting[0].time
            self._call = self.clock.callLater(max(0.0, self._due - self.clock.seconds()),
                                              self._fire)

    def _fire(self) -> None:
        """Run what is due (the reactor ran this at or after the first's time), then wait again."""
        self._call = None
        self._firing = True
        now = max(self.clock.seconds(), self._due)
        try:
            while self._waiting and self._waiting[0].time <= now:
                deadline = self._waiting.popleft()
                function = deadline._function
                if function is None:
                    continue
                deadline._function = None
                self._live -= 1
                try:
                    function()
                except Exception:
                    log.failure("while handling a timed call")
        finally:
            self._firing = False
            if self._call is None:
                self._wait()
