"""
The services a deployment offers, as boxes are told of them in
C{wtv-service} headers (PROTOCOL.md 7).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    """One service as advertised: where a box connects and how."""

    name: str
    host: str
    port: int
    flags: int = 0
    connections: int | None = None

    def header(self) -> str:
        """
        @return: the C{wtv-service} value, fields in the order boxes are
            used to: name, host, port, flags (8 hex digits), connections.
        """
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
