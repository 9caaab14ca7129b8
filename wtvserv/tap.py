"""
C{twistd wtvserv}: options and the service they build.

Every mistake an operator can make here (an unknown option or service, a
configuration that cannot be read, an address or endpoint that cannot be
used, a port another program holds) ends the start with one line on
stderr and a non-zero exit, before twistd goes into the background.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

from twisted.python import usage

from wtvserv import __version__
from wtvserv.config import ConfigError, checkHost, checkInterface, loadConfig
from wtvserv.directory import isServiceName
from wtvserv.discovery import discoverPlugins


class Options(usage.Options):
    synopsis = "[options]"
    optParameters = [
        ["data", "d", None,
         "Directory for all state (accounts, logs, ticket secret); created if "
         "missing. Default: ./wtvserv-data, or [server] data in the config."],
        ["config", "c", None, "A TOML configuration file (see README.rst)."],
        ["host", None, None,
         "Address boxes are told to connect to in wtv-service headers "
         "(default 127.0.0.1; a box on a LAN needs this machine's LAN address)."],
        ["interface", None, None,
         "Address the services listen on unless --listen says otherwise "
         "(default 127.0.0.1)."],
        ["console", None, None,
         "Where the operator's web console listens, an endpoint description "
         "(default tcp:1680:interface=127.0.0.1, or [console] listen; \"\" for none)."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = {}
        self["run"] = set()
        self["disable"] = set()
        self.plugins, self.problems = discoverPlugins()

    def parseOptions(self, options=None) -> None:
        """Parse; a mistake is one line (twistd would print the whole help first)."""
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            _refuse(f"{error} (twistd wtvserv --help lists the options)")

    def opt_version(self) -> None:
        """Print wtvserv's version and exit."""
        print(f"wtvserv {__version__}")
        sys.exit(0)

    def getUsage(self, width: int | None = None) -> str:
        """The options, then every service found, one per line."""
        return (super().getUsage(width).rstrip("\n") + "\n\n"
                + _describeServices(self.plugins, self.problems) + "\n")

    def opt_listen(self, spec: str) -> None:
        """NAME=ENDPOINT: where service NAME listens, a Twisted endpoint description, e.g. wtv-1800=tcp:11615:interface=127.0.0.1 (repeatable)."""  # noqa: E501
        name, sep, description = spec.partition("=")
        if not (sep and isServiceName(name) and description):
            raise usage.UsageError(f"--listen wants NAME=ENDPOINT, not {spec!r}")
        self["listen"][name] = description

    def opt_run(self, name: str) -> None:
        """Run only this service in this process (repeatable); the others stay advertised, for one service per process."""  # noqa: E501
        self["run"].add(name)

    def opt_disable(self, name: str) -> None:
        """Do not run or advertise this service (repeatable)."""
        self["disable"].add(name)

    def postOptions(self) -> None:
        from wtvserv.console.service import CONSOLE
        try:
            config = loadConfig(Path(self["config"]) if self["config"] else None)
            if self["host"]:
                config.host = checkHost(self["host"], "--host")
            if self["interface"]:
                config.interface = checkInterface(self["interface"], "--interface")
        except ConfigError as error:
            _refuse(str(error))
        known = {plugin.name for plugin in self.plugins}
        found = f"found: {', '.join(sorted(known))}"
        for name in config.services:
            if name not in known:
                _refuse(f"unknown service {name!r} in [services.{name}] of "
                        f"{self['config']}; {found}")
        for name in [*self["listen"], *self["run"] - {CONSOLE}, *self["disable"]]:
            if name not in known:
                _refuse(f"unknown service {name!r}; {found}")
        if self["data"]:
            config.dataDir = Path(self["data"])
        if self["console"] is not None:
            config.consoleListen = self["console"]
        if CONSOLE in self["run"] and not config.consoleListen:
            _refuse("--run console, but the console is turned off ([console] listen is empty)")
        for name, endpoint in self["listen"].items():
            config.service(name).endpoint = endpoint
        for name in self["disable"]:
            config.service(name).enabled = False
        self.config = config
        _logCheaply(getattr(self, "parent", None))


def _logCheaply(twistd) -> None:
    """
    Have twistd write its log with L{wtvserv.textlog}: the same lines in the
    same place, for less CPU. An observer the operator chose is left alone.
    """
    if twistd is None or twistd.get("logger") or twistd.get("syslog"):
        return
    from wtvserv.textlog import observeForTwistd
    twistd["logger"] = observeForTwistd(twistd.get("logfile"), bool(twistd.get("nodaemon")))


def _refuse(message: str) -> NoReturn:
    """End the start: one line, exit status 1."""
    raise SystemExit(f"wtvserv: {message}")


def _describeServices(plugins: list, problems: list[str]) -> str:
    lines = ["Services found (each on its own port; --run console serves the web console):"]
    for plugin in plugins:
        lines.append(f"  {plugin.name:<18} port {plugin.defaultPort:<5} "
                     f"{getattr(plugin, 'description', '')}")
    lines.extend(f"  problem: {problem}" for problem in problems)
    return "\n".join(lines)


def makeService(options: Options, reactor=None):
    """Build the parent service from parsed options."""
    if reactor is None:
        from twisted.internet import reactor
    from wtvserv.console.service import addConsole, servesConsole
    from wtvserv.server import WTVServer
    from wtvserv.store.errors import StorageUnavailable, UnknownSchemaVersion
    from wtvserv.tellyscript.errors import ScriptError

    _checkListening(options, reactor)
    try:
        server = WTVServer(options.config, reactor, options.plugins,
                           runHere=options["run"] or None)
    except (OSError, ValueError, UnknownSchemaVersion, sqlite3.Error) as error:
        sys.exit(f"wtvserv: cannot use data directory {options.config.dataDir}: {error}")
    except (ScriptError, StorageUnavailable) as error:
        sys.exit(f"wtvserv: {error}")
    if servesConsole(options.config, options["run"] or None):
        addConsole(server)
    # Daemonized, twistd's waiting parent hears of an exception, not of an exit.
    twistd = getattr(options, "parent", None)
    server.exitOnStartError = twistd is None or bool(twistd.get("nodaemon"))
    return server


def _checkListening(options: Options, reactor) -> None:
    """Exit with one line if a service this process runs cannot listen where it is told."""
    from wtvserv.console.service import servesConsole
    from wtvserv.control import socketName, takenBy
    from wtvserv.listening import listenProblem
    from wtvserv.server import listenDescription

    config, runHere = options.config, options["run"]
    for plugin in options.plugins:
        if config.service(plugin.name).enabled and (not runHere or plugin.name in runHere):
            description = listenDescription(config, plugin)
            problem = listenProblem(description, reactor)
            if problem is not None:
                sys.exit(f"wtvserv: {plugin.name} cannot listen on {description}: {problem}")
    if servesConsole(config, runHere or None):
        problem = listenProblem(config.consoleListen, reactor)
        if problem is not None:
            sys.exit(f"wtvserv: console cannot listen on {config.consoleListen}: {problem}")
    taken = takenBy(config.dataDir, config.dataDir / socketName(runHere or None))
    if taken is not None:
        sys.exit(f"wtvserv: {taken}")
