"""
The operator's switches: maintenance and registration, changed while the
server runs (C{wtvserv switch}).

They live in a small text file in the data directory, re-read when it
changes (L{wtvserv.watchedfile}), so every process sharing the directory
agrees within seconds; with PostgreSQL storage, the same text is a row of
the shared database, read every few seconds by every host
(L{SharedSwitchBoard})::

    maintenance on
    message Back at six, with a new home page.
    registration closed

Maintenance gives every box a C{503} with the message (what the box shows)
on every service but wtv-log, so boxes can still report; a closed
registration refuses sign-ups. Without the file, or for a line it cannot
read (logged), the defaults hold: no maintenance, registration open.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from wtvserv.store.polled import Polled
from wtvserv.watchedfile import CHECK_INTERVAL, WatchedFile

log = Logger()

SWITCHES_FILE = "switches.txt"
#: Their name in the shared database's settings (L{wtvserv.store.shared}).
SWITCHES_SETTING = "switches"
DEFAULT_MESSAGE = "The service is closed for maintenance. Please try again later."
#: The longest message; a box shows it as one sentence.
MAX_MESSAGE = 200
#: Each switch: its attribute of L{Switches}, and its words for true and false.
SWITCHES = {"maintenance": ("maintenance", "on", "off"),
            "registration": ("registrationOpen", "open", "closed")}


class SwitchError(ValueError):
    """A switch line or value that means nothing."""


@dataclass(frozen=True)
class Switches:
    maintenance: bool = False
    message: str = DEFAULT_MESSAGE
    registrationOpen: bool = True

    def lines(self) -> list[str]:
        """@return: the file's lines for these switches."""
        lines = [f"{name} {self.word(name)}" for name in SWITCHES]
        if self.message != DEFAULT_MESSAGE:
            lines.append(f"message {self.message}")
        return lines

    def word(self, name: str) -> str:
        """@return: how switch C{name} is set, e.g. C{"on"} for maintenance."""
        attribute, yes, no = SWITCHES[name]
        return yes if getattr(self, attribute) else no


def checkMessage(text: str) -> str:
    """
    @return: C{text} on one line, blanks squeezed.
    @raise SwitchError: it is empty, too long or not printable.
    """
    text = " ".join(text.split())
    if not text or len(text) > MAX_MESSAGE or not text.isprintable():
        raise SwitchError(f"a maintenance message is 1 to {MAX_MESSAGE} printable characters")
    return text


def parseSwitches(text: str, source: str = SWITCHES_FILE) -> Switches:
    settings: dict = {}
    for number, line in enumerate(text.splitlines(), 1):
        name, _, value = line.strip().partition(" ")
        value = value.strip()
        try:
            if not name or name.startswith("#"):
                continue
            if name == "message":
                settings["message"] = checkMessage(value)
            elif name in SWITCHES and value in SWITCHES[name][1:]:
                attribute, yes, _ = SWITCHES[name]
                settings[attribute] = value == yes
            else:
                raise SwitchError(f"{line.strip()!r} is no switch")
        except SwitchError as problem:
            log.warn("{source} line {number} skipped: {problem}", source=source,
                     number=number, problem=problem)
    return Switches(**settings)


class SwitchBoard(WatchedFile[Switches]):
    """The switches file of a data directory, re-read when it changes."""

    what = "switches file"

    def missing(self) -> Switches:
        return Switches()

    def parse(self, text: str) -> Switches:
        return _loaded(parseSwitches(text, str(self.path)))


class SharedSwitchBoard:
    """
    The switches of a PostgreSQL deployment: read on the store threads
    every C{checkInterval} seconds while running, so a switch set on any
    host applies on every host within that time. Until the first reading,
    and while the database cannot be read, the last switches read hold.
    """

    def __init__(self, shared, reactor, threads, checkInterval: float = CHECK_INTERVAL) -> None:
        self._text: str | None = None
        self._switches = Switches()
        self._read(shared.setting(SWITCHES_SETTING))      # at start-up: from the first box
        self._polled = Polled(partial(deferToThreadPool, reactor, threads, shared.setting,
                                      SWITCHES_SETTING),
                              self._read, reactor, checkInterval,
                              "read the switches from the database")
        self.start, self.stop = self._polled.start, self._polled.stop

    def current(self) -> Switches:
        return self._switches

    def recheck(self) -> Deferred:
        """Read the switches now, not an interval later: they were changed here."""
        return self._polled.poll()

    def _read(self, text: str | None) -> None:
        if text != self._text:
            self._text = text
            self._switches = _loaded(Switches() if text is None else
                                     parseSwitches(text, "the database's switches"))


def _loaded(switches: Switches) -> Switches:
    log.info("switches: maintenance {m}, registration {r}",
             m=switches.word("maintenance"), r=switches.word("registration"))
    return switches
