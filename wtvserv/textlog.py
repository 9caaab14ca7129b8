"""
twistd's text log, written for less: the same lines, in the same place.

twistd renders each event in twisted.logger's classic text format,
running it through C{string.Formatter} and working the local time out
afresh; with one access-log event per request (L{wtvserv.accesslog}) that
was a tenth of the server's CPU per login. L{formatEvent} gives exactly
those lines, with the timestamp made once a second and plain formats
filled in by C{str.format_map}.

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

from twisted.logger import FileLogObserver, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python.logfile import LogFile

_LEVELS = frozenset(LogLevel.iterconstants())


#: The last second stamped, and its stamp: one tuple, read and replaced whole
#: (events come from any thread).
_lastStamp: tuple[int, str] = (-1, "")


def timestamp(when: float | None) -> str:
    """L{twisted.logger.formatTime}, made once per second (all it shows)."""
    global _lastStamp
    if when is None or when < 0:
        return formatTime(when)
    second = int(when)
    if when - second >= 0.999999:
        # Its second, as datetime rounds a time to microseconds (half to even).
        fraction, whole = math.modf(when)
        second = int(whole) + (round(fraction * 1e6) >= 1_000_000)
    stamped, stamp = _lastStamp
    if second != stamped:
        stamp = formatTime(second)
        _lastStamp = (second, stamp)
    return stamp


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


def textObserver(outFile) -> FileLogObserver:
    return FileLogObserver(outFile, formatEvent)


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


#: L{LogFile.write} as written, without the lock threadable wraps it in
#: (C{functools.wraps} keeps the function it wraps); L{None} if not wrapped.
_writeUnlocked = getattr(LogFile.write, "__wrapped__", None)


class _LogFile(LogFile):
    """
    twistd's log file, each write made under a lock of C's making.

    Twisted synchronizes L{LogFile.write} with threadable's lock, a
    C{threading._RLock} written in Python: taking it and letting it go cost
    several times the write itself, once per line. Where that wrapper's
    function cannot be found, writes take both locks.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._writing = threading.RLock()
        super().__init__(*args, **kwargs)

    def write(self, data) -> None:
        with self._writing:
            if _writeUnlocked is None:
                LogFile.write(self, data)
            else:
                _writeUnlocked(self, data)

    def rotate(self) -> None:
        """Rotate between writes, as L{LogFile} does (a write may rotate)."""
        with self._writing:
            LogFile.rotate(self)


def twistdObserver() -> FileLogObserver:
    """The observer of twistd's C{--logfile} and C{-n}, writing where twistd would."""
    logfile, nodaemon = _twistdOptions
    if logfile == "-" or (nodaemon and not logfile):
        if not nodaemon:
            sys.exit("Daemons cannot log to stdout, exiting!")
        return textObserver(sys.stdout)
    logFile = _LogFile.fromFullPath(logfile or "twistd.log")
    if not signal.getsignal(signal.SIGUSR1):
        def rotate(number, frame):
            from twisted.internet import reactor
            reactor.callFromThread(logFile.rotate)
        signal.signal(signal.SIGUSR1, rotate)
    return textObserver(logFile)
