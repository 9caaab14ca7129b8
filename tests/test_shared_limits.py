"""
What issue 15 left to share between the hosts of one PostgreSQL database,
shown with two in-process servers standing for two hosts: the rate windows
per address (counted at once on each host, exchanged in batches), the
login challenge (answered on another host than the one that sent it, and
once only) and the switches.
"""

from __future__ import annotations

from base64 import b64decode, b64encode

import psycopg

from tests.harness import SSID, TestBox, countingRandom, inProcessServer
from wtvserv.box import make_ssid
from wtvserv.cli.main import main
from wtvserv.switches import SWITCHES_SETTING, Switches

ADDRESS = "198.51.100.7"
TOO_MANY = "Too many logins from your connection."


def twoHosts(tmp_path, postgresURL, **settings):
    return (inProcessServer(tmp_path / "first", storageURL=postgresURL, **settings),
            inProcessServer(tmp_path / "second", storageURL=postgresURL,
                            random=countingRandom(10**6), **settings))


def login(server, ssid: str = SSID):
    box = TestBox(server, ssid, address=ADDRESS)
    box.request("wtv-1800:/preregister?scriptless-visit-reason=10&0")
    return box, box.request("wtv-head-waiter:/login?")


def refusedLogins(server, count: int) -> int:
    """Ask for C{count} challenges from one address (as many boxes); @return: how many were refused."""
    refused = 0
    for n in range(count):
        box, answer = login(server, make_ssid(0x1000 + n))
        refused += answer.reason.startswith(TOO_MANY)
        for connection in box._connections.values():
            connection.hangUp()
    return refused


def test_a_host_counts_a_thousand_logins_at_once_without_the_database(tmp_path, postgresURL):
    """The local count holds at once: no exchange ran, yet only the limit got through."""
    with inProcessServer(tmp_path / "data", storageURL=postgresURL, loginsPerAddress=5,
                         preregistersPerAddress=10_000) as server:
        assert refusedLogins(server, 1000) == 995
        assert server.stores.shared.exchangeCounts("someone else", [], 0, 10) == []


def test_a_rate_limit_holds_across_hosts_once_they_exchanged(tmp_path, postgresURL):
    first, second = twoHosts(tmp_path, postgresURL, loginsPerAddress=5,
                             preregistersPerAddress=100)
    with first as first, second as second:
        assert refusedLogins(first, 3) == 0
        first.windows.exchange()               # what the hosts do every second
        second.windows.exchange()
        assert refusedLogins(second, 3) == 1   # 3 here + 2 there = the limit of 5
        second.windows.exchange()
        first.windows.exchange()
        assert refusedLogins(first, 1) == 1
        # Exempt addresses are counted by no host.
        assert ("logins", "127.0.0.1") not in first.windows._others


def test_counts_end_with_their_window(tmp_path, postgresURL):
    first, second = twoHosts(tmp_path, postgresURL, loginsPerAddress=2, loginWindow=600)
    with first as first, second as second:
        assert refusedLogins(first, 2) == 0
        first.windows.exchange()
        second.windows.exchange()
        refused = login(second, make_ssid(0xfff))[1]
        assert refused.reason.startswith(TOO_MANY) and "minutes" in refused.reason
        for server in (first, second):
            server.reactor.advance(600 + 600 / 20)     # the window and one bucket
        first.windows.exchange()
        second.windows.exchange()
        assert refusedLogins(second, 1) == 0


def test_the_challenge_is_answered_on_another_host_and_only_once(tmp_path, postgresURL):
    first, second = twoHosts(tmp_path, postgresURL)
    with first as first, second as second:
        first.accounts.createAccount(SSID, "Ann", "annpw", None)
        box, challenge = login(first)
        stageTwo, answer = challenge.get("wtv-visit"), box.answer()
        box.server, box._connections = second, {}        # stage two lands on the other host
        answered = box.request(stageTwo, answer)
        assert answered.status == 200 and answered.get("wtv-ticket"), answered.head
        # The same answer again, on either host: a replay, sent to log in again.
        for server in (first, second):
            replay = TestBox(server, SSID, address=ADDRESS)
            replayed = replay.request(stageTwo, answer)
            assert not replayed.get("wtv-ticket"), replayed.head
            assert "wtv-1800:/preregister" in replayed.head, replayed.head


def test_a_changed_answer_is_a_wrong_answer_on_any_host(tmp_path, postgresURL, events):
    first, second = twoHosts(tmp_path, postgresURL)
    with first as first, second as second:
        first.accounts.createAccount(SSID, "Ann", "annpw", None)
        box, challenge = login(first)
        answer = box.answer()
        forged = bytearray(b64decode(answer["wtv-challenge-response"]))
        forged[-1] ^= 1
        answer["wtv-challenge-response"] = b64encode(forged).decode()
        box.server, box._connections = second, {}
        wrong = box.request(challenge.get("wtv-visit"), answer)
        # Counted against the address; without the box's key here, no new
        # challenge: the box is sent to log in again.
        assert not wrong.get("wtv-ticket") and "relogin" in wrong.head, wrong.head
        assert any("wrong challenge response" in e.get("log_format", "") for e in events)


def test_a_switch_set_on_one_host_applies_on_the_other(tmp_path, postgresURL):
    first, second = twoHosts(tmp_path, postgresURL)
    with first as first, second as second:
        second.switches.start()
        first.stores.shared.changeSetting(SWITCHES_SETTING, lambda text: "maintenance on\n")
        assert not second.switches.current().maintenance
        second.reactor.advance(2)
        assert second.switches.current().maintenance
        home = TestBox(second, SSID).request("wtv-home:/home")
        assert home.status == 503, home.head
        second.switches.stop()


def test_counts_an_exchange_could_not_send_go_with_the_next(tmp_path, postgresURL, events):
    first, second = twoHosts(tmp_path, postgresURL, loginsPerAddress=5,
                             preregistersPerAddress=100, storageLockTimeout=1)
    with first as first, second as second:
        assert refusedLogins(first, 3) == 0
        with psycopg.connect(postgresURL) as other:     # the table held by another transaction
            other.execute("LOCK TABLE rate_counts IN ACCESS EXCLUSIVE MODE")
            first.windows.exchange()
        assert any(e.get("what") == "share the rate counts through the database"
                   and "busy" in e.get("error", "") for e in events)
        first.windows.exchange()
        second.windows.exchange()
        assert refusedLogins(second, 3) == 1


def test_the_switch_command_changes_and_shows_the_shared_switches(tmp_path, postgresURL, capsys):
    data, config = tmp_path / "data", tmp_path / "shared.toml"
    data.mkdir()
    config.write_text(f'[storage]\nurl = "{postgresURL}"\n')
    where = ["--config", str(config), "--data", str(data)]
    assert main(["switch", *where, "registration", "closed"]) == 0
    assert main(["switch", *where, "maintenance", "on", "--message", "Back at six."]) == 0
    capsys.readouterr()
    assert main(["switch", *where, "show"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "maintenance   on", "registration  closed", "message       Back at six."]
    assert not (data / "switches.txt").exists(), "the database holds them, not a file"
    with inProcessServer(tmp_path / "host", storageURL=postgresURL) as server:
        assert server.switches.current() == Switches(True, "Back at six.", False)
