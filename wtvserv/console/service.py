"""
The console in a server process: its listener (C{[console] listen}) and
what it does at start, keeping the log's recent lines and, while no
console password is set, writing a fresh one-time sign-in link to
L{LINK_FILE} in the data directory (mode 0600; the log says where, never
what).
"""

from __future__ import annotations

import os
from ipaddress import ip_address

from twisted.application.service import Service
from twisted.application.strports import service as endpointService
from twisted.logger import Logger, globalLogPublisher

from wtvserv.console.access import LINK_FILE, LINK_LIFETIME, passwordIsSet
from wtvserv.console.http import ConsoleSite
from wtvserv.console.pages import Console
from wtvserv.console.recent import RecentLog
from wtvserv.console.resource import ConsoleResource
from wtvserv.listening import tcpAddress

log = Logger()
CONSOLE = "console"


def servesConsole(config, runHere: set[str] | None) -> bool:
    """Whether a process running C{runHere} serves the console: all services or C{--run console}."""
    return bool(config.consoleListen) and (not runHere or CONSOLE in runHere)


def consoleURL(description: str) -> str:
    """@return: where a browser on this machine reaches a console listening on C{description}."""
    address = tcpAddress(description)
    if address is None:
        return description
    host, port = address
    if ip_address(host).is_unspecified:
        host = "127.0.0.1" if ip_address(host).version == 4 else "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


class ConsoleHousekeeping(Service):
    """Keeps the recent log while running; writes the sign-in link at start."""

    def __init__(self, console: Console, url: str) -> None:
        self.console = console
        self.url = url

    def privilegedStartService(self) -> None:
        # Before the server's start line, so the console's log shows it.
        globalLogPublisher.addObserver(self.console.recentLog)
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        dataDir = self.console.config.dataDir
        linkPath = dataDir / LINK_FILE
        if passwordIsSet(dataDir):
            linkPath.unlink(missing_ok=True)
            log.info("console at {url}", url=self.url)
            return
        token = self.console.signin.link.issue()
        descriptor = os.open(linkPath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(f"{self.url}/signin?once={token}\n")
        log.warn("console at {url}: no console password is set; a one-time sign-in link "
                 "(good for {hours:.0f} hours) is in {path}; set a password with wtvserv "
                 "console set-password", url=self.url, hours=LINK_LIFETIME / 3600,
                 path=str(linkPath))

    def stopService(self):
        globalLogPublisher.removeObserver(self.console.recentLog)
        self.console.signin.link.revoke()
        return super().stopService()


def addConsole(server) -> Console:
    """Add the console's listener to C{server}, a L{wtvserv.server.WTVServer}."""
    description = server.config.consoleListen
    console = Console(server, RecentLog())
    ConsoleHousekeeping(console, consoleURL(description)).setServiceParent(server)
    listener = endpointService(description, ConsoleSite(ConsoleResource(console), server.reactor),
                               reactor=server.reactor)
    listener.setName(CONSOLE)
    listener.description = description
    listener.setServiceParent(server)
    return console
