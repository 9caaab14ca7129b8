"""
Who may hold a connection: one L{Admission} is shared by every service
port of a process, so its caps count connections to all of them.
"""

from __future__ import annotations

from collections import Counter
from ipaddress import ip_address, ip_network

_MAX_VERDICTS = 4096
"""Addresses an L{AddressSet} remembers the answer for."""


class AddressSet:
    """Addresses and CIDR ranges, e.g. those exempt from per-address caps."""

    def __init__(self, entries: list[str] = ()) -> None:
        self._networks = [ip_network(entry, strict=False) for entry in entries]
        self._verdicts: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        if not self._networks or not isinstance(host, str):
            return False
        verdict = self._verdicts.get(host)
        if verdict is None:
            # Asked several times per login: parse each address once.
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            verdict = self._verdicts[host] = self._covers(host)
        return verdict

    def _covers(self, host: str) -> bool:
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


class Admission:
    """
    Decides, as a connection opens, whether it may stay: its address must
    not be banned, and neither the process-wide cap nor the cap per client
    address may be full. An admitted connection must be L{release}d once.
    """

    def __init__(self, bans, maxConnections: int = 10_000, perAddress: int = 32,
                 exempt: AddressSet = AddressSet()) -> None:
        self.bans = bans
        self.maxConnections = maxConnections
        self.perAddress = perAddress
        self.exempt = exempt
        self.total = 0
        self._byAddress: Counter[str] = Counter()
        self.refused = Counter()

    def admit(self, host: str) -> tuple[int, str, str] | None:
        """
        @return: L{None} when the connection is admitted (and counted), else
            C{(status, message for the box, reason for the log)}.
        """
        if self.bans.addressBanned(host):
            return self._refuse("banned", 403, "This service is not available to you.",
                                "address banned")
        if self.total >= self.maxConnections:
            return self._refuse("total", 503, "The service is busy. Please try again later.",
                                "too many connections in all")
        if self._byAddress[host] >= self.perAddress and host not in self.exempt:
            return self._refuse("address", 503,
                                "Too many connections from your address. Please try again later.",
                                "too many connections from this address")
        self.total += 1
        self._byAddress[host] += 1
        return None

    def release(self, host: str) -> None:
        self.total -= 1
        left = self._byAddress[host] - 1
        if left > 0:
            self._byAddress[host] = left
        else:
            del self._byAddress[host]

    def connectionsFrom(self, host: str) -> int:
        return self._byAddress.get(host, 0)

    def _refuse(self, why: str, status: int, message: str, note: str):
        self.refused[why] += 1
        return status, message, note
