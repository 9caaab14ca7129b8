"""
Store calls off the reactor thread: L{DeferredStore} runs each method of a
synchronous store on the store's thread pool and returns a L{Deferred}, as
buildbot's database connector does, so a slow disk or a distant database
holds up only the requests waiting for it.

On a busy server, handing a short query to another thread and its result
back costs more than the query: each hand-off wakes the other thread while
this one holds the GIL, and every pass of the GIL between them is a context
switch. With one store thread (SQLite: one connection, whose calls run in
turn whatever is done), L{StoreCalls} makes the hand-offs fewer: the calls
made in one turn of the reactor go over together at its end (see
L{wtvserv.dispatch}), as one job that runs them in the order they were
made, and their results come back together, in one C{callFromThread}.
With several (PostgreSQL's pool), each call is handed to a thread of its
own, as Twisted's C{deferToThreadPool} does, so that a slow one holds up
no other.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface.interface import InterfaceClass

log = Logger()


class StoreCalls:
    """
    Calls made on C{threads} (a thread pool's C{callInThreadWithCallback}),
    their results fired on the reactor thread.

    @param together: hand the calls over in batches, one job each, because
        C{threads} runs one call at a time anyway.
    @param afterEvents: calls a function on the reactor thread, once the
        events it handles are done (L{wtvserv.dispatch.Dispatcher.afterEvents});
        C{reactor.callFromThread} by default.
    """

    def __init__(self, reactor, threads, together: bool,
                 afterEvents: Callable[[Callable], None] | None = None) -> None:
        self._reactor = reactor
        self._threads = threads
        self._calls = (_Batches(afterEvents or reactor.callFromThread, self._handOver)
                       if together else None)

    def call(self, function: Callable, *args, **kwargs) -> Deferred:
        """@return: a L{Deferred} of C{function(*args, **kwargs)}, run on the threads."""
        if self._calls is None:
            return deferToThreadPool(self._reactor, self._threads, function, *args, **kwargs)
        result = Deferred()
        self._calls.add((result, function, args, kwargs))
        return result

    def flush(self) -> None:
        """Hand the threads every call that waits for the next batch (before they stop)."""
        if self._calls is not None:
            self._calls.takeAll()

    def _handOver(self, calls: list) -> None:
        self._threads.callInThreadWithCallback(self._ran, _runInTurn, calls)

    def _ran(self, succeeded: bool, outcomes: list) -> None:
        """
        On the store thread: send the batch's results to the reactor (the
        job itself succeeds: L{_runInTurn} returns what its calls raise).
        """
        self._reactor.callFromThread(_fire, outcomes)


def _fire(outcomes: list) -> None:
    for result, succeeded, outcome in outcomes:
        try:
            if succeeded:
                result.callback(outcome)
            else:
                result.errback(outcome)
        except BaseException:
            log.failure("a store result could not be delivered")


def _runInTurn(calls: list) -> list:
    """Run each call; @return: C{(Deferred, succeeded, result or Failure)} of each."""
    outcomes = []
    for result, function, args, kwargs in calls:
        try:
            outcomes.append((result, True, function(*args, **kwargs)))
        except BaseException:
            outcomes.append((result, False, Failure()))
    return outcomes


class _Batches:
    """
    Items added from any thread, taken by the reactor thread all at once:
    the first item added since the last batch was taken schedules one
    L{takeAll} (C{schedule}, on the reactor thread) for it and those added
    after it.

    No lock: C{deque} appends and pops are atomic, and C{_scheduled} is set
    only by L{add} and cleared only by L{takeAll}, before it takes what is
    there, so an item is either in a batch already on its way or sends one
    of its own (two threads adding at once may both send one; the second
    finds nothing and takes nothing).
    """

    def __init__(self, schedule: Callable[[Callable], None],
                 take: Callable[[list], None]) -> None:
        self._schedule = schedule
        self._take = take
        self._items: deque = deque()
        self._scheduled = False

    def add(self, item) -> None:
        self._items.append(item)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.takeAll)

    def takeAll(self) -> None:
        self._scheduled = False
        items, waiting = [], self._items
        while waiting:
            items.append(waiting.popleft())
        if items:
            self._take(items)


class DeferredStore:
    """
    The methods of C{interface}, as C{store} has them, each returning a
    L{Deferred} that fires (on the reactor thread) with the result or the
    exception of the call made through C{calls} (L{StoreCalls}).
    """

    def __init__(self, store, interface: InterfaceClass, calls: StoreCalls) -> None:
        self.store = store
        for name in interface.names(all=True):
            setattr(self, name, _deferred(calls.call, getattr(store, name)))


def _deferred(call, method):
    def deferred(*args, **kwargs):
        return call(method, *args, **kwargs)
    deferred.__name__ = method.__name__
    deferred.__doc__ = method.__doc__
    return deferred
