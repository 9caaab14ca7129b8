"""
C{wtvserv status} and the control socket it asks (L{wtvserv.control}): the
protocol and its limits on a StringTransport, then against the real twistd.
"""

import asyncio
import json
import stat

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from tests.realserver import RealServer
from tests.test_cli import runCommand
from wtvserv.activity import LOGIN, SIGNUP, Activity
from wtvserv.box import Box, make_profile, make_ssid
from wtvserv.control import MAX_CONNECTIONS, ControlFactory


def test_activity_counts_the_last_hour_in_bounded_memory():
    clock = Clock()
    activity = Activity(clock)
    for _ in range(1000):
        activity.record(LOGIN)
    clock.advance(1800)
    activity.record(LOGIN)
    activity.record(SIGNUP)
    assert (activity.count(LOGIN), activity.count(SIGNUP)) == (1001, 1)
    assert len(activity._counts[LOGIN]) == 2, "one bucket per minute, not per event"
    clock.advance(1801)
    assert (activity.count(LOGIN), activity.count(SIGNUP)) == (1, 1)
    clock.advance(3600)
    assert activity.count(LOGIN) == 0


def connect(factory):
    protocol = factory.buildProtocol(None)
    protocol.callLater = factory.clock.callLater
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


@pytest.fixture
def factory():
    factory = ControlFactory({"status": lambda: {"ok": True}})
    factory.clock = Clock()
    return factory


def answer(transport) -> dict:
    assert transport.disconnecting
    return json.loads(transport.value())


def test_one_command_one_answer_then_the_server_hangs_up(factory):
    protocol, transport = connect(factory)
    protocol.dataReceived(b"status\n")
    assert answer(transport) == {"ok": True}


def test_an_unknown_command_and_a_long_line_get_an_error(factory, events):
    protocol, transport = connect(factory)
    protocol.dataReceived(b"shutdown\n")
    assert "unknown command" in answer(transport)["error"]
    protocol, transport = connect(factory)
    protocol.dataReceived(b"x" * 100)
    assert answer(transport) == {"error": "line too long"}
    assert sum("control socket" in e.get("log_format", "") for e in events) == 2


def test_a_client_that_says_nothing_is_cut_off(factory):
    protocol, transport = connect(factory)
    factory.clock.advance(5)
    assert transport.disconnected or transport.disconnecting


def test_clients_over_the_limit_are_told_it_is_busy(factory):
    held = [connect(factory) for _ in range(MAX_CONNECTIONS)]
    refused, transport = connect(factory)
    assert answer(transport) == {"error": "busy"}
    refused.connectionLost()
    held[0][0].connectionLost()
    _, transport = connect(factory)
    assert not transport.disconnecting


def test_status_without_a_running_server_says_so(tmp_path):
    result = runCommand("status", "--data", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (f"wtvserv: no server is running with the data directory "
                             f"{tmp_path} (it has no control socket)\n")


def test_status_of_the_real_twistd_shows_boxes_logins_and_switches(tmp_path):
    server = RealServer(tmp_path / "data").start()
    try:
        control = server.dataDir / "control.sock"
        assert stat.S_ISSOCK(control.stat().st_mode)
        assert stat.S_IMODE(control.stat().st_mode) == 0o600
        assert stat.S_IMODE(server.dataDir.stat().st_mode) == 0o700

        async def scenario():
            box = Box("127.0.0.1", server.ports["wtv-1800"],
                      make_profile("plus", ssid=make_ssid(70), username="statusbox"),
                      log=lambda line: None)
            async with box:
                await box.power_on()
                return await asyncio.to_thread(runCommand, "status", "--data",
                                               str(server.dataDir))
        shown = asyncio.run(scenario())
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith("wtvserv 0.") and " up 0 h 00 min" in lines[0]
        assert "  wtv-home                1 boxes       1 connections" in lines
        assert "  logged in now           1 boxes" in lines
        assert "  last hour               1 logins       1 sign-ups" in lines
        assert "  maintenance        off" in lines and "  registration       open" in lines
        runCommand("switch", "--data", str(server.dataDir), "maintenance", "on")
        asJSON = runCommand("status", "--data", str(server.dataDir), "--json")
        [status] = json.loads(asJSON.stdout)
        assert status["pid"] == server.process.pid
        assert status["loggedIn"] == 0 and status["services"]["wtv-home"]["connections"] == 0
    finally:
        server.stop()
    assert not control.exists(), "the socket goes with the server"


def test_status_reports_a_socket_left_by_a_killed_server(tmp_path):
    server = RealServer(tmp_path / "data").start()
    server.kill()
    result = runCommand("status", "--data", str(server.dataDir))
    assert result.returncode == 1
    assert "no server is running at" in result.stderr and "Traceback" not in result.stderr
    with RealServer(server.dataDir, ports=server.ports) as again:
        assert runCommand("status", "--data", str(again.dataDir)).returncode == 0

