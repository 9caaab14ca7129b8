"""
C{tap.makeService}: one listener and one factory per service, all sharing
the parent's ticket authority and session-key registry.
"""

from twisted.internet.testing import MemoryReactorClock
from zope.interface.verify import verifyObject

from wtvserv import __version__, tap
from wtvserv.interfaces import (
    IServiceContext,
    ISessionKeyRegistry,
    ITicketAuthority,
    IWTVService,
)


def test_each_service_listens_where_it_was_told_and_shares_the_parts(tmp_path):
    reactor, options = MemoryReactorClock(), tap.Options()
    options.parseOptions(["--data", str(tmp_path / "data"),
                          "--listen", "wtv-log=tcp:11609:interface=127.0.0.1",
                          "--console", "tcp:11680:interface=127.0.0.1"])
    server = tap.makeService(options, reactor=reactor)
    server.privilegedStartService()
    server.startService()
    try:
        listeners = {getattr(factory, "serviceName", "console"): (port, interface)
                     for port, factory, _backlog, interface in reactor.tcpServers}
        assert listeners["wtv-log"] == (11609, "127.0.0.1")
        assert listeners["wtv-1800"] == (1615, "127.0.0.1")
        assert listeners["console"] == (11680, "127.0.0.1")
        assert set(listeners) == {"wtv-1800", "wtv-head-waiter", "wtv-register", "wtv-log",
                                  "wtv-home", "wtv-star", "console"}
        factories = [factory for _, factory, _, _ in reactor.tcpServers
                     if hasattr(factory, "serviceName")]
        assert len({id(f) for f in factories}) == len(factories)
        assert {id(f.tickets) for f in factories} == {id(server.tickets)}
        assert {id(f.sessions) for f in factories} == {id(server.sessions)}
        verifyObject(ITicketAuthority, server.tickets)
        verifyObject(ISessionKeyRegistry, server.sessions)
        verifyObject(IServiceContext, server.context)
        for factory in factories:
            verifyObject(IWTVService, factory.service)
    finally:
        server.stopService()


def test_the_advertised_port_follows_the_listen_option(tmp_path):
    options = tap.Options()
    options.parseOptions(["--data", str(tmp_path / "d"), "--host", "192.0.2.1",
                          "--listen", "wtv-home=tcp:port=11612:interface=0.0.0.0"])
    server = tap.makeService(options, reactor=MemoryReactorClock())
    try:
        assert server.directory.get("wtv-home").header() == "name=wtv-home host=192.0.2.1 port=11612"
    finally:
        server.stopService()


def test_the_start_line_waits_for_the_reactor_to_run(tmp_path, events):
    """
    twistd starts the services before it runs the reactor and installs its
    signal handlers; a SIGTERM sent on the start line before that killed
    the daemon and left its pid file.
    """
    reactor, options = MemoryReactorClock(), tap.Options()
    options.parseOptions(["--data", str(tmp_path / "data"),
                          "--console", "tcp:11680:interface=127.0.0.1"])
    server = tap.makeService(options, reactor=reactor)
    server.privilegedStartService()
    server.startService()
    try:
        def startLines():
            return [event for event in events
                    if str(event.get("line", "")).startswith(f"wtvserv {__version__} serving")]
        assert startLines() == []
        reactor.run()
        assert len(startLines()) == 1
    finally:
        server.stopService()
