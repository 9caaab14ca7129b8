"""
Who counts as one client (L{wtvserv.clients}): IPv4-mapped addresses are
IPv4 again, an IPv6 /64 is one client for every per-address cap, rate,
ban and exemption.
"""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv6Address
from twisted.internet.testing import StringTransport

from tests.harness import TestBox, inProcessServer
from tests.test_protocol import RecordingService
from wtvserv.admission import Admission
from wtvserv.bans import parseBans
from wtvserv.clients import AddressSet, ClientKeys, unmapped
from wtvserv.protocol import WTVPFactory
from wtvserv.sessions import SessionKeyRegistry
from wtvserv.tickets import TicketAuthority


def test_ipv4_mapped_addresses_are_ipv4_again():
    assert unmapped("::ffff:203.0.113.5") == "203.0.113.5"
    assert unmapped("::FFFF:cb00:7105") == "203.0.113.5"
    assert unmapped("2001:db8::1") == "2001:db8::1"
    assert unmapped("not an address") == "not an address"


@pytest.mark.parametrize("host, prefix, key", [
    ("203.0.113.5", 64, "203.0.113.5"),
    ("::ffff:203.0.113.5", 64, "203.0.113.5"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", 48, "2001:db8:1::/48"),
    ("2001:db8:1:2::1", 128, "2001:db8:1:2::1"),
    ("?", 64, "?"),
])
def test_the_client_key_groups_ipv6_by_its_prefix(host, prefix, key):
    assert ClientKeys(prefix).keyOf(host) == key


def test_a_listed_address_stands_for_its_group_and_ranges_are_asked_both_ways():
    listed = AddressSet(["2001:db8:1:2::5", "198.51.100.0/24", "2001:db8:9::/48",
                         "2001:db8:7:7::/96"])
    keys = ClientKeys()
    assert listed.within(keys.keyOf("2001:db8:1:2::77")), "any address of a listed one's /64"
    assert listed.within(keys.keyOf("::ffff:198.51.100.20"))
    assert listed.within(keys.keyOf("2001:db8:9:5::1"))
    assert not listed.within(keys.keyOf("2001:db8:1:3::1"))
    group = keys.keyOf("2001:db8:7:7::1")
    assert listed.touching(group) and not listed.within(group), \
        "a range smaller than a group bans the group but exempts nothing"


def test_bans_cover_the_group_of_a_banned_ipv6_address_and_mapped_clients():
    keys = ClientKeys()
    bans = parseBans("address 2001:db8:1:2::5\naddress 203.0.113.0/24\n", keys=keys)
    assert bans.addressBanned(keys.keyOf("2001:db8:1:2:ffff::1"))
    assert bans.addressBanned(keys.keyOf("::ffff:203.0.113.9"))
    assert not bans.addressBanned(keys.keyOf("2001:db8:1:3::5"))


def connectFrom(factory: WTVPFactory, host: str):
    peer = IPv6Address("TCP", host, 4000)
    protocol = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


def makeFactory(service, admission, clientKeys=None):
    from twisted.internet.task import Clock
    clock = Clock()
    return WTVPFactory(service, TicketAuthority(b"s" * 32, clock), SessionKeyRegistry(clock),
                       clock, admission=admission, clientKeys=clientKeys)


def test_a_dual_stack_connection_from_ipv4_is_served_and_banned_as_ipv4():
    service = RecordingService()
    factory = makeFactory(service, Admission(parseBans("address 203.0.113.0/24\n")))
    protocol, transport = connectFrom(factory, "::ffff:198.51.100.7")
    protocol.dataReceived(b"GET wtv-test:/x\r\n\r\n")
    assert service.requests[0].address == "198.51.100.7"
    assert service.requests[0].peer == "198.51.100.7:4000"
    _, banned = connectFrom(factory, "::ffff:203.0.113.9")
    assert banned.value().startswith(b"403 ") and banned.disconnecting


def test_one_ipv6_64_shares_one_connection_cap():
    factory = makeFactory(RecordingService(), Admission(parseBans(""), perAddress=2))
    connectFrom(factory, "2001:db8:1:2::1")
    connectFrom(factory, "2001:db8:1:2::2")
    _, third = connectFrom(factory, "2001:db8:1:2:ffff::3")
    assert third.value().startswith(b"503 Too many connections from your address")
    _, elsewhere = connectFrom(factory, "2001:db8:1:3::1")
    assert elsewhere.value() == b""


def test_services_count_a_64_as_one_address(tmp_path):
    with inProcessServer(tmp_path, logsPerAddress=2) as server:
        def report(address: str) -> int:
            return TestBox(server, address=address).request(
                "wtv-log:/log?type=t", body=b"report").status

        assert report("2001:db8:1:2::1") == 200
        assert report("2001:db8:1:2::2") == 200
        assert report("2001:db8:1:2:abcd::9") == 403, "a new address in the same /64"
        assert report("2001:db8:1:3::1") == 200, "the next /64 is another client"


def test_the_prefix_is_configurable_and_exemptions_use_it(tmp_path):
    with inProcessServer(tmp_path, logsPerAddress=1, ipv6Prefix=128,
                         exemptAddresses=["2001:db8:5::/48"]) as server:
        def report(address: str) -> int:
            return TestBox(server, address=address).request(
                "wtv-log:/log?type=t", body=b"r").status

        assert report("2001:db8:1:2::1") == 200
        assert report("2001:db8:1:2::2") == 200, "each address is its own client at /128"
        assert report("2001:db8:1:2::2") == 403
        assert all(report("2001:db8:5:1::1") == 200 for _ in range(3))


def test_keys_stay_right_however_many_addresses_are_asked_about():
    keys = ClientKeys(64)
    for round in range(2):  # the second round is answered from what was remembered
        for n in range(5000):
            assert keys.keyOf(f"10.1.{n // 256}.{n % 256}") == f"10.1.{n // 256}.{n % 256}"
            assert keys.keyOf(f"2001:db8:1:{n + 1:x}::1") == f"2001:db8:1:{n + 1:x}::/64"
    assert keys.keyOf("::ffff:192.0.2.1") == "192.0.2.1"
