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

    [tickets]
    lifetime = 86400

    [accounts]
    max_users = 6

    [limits]
    connections_per_address = 32

    [ssids]
    exempt_prefixes = ["1SEGA", "MSTVSIMU"]

Every setting, with its default, is in C{examples/wtvserv.toml}.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from ipaddress import ip_network
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
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    """Everything a process needs to know, with defaults that run on loopback."""

    dataDir: Path = Path("wtvserv-data")
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
    # of boxes powering on at once must not overflow it (README).
    listenBacklog: int = 511
    timezone: str = "GMT -0000"
    country: str = "US"
    language: str = "en-US,en"
    # Time limits, in seconds (defaults sized for a 33.6k modem; README).
    idleTimeout: float = 300.0
    headerTimeout: float = 30.0
    bodyTimeout: float = 30.0
    minBodyRate: float = 500.0
    handlerTimeout: float = 60.0
    maxBody: int = 1024 * 1024
    # Caps on connections and on what one address or SSID may do.
    maxConnections: int = 10_000
    connectionsPerAddress: int = 32
    loginFailuresPerAddress: int = 20
    loginFailuresPerSSID: int = 50
    preregistersPerAddress: int = 120
    passwordQueue: int = 32
    loginsPerAddress: int = 120
    loginWindow: float = 600.0
    registrationsPerAddress: int = 10
    registrationWindow: float = 3600.0
    registrationsTotal: int = 100
    unconfirmedGrace: float = 24 * 3600.0
    logsPerAddress: int = 60
    logWindow: float = 600.0
    exemptAddresses: list[str] = field(default_factory=list)
    # Which serial numbers are accepted, and who is banned.
    validateSSIDs: bool = True
    exemptSSIDPrefixes: list[str] = field(default_factory=lambda: ["1SEGA", "MSTVSIMU"])
    exemptSSIDs: list[str] = field(default_factory=list)
    banFile: Path = Path("bans.txt")
    banCheckInterval: float = 2.0
    logFullSSIDs: bool = False

    def service(self, name: str) -> ServiceConfig:
        """@return: the settings of service C{name} (defaults if unset)."""
        return self.services.setdefault(name, ServiceConfig())


_SCALARS = {
    ("server", "host"): ("host", str),
    ("server", "interface"): ("interface", str),
    ("server", "data"): ("dataDir", Path),
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
    ("limits", "max_body"): ("maxBody", int),
    ("limits", "max_connections"): ("maxConnections", int),
    ("limits", "connections_per_address"): ("connectionsPerAddress", int),
    ("limits", "exempt_addresses"): ("exemptAddresses", list),
    ("login", "failures_per_address"): ("loginFailuresPerAddress", int),
    ("login", "logins_per_address"): ("loginsPerAddress", int),
    ("login", "failures_per_ssid"): ("loginFailuresPerSSID", int),
    ("login", "preregisters_per_address"): ("preregistersPerAddress", int),
    ("login", "password_queue"): ("passwordQueue", int),
    ("login", "window"): ("loginWindow", float),
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
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    for section, values in document.items():
        if section == "services":
            _readServices(config, values)
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        for key, value in values.items():
            _setScalar(config, section, key, value)
    for text in config.exemptAddresses:
        try:
            ip_network(text, strict=False)
        except ValueError:
            raise ConfigError(f"[limits] exempt_addresses: {text!r} is not an address "
                              "or CIDR range") from None
    return config


def _setScalar(config: Config, section: str, key: str, value: Any) -> None:
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
    setattr(config, attribute, kind(value))


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
            elif key in ("enabled", "port", "endpoint", "host"):
                raise ConfigError(f"[services.{name}] {key} has a value of the wrong type")
            else:
                service.options[key] = value
