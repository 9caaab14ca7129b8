"""
twistd's text log, written for less: the same lines, in the same place.

twistd renders each event in twisted.logger's classic text format,
running it through C{string.Formatter} and working the local time out
afresh; with one access-log event per request (L{wtvserv.accesslog}) that
was a tenth of the server's CPU per login. L{formatEvent} gives exactly
those lines, with the timestamp made once a second and plain formats
filled in by C{str.format_map}; L{TextObserver} writes the lines of one
turn of the reactor in one system call.

C{twistd wtvserv} has twistd log through L{twistdObserver} unless the
operator chose another observer (C{--logger}, C{--syslog}); it writes
where twistd would have: standard output with C{-n} and no C{--logfile}
(or C{--logfile -}), else the C{--logfile} (default C{twistd.log}),
rotated as twistd rotates it (every megabyte, and on C{SIGUSR1}).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
from functools import lru_cache

from twisted.logger import ILogObserver, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python.compat import ioType
from twisted.python.logfile import LogFile
from zope.interface import implementer

_LEVELS = frozenset(LogLevel.iterconstants())


@lru_cache(maxsize=1)
def _secondStamp(second: int) -> str:
    return formatTime(second)


def timestamp(when: float | None) -> str:
    """L{twisted.logger.formatTime}, made once per second (all it shows)."""
    if when is None or when < 0:
        return formatTime(when)
    # Its second, as datetime rounds a time to microseconds (half to even).
    fraction, whole = math.modf(when)
    return _secondStamp(int(whole) + (round(fraction * 1e6) >= 1_000_000))


def formatEvent(event: dict) -> str | None:
    """
    @return: C{event} as L{formatEventAsClassicLogText} renders it. A plain
        format (no C{()} calls, which only Twisted's formatter makes) is
        filled in by C{str.format_map}, in C, the same way; anything else,
        or a format that fails, is left to Twisted.
    """
    format, level = event.get("log_format"), event.get("log_level")
    namespace = event.get("log_namespace", "-")
    if (type(format) is not str or "()" in format or level not in _LEVELS
            or type(namespace) is not str
            or "log_system" in event or "log_failure" in event or "log_flattened" in event):
        return formatEventAsClassicLogText(event, formatTime=timestamp)
    try:
        text = format.format_map(event)
    except Exception:
        return formatEventAsClassicLogText(event, formatTime=timestamp)
    if not text:
        return None
    line = f"{timestamp(event.get('log_time'))} [{namespace}#{level.name}] {text}"
    return line.replace("\n", "\n\t") + "\n"


@implementer(ILogObserver)
class TextObserver:
    """
    Writes each event's line (L{formatEvent}) to a file, as
    L{FileLogObserver} does, but what the reactor's thread logs during one
    turn of the running reactor goes out at the end of that turn, in one
    write: a write is a system call, during which a waiting store thread
    takes the GIL, and a login logged seven lines in as many writes.

    Any other line (logged by another thread, or while the reactor is not
    running) goes out at once, after the lines waiting; lines still waiting
    when the reactor stops go out as it shuts down.
    """

    def __init__(self, outFile, reactor=None) -> None:
        """@param reactor: the reactor whose turns to follow; by default the installed one."""
        self._outFile = outFile
        self._encoding = None if ioType(outFile) is str else "utf-8"
        self._reactor = reactor
        self._waiting: list[str] = []
        self._lock = threading.RLock()
        self._scheduled = False
        self._followsShutdown = False
        self._broken = False

    def __call__(self, event: dict) -> None:
        text = formatEvent(event)
        if not text or self._broken:
            return
        reactor = self._turning()
        with self._lock:
            self._waiting.append(text)
            if reactor is None:
                self.flush()
                return
            if self._scheduled:
                return
            self._scheduled = True
            if not self._followsShutdown:
                self._followsShutdown = True
                reactor.addSystemEventTrigger("after", "shutdown", self.flush)
        reactor.callLater(0, self.flush)

    def _turning(self):
        """@return: the reactor, if it runs and this is its thread; else L{None}."""
        if threading.current_thread() is not threading.main_thread():
            return None
        # Looked up, never imported: that would install a reactor.
        reactor = self._reactor or sys.modules.get("twisted.internet.reactor")
        return reactor if getattr(reactor, "running", False) else None

    def flush(self) -> None:
        """Write the lines waiting."""
        with self._lock:
            self._scheduled = False
            if not self._waiting or self._broken:
                return
            text, self._waiting = "".join(self._waiting), []
            try:
                self._outFile.write(text if self._encoding is None
                                    else text.encode(self._encoding))
                self._outFile.flush()
            except BaseException:
                # As the log publisher drops an observer that raises: no
                # retrying (and failing, and logging it) every turn.
                self._broken = True
                raise


def textObserver(outFile) -> TextObserver:
    return TextObserver(outFile)


#: twistd's --logfile and -n, for L{twistdObserver} (twistd calls it with no arguments).
_twistdOptions: tuple[str | None, bool] = (None, True)


def observeForTwistd(logfile: str | None, nodaemon: bool) -> str:
    """
    Remember twistd's C{--logfile} and C{-n}. @return: the name of
    L{twistdObserver}, for twistd's C{--logger} option.
    """
    global _twistdOptions
    _twistdOptions = (logfile, nodaemon)
    return f"{__name__}.twistdObserver"


def twistdObserver() -> TextObserver:
    """The observer of twistd's C{--logfile} and C{-n}, writing where twistd would."""
    logfile, nodaemon = _twistdOptions
    if logfile == "-" or (nodaemon and not logfile):
        if not nodaemon:
            sys.exit("Daemons cannot log to stdout, exiting!")
        return textObserver(sys.stdout)
    logFile = LogFile.fromFullPath(logfile or "twistd.log")
    if not signal.getsignal(signal.SIGUSR1):
        def rotate(number, frame):
            from twisted.internet import reactor
            reactor.callFromThread(logFile.rotate)
        signal.signal(signal.SIGUSR1, rotate)
    return textObserver(logFile)
