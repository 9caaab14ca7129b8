"""
Store calls off the reactor thread: L{DeferredStore} runs each method of a
synchronous store on the store's thread pool and returns a L{Deferred}, as
buildbot's database connector does, so a slow disk or a distant database
holds up only the requests waiting for it.
"""

from __future__ import annotations

from twisted.internet.threads import deferToThreadPool
from zope.interface.interface import InterfaceClass


class DeferredStore:
    """
    The methods of C{interface}, as C{store} has them, each returning a
    L{Deferred} that fires (on the reactor thread) with the result or the
    exception of the call made on C{threads}.
    """

    def __init__(self, store, interface: InterfaceClass, reactor, threads) -> None:
        self.store = store
        self._reactor = reactor
        self._threads = threads
        for name in interface.names(all=True):
            setattr(self, name, self._deferred(getattr(store, name)))

    def _deferred(self, method):
        def call(*args, **kwargs):
            return deferToThreadPool(self._reactor, self._threads, method, *args, **kwargs)
        call.__name__ = method.__name__
        call.__doc__ = method.__doc__
        return call
