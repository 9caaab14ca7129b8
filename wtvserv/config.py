"""
Configuration of a wtvserv process, read from an optional TOML file and
command-line options (options win).

Example file::

    [server]
    host = "192.168.1.20"      # the address boxes are told to connect to
    interface = "0.0.0.0"      # where services listen unless told otherwise

    [services.wtv-log]
    port = 1609
    # endpoint = "tcp:1609:interface=0.0.0.0"
    # enabled = false

    [storage]                  # leave out for SQLite files in the data directory
    url = "postgresql://wtvserv@db.example:5432/wtvserv"

    [tickets]
    lifetime = 86400

    [accounts]
    max_users = 6

    [limits]
    connections_per_address = 32

    [console]                  # the operator's web console; listen = "" turns it off
    listen = "tcp:1680:interface=127.0.0.1"

    [ssids]
    exempt_prefixes = ["1SEGA", "MSTVSIMU"]

    [tellyscripts.scripts]      # ROM-type glob -> script, relative to this file
    "US-LC2-*" = "scripts/lc2.tsf"
    [tellyscripts.variables]
    DialinNumber = "18005551234"

Every setting, with its default, is in C{examples/wtvserv.toml}.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration cannot be used; the message says why."""


@dataclass
class ServiceConfig:
    """One service: whether it exists in this deployment and where it listens."""

    enabled: bool = True
    port: int | None = None
    endpoint: str | None = None
    host: str | None = None
    maxBody: int | None = None      # overrides what the service declares
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TellyScriptSettings:
    """
    The operator's TellyScripts (README, "TellyScripts"): C{(ROM-type glob,
    file)} pairs in the order given, the first match winning; C{openISP}
    the same for boxes asking for OpenISP; C{variables} the C{%Name%}
    values of sources.
    """

    scripts: list[tuple[str, Path]] = field(default_factory=list)
    openISP: list[tuple[str, Path]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Config:
    """Everything a process needs to know, with defaults that run on loopback."""

    dataDir: Path = Path("wtvserv-data")
    # PostgreSQL shared by several hosts; None: SQLite files in dataDir.
    storageURL: str | None = None
    storagePoolSize: int = 4
    # Seconds a statement waits for a lock (another host's transaction),
    # as SQLite waits for its file's, before it fails as busy.
    storageLockTimeout: float = 30.0
    # Seconds to wait for a connection (at start, or a busy pool's) before
    # the database counts as unreachable.
    storageConnectionTimeout: float = 10.0
    host: str = "127.0.0.1"
    interface: str = "127.0.0.1"
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    ticketLifetime: float = 24 * 3600.0
    maxUsersPerAccount: int = 6
    maxUsersTotal: int = 100_000
    loginAttempts: int = 5
    logsPerSSID: int = 50
    logsTotal: int = 10_000
    sessionLifetime: float = 3600.0
    sessionCapacity: int = 100_000
    maxConnectionsPerService: int = 10_000
    # Connections the kernel queues before the server accepts them: a burst
    # of boxes powering on at once must not overflow it (docs/decisions.rst).
    listenBacklog: int = 511
    timezone: str = "GMT -0000"
    country: str = "US"
    language: str = "en-US,en"
    # Time limits, in seconds (defaults sized for a 33.6k modem; docs/hardening.rst).
    idleTimeout: float = 300.0
    headerTimeout: float = 30.0
    bodyTimeout: float = 30.0
    minBodyRate: float = 500.0
    handlerTimeout: float = 60.0
    requestTimeout: float = 120.0
    writeTimeout: float = 60.0
    # Bodies: for a service that declares no limit, and all arriving at once.
    maxBody: int = 256 * 1024
    bodyBudget: int = 16 * 1024 * 1024
    # Caps on connections and on what one address or SSID may do.
    maxConnections: int = 10_000
    connectionsPerAddress: int = 32
    loginFailuresPerAddress: int = 20
    loginFailuresPerSSID: int = 50
    preregistersPerAddress: int = 120
    passwordQueue: int = 32
    loginsPerAddress: int = 120
    loginWindow: float = 600.0
    # The DNS server a logged-in box is told to use (wtv-name-server); by
    # default none is sent and the box keeps its TellyScript's.
    nameServer: str | None = None
    registrationsPerAddress: int = 10
    registrationWindow: float = 3600.0
    registrationsTotal: int = 100
    unconfirmedGrace: float = 24 * 3600.0
    logsPerAddress: int = 60
    logWindow: float = 600.0
    exemptAddresses: list[str] = field(default_factory=list)
    # IPv6 clients count by network of this many bits (docs/hardening.rst).
    ipv6Prefix: int = 64
    # Which serial numbers are accepted, and who is banned.
    validateSSIDs: bool = True
    exemptSSIDPrefixes: list[str] = field(default_factory=lambda: ["1SEGA", "MSTVSIMU"])
    exemptSSIDs: list[str] = field(default_factory=list)
    banFile: Path = Path("bans.txt")
    banCheckInterval: float = 2.0
    logFullSSIDs: bool = False
    # The operator's web console (wtvserv.console); "" turns it off.
    consoleListen: str = "tcp:1680:interface=127.0.0.1"
    consoleSessionMinutes: float = 30.0
    # Host names the console answers to besides IP addresses and localhost.
    consoleNames: list[str] = field(default_factory=list)
    tellyscripts: TellyScriptSettings = field(default_factory=TellyScriptSettings)

    def service(self, name: str) -> ServiceConfig:
        """@return: the settings of service C{name} (defaults if unset)."""
        return self.services.setdefault(name, ServiceConfig())


_SCALARS = {
    ("server", "host"): ("host", str),
    ("server", "interface"): ("interface", str),
    ("server", "data"): ("dataDir", Path),
    ("storage", "url"): ("storageURL", str),
    ("storage", "pool_size"): ("storagePoolSize", int),
    ("storage", "lock_timeout"): ("storageLockTimeout", float),
    ("storage", "connection_timeout"): ("storageConnectionTimeout", float),
    ("server", "timezone"): ("timezone", str),
    ("server", "country"): ("country", str),
    ("server", "language"): ("language", str),
    ("server", "max_connections_per_service"): ("maxConnectionsPerService", int),
    ("server", "listen_backlog"): ("listenBacklog", int),
    ("tickets", "lifetime"): ("ticketLifetime", float),
    ("accounts", "max_users"): ("maxUsersPerAccount", int),
    ("accounts", "max_total"): ("maxUsersTotal", int),
    ("login", "attempts"): ("loginAttempts", int),
    ("sessions", "lifetime"): ("sessionLifetime", float),
    ("sessions", "capacity"): ("sessionCapacity", int),
    ("logs", "per_ssid"): ("logsPerSSID", int),
    ("logs", "total"): ("logsTotal", int),
    ("logs", "full_ssids"): ("logFullSSIDs", bool),
    ("limits", "idle_timeout"): ("idleTimeout", float),
    ("limits", "header_timeout"): ("headerTimeout", float),
    ("limits", "body_timeout"): ("bodyTimeout", float),
    ("limits", "min_body_rate"): ("minBodyRate", float),
    ("limits", "handler_timeout"): ("handlerTimeout", float),
    ("limits", "request_timeout"): ("requestTimeout", float),
    ("limits", "write_timeout"): ("writeTimeout", float),
    ("limits", "max_body"): ("maxBody", int),
    ("limits", "body_budget"): ("bodyBudget", int),
    ("limits", "ipv6_prefix"): ("ipv6Prefix", int),
    ("limits", "max_connections"): ("maxConnections", int),
    ("limits", "connections_per_address"): ("connectionsPerAddress", int),
    ("limits", "exempt_addresses"): ("exemptAddresses", list),
    ("login", "failures_per_address"): ("loginFailuresPerAddress", int),
    ("login", "logins_per_address"): ("loginsPerAddress", int),
    ("login", "failures_per_ssid"): ("loginFailuresPerSSID", int),
    ("login", "preregisters_per_address"): ("preregistersPerAddress", int),
    ("login", "password_queue"): ("passwordQueue", int),
    ("login", "window"): ("loginWindow", float),
    ("login", "name_server"): ("nameServer", str),
    ("register", "per_address"): ("registrationsPerAddress", int),
    ("register", "window"): ("registrationWindow", float),
    ("register", "total"): ("registrationsTotal", int),
    ("register", "unconfirmed_grace"): ("unconfirmedGrace", float),
    ("logs", "per_address"): ("logsPerAddress", int),
    ("logs", "window"): ("logWindow", float),
    ("ssids", "validate"): ("validateSSIDs", bool),
    ("ssids", "exempt_prefixes"): ("exemptSSIDPrefixes", list),
    ("ssids", "exempt"): ("exemptSSIDs", list),
    ("bans", "file"): ("banFile", Path),
    ("bans", "check_interval"): ("banCheckInterval", float),
    ("console", "listen"): ("consoleListen", str),
    ("console", "session_minutes"): ("consoleSessionMinutes", float),
    ("console", "names"): ("consoleNames", list),
}


def loadConfig(path: Path | None) -> Config:
    """
    Read a TOML configuration file; L{None} gives the defaults.

    @raise ConfigError: the file is unreadable, not TOML, or has a value of
        the wrong type or an unknown key.
    """
    config = Config()
    if path is None:
        return config
    try:
        document = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    base = Path(path).absolute().parent
    for section, values in document.items():
        if section == "services":
            _readServices(config, values)
            continue
        if section == "tellyscripts":
            config.tellyscripts = _readTellyScripts(values, base)
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        for key, value in values.items():
            _setScalar(config, section, key, value, base)
    checkHost(config.host, "[server] host")
    checkInterface(config.interface, "[server] interface")
    for name, service in config.services.items():
        if service.host is not None:
            checkHost(service.host, f"[services.{name}] host")
    if config.nameServer is not None:
        try:
            IPv4Address(config.nameServer)
        except ValueError:
            raise ConfigError(f"[login] name_server: {config.nameServer!r} is not an IPv4 "
                              "address") from None
    for text in config.exemptAddresses:
        try:
            ip_network(text, strict=False)
        except ValueError:
            raise ConfigError(f"[limits] exempt_addresses: {text!r} is not an address "
                              "or CIDR range") from None
    if config.storageURL is not None and not config.storageURL.startswith(
            ("postgresql://", "postgres://")):
        raise ConfigError("[storage] url must be a postgresql:// URL (leave it out for SQLite)")
    if not 1 <= config.ipv6Prefix <= 128:
        raise ConfigError("[limits] ipv6_prefix must be 1 to 128")
    return config


def commandConfig(configPath: str | None, dataDir: str | None) -> Config:
    """
    The configuration an operator command works on: the server's file, if
    given, with C{--data} winning over its data directory.

    @raise ConfigError: see L{loadConfig}.
    """
    config = loadConfig(Path(configPath) if configPath else None)
    if dataDir:
        config.dataDir = Path(dataDir)
    return config


def checkHost(host: str, where: str) -> str:
    """
    @return: C{host}, an address boxes can be told to connect to (in
        C{wtv-service}, PROTOCOL.md 7: an IPv4 address, not 0.0.0.0).
    @raise ConfigError: it is not one; the message starts with C{where}.
    """
    try:
        address = IPv4Address(host)
    except ValueError:
        raise ConfigError(f"{where}: {host!r} is not an IPv4 address (boxes are told an "
                          "address, not a name)") from None
    if address.is_unspecified or address.is_multicast or address == IPv4Address("255.255.255.255"):
        raise ConfigError(f"{where}: {host} is not an address a box can connect to; give "
                          "this machine's address as boxes reach it")
    return host


def checkInterface(interface: str, where: str) -> str:
    """@return: C{interface}, an IP address to listen on. @raise ConfigError: it is not."""
    try:
        ip_address(interface)
    except ValueError:
        raise ConfigError(f"{where}: {interface!r} is not an IP address to listen on") from None
    return interface


def _setScalar(config: Config, section: str, key: str, value: Any, base: Path) -> None:
    try:
        attribute, kind = _SCALARS[(section, key)]
    except KeyError:
        raise ConfigError(f"unknown setting [{section}] {key}") from None
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"[{section}] {key} must be true or false")
    if kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"[{section}] {key} must be a list of strings")
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"[{section}] {key} must be a number")
    if kind in (int, float) and value <= 0:
        raise ConfigError(f"[{section}] {key} must be positive")
    if kind in (str, Path) and not isinstance(value, str):
        raise ConfigError(f"[{section}] {key} must be a string")
    # A path in the file is relative to the file, wherever twistd was started.
    setattr(config, attribute, base / value if kind is Path else kind(value))


def _readServices(config: Config, services: Any) -> None:
    if not isinstance(services, dict):
        raise ConfigError("[services] must be a table of tables")
    for name, values in services.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[services.{name}] must be a table")
        service = config.service(name)
        for key, value in values.items():
            if key == "enabled" and isinstance(value, bool):
                service.enabled = value
            elif key == "port" and isinstance(value, int) and 0 <= value < 65536:
                service.port = value
            elif key in ("endpoint", "host") and isinstance(value, str):
                setattr(service, key, value)
            elif (key == "max_body" and isinstance(value, int) and not isinstance(value, bool)
                  and value > 0):
                service.maxBody = value
            elif key in ("enabled", "port", "endpoint", "host", "max_body"):
                raise ConfigError(f"[services.{name}] {key} has a value of the wrong type")
            else:
                service.options[key] = value


_SCRIPT_TABLES = {"scripts": "scripts", "openisp": "openISP"}


def _readTellyScripts(values: Any, base: Path) -> TellyScriptSettings:
    """The C{[tellyscripts]} tables; script paths are relative to C{base}."""
    settings = TellyScriptSettings()
    if not isinstance(values, dict):
        raise ConfigError("[tellyscripts] must be a table")
    for key, table in values.items():
        if key not in (*_SCRIPT_TABLES, "variables"):
            raise ConfigError(f"unknown setting [tellyscripts] {key}")
        if not isinstance(table, dict):
            raise ConfigError(f"[tellyscripts.{key}] must be a table")
        for name, value in table.items():
            if key == "variables":
                settings.variables[name] = _variable(name, value)
            elif isinstance(value, str) and value:
                getattr(settings, _SCRIPT_TABLES[key]).append((name, base / value))
            else:
                raise ConfigError(f"[tellyscripts.{key}] {name!r} must name a script file")
    return settings


def _variable(name: str, value: Any) -> str:
    """A C{%Name%} value: text or a number, on one line (a script's line numbers stay true)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"[tellyscripts.variables] {name!r} cannot be a %Name% placeholder")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"[tellyscripts.variables] {name} must be text or a number")
    text = str(value)
    if not text.isprintable():
        raise ConfigError(f"[tellyscripts.variables] {name} must be one line of printable text")
    return text
