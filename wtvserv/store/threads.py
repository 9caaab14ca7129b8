"""
The store threads: a fixed set of threads taking calls from one queue.

A store call is a short query, made on most requests, so handing it over
is most of its cost. Twisted's L{ThreadPool} passes each call through a
coordinator and a queue per worker (locks and a condition variable each
way); here it is one put on a L{SimpleQueue}, which wakes one waiting
thread, and one get. The result goes back as with Twisted's pool, through
the C{onResult} callback (L{deferToThreadPool} calls the reactor from there).
"""

from __future__ import annotations

import threading
from queue import SimpleQueue

from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()
_STOP = None


class StoreThreads:
    """
    C{count} threads, started by L{start} and ended by L{stop} once every
    call queued before it has run. Calls made before L{start} wait for it.
    The part of L{ThreadPool}'s interface that L{deferToThreadPool} and
    the server use.
    """

    def __init__(self, count: int, name: str) -> None:
        self.max = count
        self.name = name
        self.started = False
        self._calls: SimpleQueue = SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        self._threads = [threading.Thread(target=self._work, name=f"{self.name}-{number}",
                                          daemon=True)
                         for number in range(self.max)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Run what is queued, then end the threads."""
        if not self.started:
            return
        self.started = False
        for _ in self._threads:
            self._calls.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs) -> None:
        """Run C{function} on a thread, then C{onResult(True, result)} or C{(False, Failure)}."""
        self._calls.put((onResult, function, args, kwargs))

    def callInThread(self, function, *args, **kwargs) -> None:
        self.callInThreadWithCallback(None, function, *args, **kwargs)

    def _work(self) -> None:
        while (call := self._calls.get()) is not _STOP:
            _run(*call)


def _run(onResult, function, args, kwargs) -> None:
    """Make one call (its arguments and result are let go on return, not held while idle)."""
    try:
        result, succeeded = function(*args, **kwargs), True
    except BaseException:
        result, succeeded = Failure(), False
    if onResult is None:
        if not succeeded:
            log.failure("a call on the store threads failed", result)
        return
    try:
        onResult(succeeded, result)
    except BaseException:
        log.failure("a store result could not be delivered")
