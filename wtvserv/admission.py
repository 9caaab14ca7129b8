"""
Who may hold a connection: one L{Admission} is shared by every service
port of a process, so its caps count connections to all of them. It counts
by client key (L{wtvserv.clients}): an IPv6 /64 is one client.
"""

from __future__ import annotations

from collections import Counter

from wtvserv.clients import AddressSet


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

    def admit(self, key: str) -> tuple[int, str, str] | None:
        """
        @return: L{None} when the connection is admitted (and counted), else
            C{(status, message for the box, reason for the log)}.
        """
        if self.bans.addressBanned(key):
            return self._refuse("banned", 403, "This service is not available to you.",
                                "address banned")
        if self.total >= self.maxConnections:
            return self._refuse("total", 503, "The service is busy. Please try again later.",
                                "too many connections in all")
        if self._byAddress[key] >= self.perAddress and key not in self.exempt:
            return self._refuse("address", 503,
                                "Too many connections from your address. Please try again later.",
                                "too many connections from this address")
        self.total += 1
        self._byAddress[key] += 1
        return None

    def release(self, key: str) -> None:
        self.total -= 1
        left = self._byAddress[key] - 1
        if left > 0:
            self._byAddress[key] = left
        else:
            del self._byAddress[key]

    def connectionsFrom(self, key: str) -> int:
        return self._byAddress.get(key, 0)

    def _refuse(self, why: str, status: int, message: str, note: str):
        self.refused[why] += 1
        return status, message, note
