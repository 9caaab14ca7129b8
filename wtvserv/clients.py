"""
Who counts as one client for the per-address caps, rates and bans.

A connection's address is worked out once, when it opens:

 - On a dual-stack listener an IPv4 box arrives as C{::ffff:a.b.c.d}; it is
   mapped back to C{a.b.c.d}, so IPv4 bans, ranges and exemptions apply.
 - An IPv6 box counts by the network it is in, a /64 by default: one home
   gets a /64 and may pick any address in it (privacy addresses change by
   themselves), so counting single addresses would give one home millions
   of places.

The result, the client key, is what every per-address limit counts and
what L{Request.address} holds: the IPv4 address, or the IPv6 network
written as C{2001:db8:1:2::/64}.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

DEFAULT_IPV6_PREFIX = 64
Network = IPv4Network | IPv6Network
_MAX_VERDICTS = 4096
"""Addresses (or client keys) a lookup table here remembers the answer for."""


def unmapped(host: str) -> str:
    """@return: C{host}, with an IPv4-mapped IPv6 address written as IPv4."""
    if not host.startswith("::ffff:") and not host.startswith("::FFFF:"):
        return host
    try:
        mapped = IPv6Address(host).ipv4_mapped
    except ValueError:
        return host
    return str(mapped) if mapped is not None else host


class ClientKeys:
    """Turns addresses into client keys, IPv6 grouped by C{ipv6Prefix} bits."""

    def __init__(self, ipv6Prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        if not 1 <= ipv6Prefix <= 128:
            raise ValueError(f"an IPv6 prefix is 1 to 128 bits, not {ipv6Prefix}")
        self.ipv6Prefix = ipv6Prefix
        self._known: dict[str, str] = {}

    def keyOf(self, host: str) -> str:
        """
        @return: the client key of C{host} (an address as the socket gives
            it); a host that is no IP address is its own key.
        """
        key = self._known.get(host)
        if key is None:
            # Worked out for every connection: parse each address once.
            if len(self._known) >= _MAX_VERDICTS:
                self._known.clear()
            key = self._known[host] = self._keyOf(host)
        return key

    def _keyOf(self, host: str) -> str:
        host = unmapped(host)
        try:
            address = ip_address(host)
        except ValueError:
            return host
        if isinstance(address, IPv4Address) or self.ipv6Prefix == 128:
            return str(address)
        return str(ip_network(f"{address}/{self.ipv6Prefix}", strict=False))

    def entry(self, text: str) -> Network:
        """
        @return: the network an operator's entry (an address or a CIDR
            range, for bans or exemptions) covers: a single IPv6 address
            stands for its whole group, as the limits count it.
        @raise ValueError: C{text} is neither.
        """
        network = ip_network(unmapped(text), strict=False)
        if "/" not in text and isinstance(network, IPv6Network):
            return ip_network(f"{network.network_address}/{self.ipv6Prefix}", strict=False)
        return network


@lru_cache(maxsize=4096)
def keyNetwork(key: str) -> Network | None:
    """@return: the network a client key stands for, or L{None} for a non-IP key."""
    try:
        return ip_network(key, strict=False)
    except ValueError:
        return None


class AddressSet:
    """
    Addresses and CIDR ranges an operator listed, asked about by client key.

    A key is in the set when its whole network is (C{within}), or when any
    of it is (C{touching}): exemptions ask the first, so they never lift a
    limit for addresses the operator did not list; bans the second, so no
    address of a group escapes a ban on part of it.
    """

    def __init__(self, entries: list[str] = (), keys: ClientKeys | None = None) -> None:
        keys = keys or ClientKeys()
        networks = [keys.entry(entry) for entry in entries]
        self._singles = {str(network.network_address) if network.num_addresses == 1
                         else str(network) for network in networks}
        self._networks = networks
        self._within: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __len__(self) -> int:
        return len(self._networks)

    def within(self, key: object) -> bool:
        """@return: whether every address of client C{key} is in the set."""
        if not self._networks or not isinstance(key, str):
            return False
        verdict = self._within.get(key)
        if verdict is None:
            # Asked several times per login: work each key out once.
            if len(self._within) >= _MAX_VERDICTS:
                self._within.clear()
            verdict = self._within[key] = self._matches(
                key, lambda mine, listed: mine.subnet_of(listed))
        return verdict

    def touching(self, key: object) -> bool:
        """@return: whether any address of client C{key} is in the set."""
        return self._matches(key, lambda mine, listed: mine.overlaps(listed))

    __contains__ = within

    def _matches(self, key: object, test) -> bool:
        if not self._networks or not isinstance(key, str):
            return False
        if key in self._singles:
            return True
        mine = keyNetwork(key)
        return mine is not None and any(
            mine.version == listed.version and test(mine, listed) for listed in self._networks)
