"""
The services a deployment offers, as boxes are told of them in
C{wtv-service} headers (PROTOCOL.md 7).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

DONT_ENCRYPT_REQUESTS = 0x1
PREREGISTRATION = "wtv-1800"
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9+.-]{0,39}")


def isServiceName(name: object) -> bool:
    """
    Whether C{name} can name a service: a lower-case URL scheme of at most
    40 characters (C{wtv-home}, but also C{http}: boxes reach every scheme
    through a service).
    """
    return isinstance(name, str) and _SERVICE_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class ServiceEntry:
    """One service as advertised: where a box connects and how."""

    name: str
    host: str
    port: int
    flags: int = 0
    connections: int | None = None

    @classmethod
    def fromHeader(cls, value: str) -> ServiceEntry:
        """
        Read one C{wtv-service} value (not C{reset}).

        @raise ValueError: C{name}, C{host} or C{port} is missing or bad.
        """
        fields = dict(part.partition("=")[::2] for part in value.split())
        try:
            connections = fields.get("connections")
            return cls(name=fields["name"], host=fields["host"], port=int(fields["port"]),
                       flags=int(fields.get("flags", "0"), 16),
                       connections=int(connections) if connections else None)
        except KeyError as missing:
            raise ValueError(f"wtv-service without {missing}") from None

    @property
    def encrypts(self) -> bool:
        """Whether boxes may use SECURE ON for it (flag 0x1 clear)."""
        return not self.flags & DONT_ENCRYPT_REQUESTS

    def header(self) -> str:
        """
        @return: the C{wtv-service} value, fields in the order boxes are
            used to: name, host, port, flags (8 hex digits), connections.
        """
        return self._header

    @cached_property
    def _header(self) -> str:
        """L{header}, formatted once: every login sends several."""
        text = f"name={self.name} host={self.host} port={self.port}"
        if self.flags:
            text += f" flags=0x{self.flags:08x}"
        if self.connections is not None:
            text += f" connections={self.connections}"
        return text


class ServiceDirectory:
    """Every enabled service of the deployment, whether or not this process runs it."""

    def __init__(self, entries: list[ServiceEntry] = ()) -> None:
        self._entries = {entry.name: entry for entry in entries}

    def add(self, entry: ServiceEntry) -> None:
        self._entries[entry.name] = entry

    def get(self, name: str) -> ServiceEntry | None:
        return self._entries.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)


def backThroughLogin(directory: ServiceDirectory, query: str = "relogin=true") -> list[tuple[str, str]]:
    """
    The headers that send a box through wtv-1800 and a new login without a
    dialog: its service list reset to wtv-1800 (so it reaches ours, whatever
    list it held) and a visit to C{/preregister?query}.
    """
    entry = directory.get(PREREGISTRATION)
    services = [("wtv-service", "reset"), ("wtv-service", entry.header())] if entry else []
    return [*services, ("wtv-visit", f"{PREREGISTRATION}:/preregister?{query}")]
