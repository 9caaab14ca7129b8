"""
The control socket: how C{wtvserv status} asks the running server.

A UNIX socket in the data directory (C{control.sock}, or
C{control-<service>.sock} for a process started with C{--run}), mode 0600
inside the data directory's 0700, so only the server's own user reaches it.
A client sends one line, C{status}, and gets one line of JSON back (or
C{{"error": ...}}), then the server hangs up.

Its own limits: a line of at most L{MAX_LINE} bytes, an answer within
L{TIMEOUT} seconds of connecting, at most L{MAX_CONNECTIONS} clients at
once; what breaks one is answered with an error (or closed) and logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from twisted.internet.defer import maybeDeferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin

log = Logger()

MAX_LINE = 64
TIMEOUT = 5.0
MAX_CONNECTIONS = 4
#: The longest socket path the kernel takes (sun_path is 108 bytes on Linux).
MAX_SOCKET_PATH = 107


def socketName(runHere: set[str] | None) -> str:
    """@return: the socket's file name for a process running C{runHere} (L{None}: all)."""
    return "control.sock" if not runHere else f"control-{min(runHere)}.sock"


def takenBy(dataDir: Path, path: Path) -> str | None:
    """
    @return: why the control socket C{path} cannot be had, when a live
        process holds its lock (it serves from the same data directory),
        else L{None}. The lock is only looked at: a stale one, left by a
        process that was killed, is Twisted's to break when it listens.
    """
    try:
        holder = int(os.readlink(f"{path}.lock"))
        os.kill(holder, 0)
    except (OSError, ValueError):
        return None
    return (f"another wtvserv is running on the data directory {dataDir} (its control "
            f"socket {path} is taken); give each process its own --data, or --run with "
            "the services it serves")


class ControlProtocol(LineOnlyReceiver, TimeoutMixin):
    MAX_LENGTH = MAX_LINE
    delimiter = b"\n"

    def connectionMade(self) -> None:
        self.factory.clients += 1
        if self.factory.clients > MAX_CONNECTIONS:
            log.warn("control socket: more than {n} clients at once; one refused",
                     n=MAX_CONNECTIONS)
            self._answer({"error": "busy"})
            return
        self.setTimeout(TIMEOUT)

    def connectionLost(self, reason=None) -> None:
        self.factory.clients -= 1
        self.setTimeout(None)

    def timeoutConnection(self) -> None:
        log.warn("control socket: a client sent no command within {t:.0f} s", t=TIMEOUT)
        self.transport.abortConnection()

    def lineReceived(self, line: bytes) -> None:
        command = line.strip().decode("ascii", "replace")
        handler = self.factory.commands.get(command)
        if handler is None:
            log.warn("control socket: unknown command {command!r}", command=command[:MAX_LINE])
            self._answer({"error": "unknown command; try: " + ", ".join(self.factory.commands)})
            return
        # An answer may have to ask the stores, off the reactor: a Deferred.
        answering = maybeDeferred(handler)
        answering.addErrback(self._failed)
        answering.addCallback(self._answer)

    def _failed(self, failure) -> dict:
        log.failure("control socket: the answer failed", failure)
        return {"error": "the server could not answer; see its log"}

    def lineLengthExceeded(self, line: bytes) -> None:
        log.warn("control socket: a line over {n} bytes", n=MAX_LINE)
        self._answer({"error": "line too long"})

    def _answer(self, answer: dict) -> None:
        self.setTimeout(None)
        if self.transport is None or self.transport.disconnecting:
            return
        self.transport.write(json.dumps(answer).encode("utf-8") + b"\n")
        self.transport.loseConnection()


class ControlFactory(Factory):
    """@param commands: each command's name and the function making its answer."""

    noisy = False
    protocol = ControlProtocol

    def __init__(self, commands: dict[str, Callable[[], dict]]) -> None:
        self.commands = commands
        self.clients = 0
