"""
Where services listen, checked before twistd daemonizes.

A bad endpoint description or a port another program holds must be one
line on the operator's terminal and a non-zero exit. Found only when
listening, after twistd has forked into the background, it is a traceback
in the log, or a start that never ends (the waiting parent hears nothing).
So C{twistd wtvserv} parses each description and, for TCP, binds the port
once and lets it go, while still in the foreground.
"""

from __future__ import annotations

import re
import socket
from ipaddress import ip_address

from twisted.internet.endpoints import serverFromString

_FIELD_SEPARATOR = re.compile(r"(?<!\\):")
_TCP_KINDS = ("tcp", "tcp6")


def tcpAddress(description: str) -> tuple[str, int] | None:
    """
    @return: the interface and port a C{tcp:} or C{tcp6:} description
        listens on (C{0.0.0.0} or C{::} when it names no interface), or
        L{None} for another kind of endpoint.
    @raise ValueError: the port is not a number.
    """
    kind, *fields = _FIELD_SEPARATOR.split(description)
    if kind not in _TCP_KINDS:
        return None
    keywords = dict(field.split("=", 1) for field in fields if "=" in field)
    positional = [field for field in fields if "=" not in field]
    port = int(keywords.get("port") or positional[0])
    interface = keywords.get("interface", "::" if kind == "tcp6" else "0.0.0.0")
    return interface.replace("\\:", ":"), port


def listenProblem(description: str, reactor) -> str | None:
    """
    @return: why a service could not listen on C{description} now, as a
        phrase (C{"Address already in use"}), or L{None} when it can.
    """
    try:
        serverFromString(reactor, description)
        address = tcpAddress(description)
    except Exception as error:   # Twisted's parsers raise ValueError, KeyError, TypeError ...
        return f"not an endpoint description ({error})"
    if address is None:
        return None
    interface, port = address
    if not 0 <= port <= 65535:
        return f"port {port} is not 0 to 65535"
    try:
        family = socket.AF_INET6 if ip_address(interface).version == 6 else socket.AF_INET
    except ValueError:
        return f"interface {interface!r} is not an IP address"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((interface, port))
        except OSError as error:
            return error.strerror or str(error)
    return None
