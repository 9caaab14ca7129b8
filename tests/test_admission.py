"""Tests for L{wtvserv.admission}: who may hold a connection."""

from wtvserv.admission import AddressSet, Admission
from wtvserv.bans import parseBans


def test_the_cap_per_address_refuses_the_next_and_release_frees_a_place():
    gate = Admission(parseBans(""), maxConnections=100, perAddress=2)
    assert gate.admit("192.0.2.1") is None
    assert gate.admit("192.0.2.1") is None
    status, message, _ = gate.admit("192.0.2.1")
    assert status == 503 and "your address" in message
    assert gate.admit("192.0.2.2") is None, "other addresses are not affected"
    gate.release("192.0.2.1")
    assert gate.admit("192.0.2.1") is None
    assert gate.refused["address"] == 1


def test_the_total_cap_counts_every_address():
    gate = Admission(parseBans(""), maxConnections=3, perAddress=10)
    for n in range(3):
        assert gate.admit(f"192.0.2.{n}") is None
    assert gate.admit("192.0.2.9")[0] == 503
    for n in range(3):
        gate.release(f"192.0.2.{n}")
    assert gate.total == 0 and gate.connectionsFrom("192.0.2.0") == 0


def test_banned_addresses_are_refused_and_not_counted():
    gate = Admission(parseBans("address 198.51.100.0/24\n"))
    assert gate.admit("198.51.100.7")[0] == 403
    assert gate.total == 0


def test_exempt_addresses_skip_the_per_address_cap_but_not_bans():
    exempt = AddressSet(["127.0.0.0/8"])
    gate = Admission(parseBans("address 127.0.0.9\n"), perAddress=1, exempt=exempt)
    assert gate.admit("127.0.0.1") is None and gate.admit("127.0.0.1") is None
    assert gate.admit("127.0.0.9")[0] == 403
    assert "127.0.0.1" in exempt and "10.0.0.1" not in exempt and "junk" not in exempt


def test_exempt_answers_stay_right_however_many_addresses_are_asked_about():
    exempt = AddressSet(["10.0.0.0/8"])
    for round in range(2):  # the second round is answered from what was remembered
        for n in range(5000):
            host = f"10.0.{n // 256}.{n % 256}" if n % 2 else f"192.0.{n // 256}.{n % 256}"
            assert (host in exempt) == bool(n % 2), host
    assert len(exempt._within) <= 4096
