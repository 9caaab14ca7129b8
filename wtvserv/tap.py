"""
C{twistd wtvserv}: options and the service they build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.python import usage

from wtvserv.config import ConfigError, loadConfig
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
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = {}
        self["run"] = set()
        self["disable"] = set()
        self.plugins, self.problems = discoverPlugins()

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
        try:
            config = loadConfig(Path(self["config"]) if self["config"] else None)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        known = {plugin.name for plugin in self.plugins}
        for name in [*self["listen"], *self["run"], *self["disable"]]:
            if name not in known:
                raise usage.UsageError(
                    f"unknown service {name!r}; found: {', '.join(sorted(known))}")
        if self["data"]:
            config.dataDir = Path(self["data"])
        if self["host"]:
            config.host = self["host"]
        if self["interface"]:
            config.interface = self["interface"]
        for name, endpoint in self["listen"].items():
            config.service(name).endpoint = endpoint
        for name in self["disable"]:
            config.service(name).enabled = False
        self.config = config


def _describeServices(plugins: list, problems: list[str]) -> str:
    lines = ["Services found (each on its own port):"]
    for plugin in plugins:
        lines.append(f"  {plugin.name:<18} port {plugin.defaultPort:<5} "
                     f"{getattr(plugin, 'description', '')}")
    lines.extend(f"  problem: {problem}" for problem in problems)
    return "\n".join(lines)


def makeService(options: Options, reactor=None):
    """Build the parent service from parsed options."""
    if reactor is None:
        from twisted.internet import reactor
    from wtvserv.server import WTVServer
    from wtvserv.tellyscript.errors import ScriptError

    try:
        return WTVServer(options.config, reactor, options.plugins,
                         runHere=options["run"] or None)
    except OSError as error:
        sys.exit(f"wtvserv: cannot use data directory {options.config.dataDir}: {error}")
    except ScriptError as error:
        sys.exit(f"wtvserv: {error}")
