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
