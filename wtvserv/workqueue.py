"""
A bounded queue in front of the worker threads, for CPU-heavy jobs
(password hashing): a flood of jobs is refused at the door instead of
queueing for minutes, and a job whose box has gone is dropped unrun.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure


def defaultConcurrency() -> int:
    """The server's worker threads: the cores but one, at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


class QueueFull(Exception):
    """The queue holds its maximum of waiting jobs; the job was not taken."""


class _Job:
    __slots__ = ("function", "args", "result")

    def __init__(self, function, args, result: Deferred) -> None:
        self.function, self.args, self.result = function, args, result


class WorkQueue:
    """
    At most C{concurrency} jobs handed to C{run} at a time (so the thread
    pool's own, unbounded and uncancellable queue stays short) and at most
    C{capacity} more waiting here.

    Cancelling a job's L{Deferred} (the connection closed, the request timed
    out) takes it out of the queue; one already running is left to finish
    and its result thrown away.
    """

    def __init__(self, run: Callable[..., Deferred], capacity: int,
                 concurrency: int | None = None) -> None:
        """
        @param run: runs C{function(*args)} in a thread, e.g.
            C{IServiceContext.inWorkerThread}.
        @param concurrency: jobs running at once; by default as many as the
            server's worker threads (L{defaultConcurrency}).
        """
        self._run = run
        self.capacity = capacity
        self.concurrency = concurrency or defaultConcurrency()
        self._waiting: deque[_Job] = deque()
        self.running = 0

    def __len__(self) -> int:
        """Jobs waiting, not counting those running."""
        return len(self._waiting)

    def submit(self, function, *args) -> Deferred:
        """
        @return: a L{Deferred} of C{function(*args)}, run in a thread in turn.
        @raise QueueFull: when C{capacity} jobs are waiting already.
        """
        if self.running >= self.concurrency and len(self._waiting) >= self.capacity:
            raise QueueFull()
        job = _Job(function, args, None)
        job.result = Deferred(lambda _: self._drop(job))
        self._waiting.append(job)
        self._next()
        return job.result

    def _drop(self, job: _Job) -> None:
        try:
            self._waiting.remove(job)
        except ValueError:
            pass  # running already: its result will be ignored

    def _next(self) -> None:
        while self.running < self.concurrency and self._waiting:
            job = self._waiting.popleft()
            self.running += 1
            self._run(job.function, *job.args).addBoth(self._finished, job)

    def _finished(self, outcome, job: _Job) -> None:
        self.running -= 1
        if job.result.called:
            pass
        elif isinstance(outcome, Failure):
            job.result.errback(outcome)
        else:
            job.result.callback(outcome)
        self._next()
