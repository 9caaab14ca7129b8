"""
What a host of a PostgreSQL deployment learns from the others by asking the
database every few seconds: the bans, the switches, the rate counts.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()


class Polled:
    """
    Calls C{ask} every C{interval} seconds while started (a store call: it
    returns a L{Deferred}), and C{answer} with what it fired with. A call
    still on its way when the next is due is not doubled; a failed one is
    logged (C{what} says what could not be done) and the next one tried.
    """

    def __init__(self, ask: Callable[[], Deferred], answer: Callable[[object], None],
                 reactor, interval: float, what: str) -> None:
        self._ask = ask
        self._answer = answer
        self._what = what
        self._loop = LoopingCall(self.poll)
        self._loop.clock = reactor
        self._interval = interval
        self._asking = None

    def start(self) -> None:
        self._loop.start(self._interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def poll(self):
        """@return: the L{Deferred} of the call on its way (a new one if none was)."""
        if self._asking is None:
            self._asking = self._ask()
            self._asking.addCallbacks(self._answered, self._failed)
        return self._asking

    def _answered(self, result) -> None:
        self._asking = None
        self._answer(result)

    def _failed(self, failure) -> None:
        self._asking = None
        log.warn("cannot {what}: {error}; keeping what was known", what=self._what,
                 error=failure.getErrorMessage())
