"""The ports the test servers are given."""

from tests.realserver import RealServer, freePorts


def test_servers_made_before_either_starts_get_ports_of_their_own(tmp_path):
    """
    Two servers made one after the other, before either binds anything
    (as loadgen's several processes are), never share a port.
    """
    for round in range(50):
        first = RealServer(tmp_path / f"a{round}")
        second = RealServer(tmp_path / f"b{round}")
        mine = [*first.ports.values(), first.consolePort]
        theirs = [*second.ports.values(), second.consolePort]
        assert not set(mine) & set(theirs)


def test_ports_handed_out_lately_are_not_handed_out_again():
    assert not set(freePorts(200)) & set(freePorts(200))


def test_each_xdist_worker_hands_out_ports_of_its_own():
    """Workers remember only their own ports, so their shares must not overlap."""
    from tests.realserver import _ALL_TEST_PORTS, _workersPorts
    shares = [set(_workersPorts(_ALL_TEST_PORTS, {"PYTEST_XDIST_WORKER": f"gw{n}",
                                                  "PYTEST_XDIST_WORKER_COUNT": "3"}))
              for n in range(3)]
    assert all(len(share) == len(_ALL_TEST_PORTS) // 3 for share in shares)
    assert not (shares[0] & shares[1]) | (shares[1] & shares[2]) | (shares[0] & shares[2])
    assert _workersPorts(_ALL_TEST_PORTS, {}) == _ALL_TEST_PORTS
