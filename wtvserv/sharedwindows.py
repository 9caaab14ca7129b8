"""
Per-address rate windows that hold across the hosts of a PostgreSQL
deployment, at no database round trip per request.

Each host counts its own events at once, in memory (a L{SlidingWindow}), so
its own limit holds from the first request, however many arrive together.
Every C{interval} seconds it sends the database what it counted since, in
one batched upsert (C{count = count + n} per window, key, time bucket and
host), and reads back what the other hosts counted within each window. A
request is refused when the host's own count, plus the others' as last
read, reaches the limit. So a key can exceed a limit only by what it gets
through the other hosts within one exchange (see docs/storage.rst).
"""

from __future__ import annotations

import uuid
from functools import partial

from twisted.internet.threads import deferToThreadPool

from wtvserv.store.polled import Polled
from wtvserv.throttle import SlidingWindow

#: How often a host exchanges its counts with the others' (seconds).
EXCHANGE_INTERVAL = 1.0
#: Time buckets per window: the others' events count for up to one bucket
#: longer than the window, never shorter.
BUCKETS = 20


class SharedWindows:
    """
    The shared rate windows of one process: L{window} makes them, and
    L{start} begins the exchanges with the other hosts.

    @ivar host: this process's name in the database, new at each start, so
        its own rows are told from the others'.
    """

    def __init__(self, shared, reactor, threads, interval: float = EXCHANGE_INTERVAL,
                 capacity: int = 10_000) -> None:
        self.host = uuid.uuid4().hex
        self._reactor = reactor
        self._exchangeCounts = partial(deferToThreadPool, reactor, threads, shared.exchangeCounts)
        self._capacity = capacity
        self._windows: dict[str, SharedWindow] = {}
        # Counted here since the last exchange: (name, key, bucket) -> events.
        self._unsent: dict[tuple[str, str, int], int] = {}
        self._others: dict[tuple[str, str], tuple[int, float]] = {}
        self._polled = Polled(self._exchange, self._learned, reactor, interval,
                              "share the rate counts through the database")

    def start(self) -> None:
        self._polled.start()

    def stop(self) -> None:
        self._polled.stop()

    def exchange(self):
        """@return: a L{Deferred} of the exchange on its way (one now, if none was)."""
        return self._polled.poll()

    def now(self) -> float:
        return self._reactor.seconds()

    def window(self, name: str, limit: int, seconds: float, capacity: int = 10_000,
               exempt=lambda key: False) -> SharedWindow:
        """@return: the window C{name}, the same on every host, made on first use."""
        if name not in self._windows:
            local = SlidingWindow(self._reactor, limit, seconds, capacity, exempt)
            self._windows[name] = SharedWindow(local, name, self, exempt)
        return self._windows[name]

    def counted(self, name: str, key: str, events: int) -> None:
        """
        Note C{events} (one, or minus one for a refund) of C{key}, to send.
        Beyond C{capacity} keys per window waiting to be sent (a flood of
        addresses, or the database away), new ones count on this host only.
        """
        window = self._windows[name].window
        bucket = int(self.now() // max(1.0, window / BUCKETS))
        slot = (name, key, bucket)
        if slot not in self._unsent and len(self._unsent) >= self._capacity * len(self._windows):
            return
        self._unsent[slot] = self._unsent.get(slot, 0) + events

    def others(self, name: str, key: str) -> tuple[int, float]:
        """@return: the other hosts' events of C{key} as last read, and when the first stops counting."""
        return self._others.get((name, key), (0, 0.0))

    def _exchange(self):
        rows = []
        for (name, key, bucket), events in self._unsent.items():
            if events:
                window = self._windows[name].window
                size = max(1.0, window / BUCKETS)
                rows.append((name, key, bucket, events, (bucket + 1) * size + window))
        sending, self._unsent = self._unsent, {}
        exchanging = self._exchangeCounts(self.host, rows, self.now(),
                                          self._capacity)
        exchanging.addErrback(self._unsentAgain, sending)
        return exchanging

    def _unsentAgain(self, failure, sending: dict):
        """The exchange failed: what it carried is sent with the next one."""
        for (name, key, _), events in sending.items():     # counted from now: longer, never shorter
            self.counted(name, key, events)
        return failure

    def _learned(self, totals) -> None:
        self._others = {(name, key): (count, ends) for name, key, count, ends in totals}


class SharedWindow:
    """
    A L{SlidingWindow} of this host whose limit counts the other hosts'
    events too, as last read; the same methods, so its users need not know.
    """

    def __init__(self, local: SlidingWindow, name: str, windows: SharedWindows,
                 exempt) -> None:
        self.local, self.name = local, name
        self.limit, self.window = local.limit, local.window
        self._windows = windows
        self._exempt = exempt

    def retryAfter(self, key: str) -> float:
        wait = self.local.retryAfter(key)
        if wait or self._exempt(key):
            return wait
        others, ends = self._windows.others(self.name, key)
        if others and self.local.count(key) + others >= self.limit:
            return max(1.0, ends - self._windows.now())
        return 0.0

    def exceeded(self, key: str) -> bool:
        return self.retryAfter(key) > 0

    def record(self, key: str) -> int:
        events = self.local.record(key)
        if self._exempt(key):
            return events
        self._windows.counted(self.name, key, 1)
        return events + self._windows.others(self.name, key)[0]

    def refund(self, key: str) -> None:
        if self.local.count(key):
            self.local.refund(key)
            self._windows.counted(self.name, key, -1)

    def count(self, key: str) -> int:
        return self.local.count(key) + self._windows.others(self.name, key)[0]
