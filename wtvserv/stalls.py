"""
How long the reactor thread goes without turning: a timer due every
C{interval} seconds notes how late it runs. The longest delay since start is
logged when the process stops, and each delay over C{warnAfter} when it
happens, since while the reactor is held up no box anywhere is served.
"""

from __future__ import annotations

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()


class StallWatch:
    """@ivar longest: the longest delay seen so far, in seconds."""

    def __init__(self, reactor, interval: float = 0.02, warnAfter: float = 0.25) -> None:
        self._reactor = reactor
        self._interval = interval
        self._warnAfter = warnAfter
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._last = 0.0
        self.longest = 0.0

    def start(self) -> None:
        self._last = self._reactor.seconds()
        self._loop.start(self._interval, now=False)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
            log.info("longest reactor stall: {ms:.1f} ms", ms=self.longest * 1000)

    def _tick(self) -> None:
        now = self._reactor.seconds()
        late = max(0.0, now - self._last - self._interval)
        self._last = now
        self.longest = max(self.longest, late)
        if late > self._warnAfter:
            log.warn("the reactor stalled for {ms:.0f} ms: no box was served meanwhile",
                     ms=late * 1000)
