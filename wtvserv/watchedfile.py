"""
An operator's file in the data directory that a running server re-reads
when it changes, so several processes sharing the directory agree and no
change needs a restart: the ban list, the switches, the username lists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

log = Logger()
T = TypeVar("T")

#: Seconds between two looks at a file, unless its owner says otherwise.
CHECK_INTERVAL = 2.0


class WallClock:
    """The clock of a reader outside the reactor (a command): the time of day."""

    @staticmethod
    def seconds() -> float:
        return time.time()


class WatchedFile(Generic[T]):
    """
    The latest reading of a file. Checks are lazy: the file's status is
    looked at, at most once per C{checkInterval} seconds, when L{current} is
    asked, and the file is read again only when its time, size or inode
    changed. A subclass says how text becomes a value (L{parse}) and what
    holds while the file is absent (L{missing}).

    @cvar what: what the file is, for the log.
    """

    what = "file"

    def __init__(self, path: Path, clock, checkInterval: float = CHECK_INTERVAL) -> None:
        self.path = Path(path)
        self._clock = clock
        self._interval = checkInterval
        self._checked = float("-inf")
        self._stamp: tuple | None = None
        self._value: T = self.missing()

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def missing(self) -> T:
        raise NotImplementedError

    def current(self) -> T:
        now = self._clock.seconds()
        if now - self._checked >= self._interval:
            self._checked = now
            self._reload()
        return self._value

    def recheck(self) -> Deferred:
        """
        Look at the file at the next L{current}, not an interval later: it
        was changed here. @return: a fired L{Deferred}, as the database's
        boards return one (L{wtvserv.switches.SharedSwitchBoard.recheck}).
        """
        self._checked = float("-inf")
        return succeed(None)

    def _reload(self) -> None:
        try:
            status = os.stat(self.path)
            stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
            if stamp == self._stamp:
                return
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            if self._stamp is not None:
                log.info("{what} {path} is gone; using the defaults", what=self.what,
                         path=str(self.path))
            self._stamp, self._value = None, self.missing()
            return
        except OSError as error:
            log.warn("cannot read the {what} {path}: {error}; keeping the last one",
                     what=self.what, path=str(self.path), error=error)
            return
        self._stamp, self._value = stamp, self.parse(text)
