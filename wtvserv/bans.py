"""
The operator's ban list: client addresses (single or CIDR ranges) and box
serial numbers the service refuses.

It is a text file in the data directory, one entry per line::

    # why, when, who: comments are kept by wtvserv ban
    address 203.0.113.7
    address 198.51.100.0/24
    ssid 8112345600B0026b

The running server notices a change within C{checkInterval} seconds, so
bans are added and lifted without a restart, by hand or with
C{wtvserv ban}. A line that cannot be read is logged and skipped; the rest
still apply. An IPv6 address stands for its group (a /64 by default), as
every per-address limit counts it (L{wtvserv.clients}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from ipaddress import ip_network
from pathlib import Path

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from wtvserv.clients import AddressSet, ClientKeys, unmapped
from wtvserv.store.polled import Polled
from wtvserv.watchedfile import WatchedFile

log = Logger()
KINDS = ("address", "ssid")


class BanEntryError(ValueError):
    """A ban line that names neither a valid address nor a valid SSID."""


@dataclass
class Bans:
    """
    One reading of the ban file. Addresses are asked about by client key
    (L{wtvserv.clients}): a ban on one IPv6 address bars its whole group,
    and a ban on any part of a group bars the group.
    """

    addresses: AddressSet = field(default_factory=AddressSet)
    ssids: set[str] = field(default_factory=set)

    def addressBanned(self, key: str) -> bool:
        return self.addresses.touching(key)

    def ssidBanned(self, ssid: str) -> bool:
        return ssid.lower() in self.ssids


def parseEntry(kind: str, value: str) -> tuple[str, str]:
    """
    @return: the entry in its canonical spelling (addresses compressed,
        SSIDs lower case).
    @raise BanEntryError: C{kind} or C{value} is not valid.
    """
    if kind == "address":
        value = unmapped(value)
        try:
            network = ip_network(value, strict=False)
        except ValueError:
            raise BanEntryError(f"{value!r} is not an address or CIDR range") from None
        single = network.num_addresses == 1 and "/" not in value
        return kind, str(network.network_address) if single else str(network)
    if kind == "ssid":
        if not (1 <= len(value) <= 32 and value.isascii() and value.isalnum()):
            raise BanEntryError(f"{value!r} is not a serial number")
        return kind, value.lower()
    raise BanEntryError(f"{kind!r} is neither 'address' nor 'ssid'")


def parseBanEntries(text: str, source: str = "ban list") -> list[tuple[str, str]]:
    """@return: the valid entries of a ban file's text; the others are logged and skipped."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, value = line.partition(" ")
        try:
            entries.append(parseEntry(kind, value.strip()))
        except BanEntryError as problem:
            log.warn("{source} line {number} skipped: {problem}",
                     source=source, number=number, problem=problem)
    return entries


def bansFrom(entries, keys: ClientKeys | None = None) -> Bans:
    """
    @param entries: C{(kind, value)} pairs in their canonical spelling.
    @param keys: how client keys are made, so single IPv6 bans cover their group.
    """
    entries = list(entries)
    return Bans(AddressSet([value for kind, value in entries if kind == "address"], keys),
                {value for kind, value in entries if kind == "ssid"})


def parseBans(text: str, source: str = "ban list", keys: ClientKeys | None = None) -> Bans:
    """@param keys: see L{bansFrom}."""
    return bansFrom(parseBanEntries(text, source), keys)


class BanList(WatchedFile[Bans]):
    """The ban file, re-read when it changes (L{WatchedFile})."""

    what = "ban list"

    def __init__(self, path: Path, clock, checkInterval: float = 2.0,
                 keys: ClientKeys | None = None) -> None:
        self._keys = keys
        super().__init__(path, clock, checkInterval)

    def missing(self) -> Bans:
        return Bans()

    def parse(self, text: str) -> Bans:
        bans = parseBans(text, str(self.path), self._keys)
        log.info("ban list loaded: {a} addresses or ranges, {s} serial numbers",
                 a=len(bans.addresses), s=len(bans.ssids))
        return bans

    def addressBanned(self, key: str) -> bool:
        return self.current().addressBanned(key)

    def ssidBanned(self, ssid: str) -> bool:
        return self.current().ssidBanned(ssid)


class SharedBanList:
    """
    The bans of a PostgreSQL deployment (L{wtvserv.store.shared}): read on
    the store threads every C{checkInterval} seconds while running, so a
    ban made on any host applies on every host within that time. Until the
    first reading, and while the database cannot be read, the last bans
    read stay in force.
    """

    def __init__(self, shared, reactor, threads, checkInterval: float = 2.0,
                 keys: ClientKeys | None = None) -> None:
        self._keys = keys
        self._entries: list[tuple[str, str]] = []
        self._bans = Bans()
        self._read(shared.bans())       # at start-up: in force from the first box
        self._polled = Polled(partial(deferToThreadPool, reactor, threads, shared.bans),
                              self._read, reactor, checkInterval,
                              "read the bans from the database")
        self.start, self.stop = self._polled.start, self._polled.stop

    def current(self) -> Bans:
        return self._bans

    def addressBanned(self, key: str) -> bool:
        return self._bans.addressBanned(key)

    def ssidBanned(self, ssid: str) -> bool:
        return self._bans.ssidBanned(ssid)

    def _read(self, rows) -> None:
        entries = sorted((kind, value) for kind, value, _ in rows)
        if entries != self._entries:
            self._entries, self._bans = entries, bansFrom(entries, self._keys)
            log.info("ban list loaded: {a} addresses or ranges, {s} serial numbers",
                     a=len(self._bans.addresses), s=len(self._bans.ssids))
