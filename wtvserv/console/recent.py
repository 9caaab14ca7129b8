"""
The server's recent log lines, in memory for the console: a
C{twisted.logger} observer keeping the last L{LINES} lines and, apart, the
last L{ERRORS} warnings and errors, so a burst of ordinary lines does not
push the errors out.

Lines are stored as shown: formatted, cut to L{MAX_LINE} characters, and
with every serial-number-shaped word masked (the log masks SSIDs already
unless C{[logs] full_ssids} is on; the console masks them regardless).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from twisted.logger import LogLevel, formatEvent

from wtvserv.ssid import mask_ssid

LINES = 500
ERRORS = 100
MAX_LINE = 500
#: Sixteen hex digits: a box's serial number as the log would show it whole.
_SSID_SHAPED = re.compile(r"\b[0-9A-Fa-f]{16}\b")
#: The levels kept as events: looked up in a set, as comparing two levels
#: runs Python code of C{constantly}'s, for every line the server logs.
_ORDINARY = frozenset(level for level in LogLevel.iterconstants() if level < LogLevel.warn)


@dataclass(frozen=True)
class LogLine:
    time: float
    level: str
    text: str


def maskSSIDs(text: str) -> str:
    return _SSID_SHAPED.sub(lambda match: mask_ssid(match.group()), text)


class RecentLog:
    """
    An observer for C{globalLogPublisher}; safe to call from any thread.

    An ordinary line is kept as its event and formatted only when a page
    shows it: the server logs several lines a request, and the console
    shows them seldom. A warning or error is formatted at once, so that a
    failure's traceback and frames are not held.
    """

    def __init__(self) -> None:
        self.lines: deque[LogLine | dict] = deque(maxlen=LINES)
        self.errors: deque[LogLine] = deque(maxlen=ERRORS)

    def __call__(self, event: dict) -> None:
        level = event.get("log_level", LogLevel.info)
        if level in _ORDINARY or level < LogLevel.warn:
            self.lines.append(event)
            return
        line = _shown(event)
        self.lines.append(line)
        self.errors.append(line)

    def newestFirst(self, which: deque, limit: int) -> list[LogLine]:
        return [_shown(entry) for entry in reversed(list(which)[-limit:])]


def _shown(entry: LogLine | dict) -> LogLine:
    if isinstance(entry, LogLine):
        return entry
    level = entry.get("log_level", LogLevel.info)
    text = formatEvent(entry)
    failure = entry.get("log_failure")
    if failure is not None:
        text = f"{text}: {failure.type.__name__}: {failure.getErrorMessage()}"
    return LogLine(entry.get("log_time", 0.0), level.name,
                   maskSSIDs(" ".join(text.split()))[:MAX_LINE])
