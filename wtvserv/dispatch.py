"""
The reactor's events handed to their connections directly, and work the
reactor thread starts while it handles them done at the end of the turn.

Twisted's epoll reactor hands each event to its descriptor through
C{log.callWithLogger}: it asks the descriptor for its log prefix (for a
listening port, C{reflect.qual} of its factory's class), copies the log
context with the prefix in, pushes it and pops it again. That was 6 % of
a registered login's instructions, for one thing only: the C{system} of
events logged through the legacy C{twisted.python.log} while the event is
handled. wtvserv logs through C{twisted.logger}, whose events do not read
that context; Twisted's own "Unhandled Error" of a descriptor that raises
is still logged, with its traceback, but says C{[-]} where it named the
connection. An error that escapes the handling altogether is logged with
the descriptor's prefix, as Twisted does.

L{Dispatcher.afterEvents} is the other half. A store call made while an
event is handled (most are) used to be handed to the store thread through
C{callFromThread}, which on the reactor thread itself writes to the
reactor's waker, so that the next poll returns at once for it and reads
the waker: two system calls and one more event per hand-off. Called while
the dispatcher handles events, it runs the function once they all are,
in the same turn, with no wake-up; called anywhere else (a timer, a
result from a thread, another thread), it is C{callFromThread} as before.

Only Twisted's own L{EPollReactor} (twistd's default on Linux) is
dispatched so; with any other reactor L{Dispatcher.install} changes
nothing and L{Dispatcher.afterEvents} is C{callFromThread}. It relies on
C{_poller}, C{_selectables} and C{_doReadOrWrite} of the reactor and on
C{mainLoop} calling C{doIteration}: C{tests/test_dispatch.py} fails if a
Twisted upgrade changes them.
"""

from __future__ import annotations

import errno
import threading
from typing import Callable

from twisted.internet.epollreactor import EPollReactor
from twisted.python import log


class Dispatcher:
    """The event loop of one reactor's turns (L{install}), and what runs after each."""

    def __init__(self, reactor) -> None:
        self._reactor = reactor
        self._handling = False
        self._thread: int | None = None
        self._after: list[Callable[[], object]] = []

    def afterEvents(self, function: Callable[[], object]) -> None:
        """
        Call C{function} on the reactor thread: once the events of this
        turn are handled when called while they are, else as soon as the
        reactor can (C{callFromThread}). Safe from any thread.
        """
        if self._handling and threading.get_ident() == self._thread:
            self._after.append(function)
        else:
            self._reactor.callFromThread(function)

    def install(self) -> bool:
        """
        Dispatch the reactor's events from now on.

        @return: whether it is done (only for Twisted's own epoll reactor).
        """
        reactor = self._reactor
        if type(reactor) is not EPollReactor:
            return False
        reactor.doIteration = self._turn
        return True

    def _turn(self, timeout: float | None) -> None:
        """
        C{EPollReactor.doPoll}: wait up to C{timeout} seconds (L{None}:
        for ever) for events, hand each to its descriptor, then run what
        was left for the end of the turn.
        """
        reactor = self._reactor
        selectables = reactor._selectables
        try:
            events = reactor._poller.poll(-1 if timeout is None else timeout, len(selectables))
        except OSError as error:
            if error.errno == errno.EINTR:
                return
            raise
        handle = reactor._doReadOrWrite
        self._thread = threading.get_ident()
        self._handling = True
        try:
            for fd, event in events:
                selectable = selectables.get(fd)
                if selectable is None:      # removed by an earlier event of this turn
                    continue
                try:
                    handle(selectable, fd, event)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    log.err(system=_prefixOf(selectable))
        finally:
            self._handling = False
            self._runAfter()

    def _runAfter(self) -> None:
        after, self._after = self._after, []
        for function in after:
            try:
                function()
            except BaseException:
                log.err(None, "work left for the end of a reactor turn failed")


def _prefixOf(selectable) -> str:
    try:
        return selectable.logPrefix()
    except BaseException:
        return "(buggy logPrefix method)"
