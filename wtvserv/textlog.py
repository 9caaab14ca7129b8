"""
twistd's text log, written for less: the same lines, in the same place.

twistd renders each event in twisted.logger's classic text format,
running it through C{string.Formatter} and working the local time out
afresh; with one access-log event per request (L{wtvserv.accesslog}) that
was a tenth of the server's CPU per login. L{formatEvent} gives exactly
those lines: the access log's line as it was made, a timestamp made once
a second, and every other event as Twisted formats it.

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
from functools import lru_cache

from twisted.logger import FileLogObserver, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python.logfile import LogFile

from wtvserv.accesslog import LINE_FORMAT, NAMESPACE as ACCESS

_ACCESS_PREFIX = f" [{ACCESS}#info] "


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
    """@return: C{event} as L{formatEventAsClassicLogText} renders it."""
    if (event.get("log_format") == LINE_FORMAT and event.get("log_namespace") == ACCESS
            and event.get("log_level") is LogLevel.info and event.get("line")
            and not ("log_system" in event or "log_failure" in event
                     or "log_flattened" in event)):
        line = event["line"].replace("\n", "\n\t")
        return timestamp(event.get("log_time")) + _ACCESS_PREFIX + line + "\n"
    return formatEventAsClassicLogText(event, formatTime=timestamp)


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


def twistdObserver() -> FileLogObserver:
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
