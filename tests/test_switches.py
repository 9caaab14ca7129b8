"""
The operator's switches (L{wtvserv.switches}) and C{wtvserv switch}: the
file, how the running server re-reads it, and what boxes then get.
"""

import os

import pytest
from twisted.internet.task import Clock

from tests.harness import SSID, TestBox, inProcessServer
from wtvserv.cli.main import main
from wtvserv.switches import DEFAULT_MESSAGE, SwitchBoard, Switches, parseSwitches


def test_the_file_sets_each_switch_and_bad_lines_are_skipped(events):
    switches = parseSwitches("# comment\nmaintenance on\nmessage  Back   at six.\n"
                             "registration closed\nregistration maybe\nvolume 11\n")
    assert switches == Switches(maintenance=True, message="Back at six.",
                                registrationOpen=False)
    skipped = [e for e in events if "skipped" in e.get("log_format", "")]
    assert len(skipped) == 2
    assert parseSwitches("") == Switches()


def test_the_switches_are_reread_when_the_file_changes(tmp_path):
    path, clock = tmp_path / "switches.txt", Clock()
    board = SwitchBoard(path, clock, checkInterval=2)
    assert board.current() == Switches()
    path.write_text("maintenance on\n")
    assert not board.current().maintenance, "not looked at again within the interval"
    clock.advance(2)
    assert board.current().maintenance
    path.write_text("maintenance off\nregistration closed\n")
    os.utime(path, ns=(1, 1))
    clock.advance(2)
    assert not board.current().maintenance and not board.current().registrationOpen
    path.unlink()
    clock.advance(2)
    assert board.current() == Switches(), "without the file, the defaults"


def test_the_command_writes_what_the_server_reads(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    assert main(["switch", "--data", str(data), "maintenance", "on", "--message",
                 "Back\tat six."]) == 0
    assert main(["switch", "--data", str(data), "registration", "closed"]) == 0
    board = SwitchBoard(data / "switches.txt", Clock())
    assert board.current() == Switches(True, "Back at six.", False)
    assert main(["switch", "--data", str(data), "maintenance", "off"]) == 0
    assert main(["--data", str(data), "switch", "show"]) == 0
    shown = capsys.readouterr().out.splitlines()[-2:]
    assert shown == ["maintenance   off", "registration  closed"]


def test_a_message_that_cannot_be_shown_is_refused(tmp_path, capsys):
    assert main(["switch", "--data", str(tmp_path), "maintenance", "on",
                 "--message", "x" * 201]) == 1
    assert "maintenance message is 1 to 200" in capsys.readouterr().err
    assert not (tmp_path / "switches.txt").exists()


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        yield server


def switch(server, *args):
    assert main(["switch", "--data", str(server.config.dataDir), *args]) == 0
    server.reactor.advance(2)


def test_maintenance_closes_every_service_but_wtv_log_for_new_and_logged_in_boxes(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    box = TestBox(server)
    box.login()
    assert box.request("wtv-home:/home", secure=True).status == 200
    switch(server, "maintenance", "on", "--message", "Back at six.")
    home = box.request("wtv-home:/home", secure=True)
    assert (home.status, home.reason) == (503, "Back at six.")
    arriving = TestBox(server, "8112345700B002e4")
    refused = arriving.request("wtv-1800:/preregister")
    assert (refused.status, refused.reason) == (503, "Back at six.")
    assert box.request("wtv-log:/log?type=test", body=b"still here").status == 200
    switch(server, "maintenance", "off")
    assert box.request("wtv-home:/home", secure=True).status == 200


def test_closed_registration_refuses_sign_ups(server):
    switch(server, "registration", "closed")
    box = TestBox(server)
    assert box.login().get("wtv-visit") == "wtv-register:/splash?"
    splash = box.request("wtv-register:/splash?", secure=True)
    assert (splash.status, splash.reason) == (503, "Sign-ups are closed for now. "
                                                   "Please try again later.")
    done = box.request("wtv-register:/ValidateRegistration", secure=True,
                       body=b"subscriber_name=Ann&subscriber_username=annbox&agreement=yes")
    assert done.status == 503 and server.accounts.accountFor(SSID) is None
    switch(server, "registration", "open")
    done = box.request("wtv-register:/ValidateRegistration", secure=True,
                       body=b"subscriber_name=Ann&subscriber_username=annbox&agreement=yes")
    assert done.status == 200 and server.accounts.accountFor(SSID) is not None


def test_the_default_message_is_restored_when_maintenance_is_switched_on_again(tmp_path):
    assert main(["switch", "--data", str(tmp_path), "maintenance", "on", "--message", "A"]) == 0
    assert main(["switch", "--data", str(tmp_path), "maintenance", "on"]) == 0
    assert SwitchBoard(tmp_path / "switches.txt", Clock()).current().message == DEFAULT_MESSAGE
