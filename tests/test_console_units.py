"""
The console's parts on their own: sessions, the one-time link, the
recent log, the chart and the activity it draws.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel, LogPublisher
from twisted.python.failure import Failure

from wtvserv.activity import LATEST, LOGIN, SIGNUP, Activity
from wtvserv.console.access import OneTimeLink, Sessions, passwordMatches, sameSecret
from wtvserv.console.chart import activityChart
from wtvserv.console.recent import ERRORS, LINES, RecentLog
from wtvserv.console.service import consoleURL, servesConsole
from wtvserv.config import Config


def test_a_session_lives_while_used_and_expires_unused():
    clock = Clock()
    sessions = Sessions(clock, lifetime=60)
    session = sessions.open("127.0.0.1")
    assert session.id != session.csrf and len(session.id) >= 40
    clock.advance(50)
    assert sessions.find(session.id) is session, "use renews it"
    clock.advance(50)
    assert sessions.find(session.id) is session
    clock.advance(60)
    assert sessions.find(session.id) is None and len(sessions) == 0
    assert sessions.find(None) is None and sessions.find("") is None


def test_sessions_are_bounded_and_close():
    clock = Clock()
    sessions = Sessions(clock, lifetime=60, capacity=3)
    opened = [sessions.open("192.0.2.1") for _ in range(5)]
    assert len(sessions) == 3
    assert sessions.find(opened[0].id) is None, "the least recently used went first"
    assert [s.number for s in opened] == [1, 2, 3, 4, 5]
    sessions.close(opened[4].id)
    assert sessions.find(opened[4].id) is None


def test_the_one_time_link_works_once_and_expires():
    clock = Clock()
    link = OneTimeLink(clock, lifetime=100)
    token = link.issue()
    assert not link.use(token[:-1] + "x") and not link.use("")
    assert link.use(token) and not link.use(token)
    token = link.issue()
    clock.advance(100)
    assert not link.use(token)
    token = link.issue()
    link.revoke()
    assert not link.use(token)


def test_secrets_compare_only_when_both_are_there():
    assert sameSecret("abc", "abc")
    assert not sameSecret("abc", "abd")
    assert not sameSecret(None, None) and not sameSecret("", "") and not sameSecret("a", None)


def test_the_console_password_is_a_hash_and_a_bad_file_matches_nothing(tmp_path):
    from wtvserv.passwords import hash_password
    assert not passwordMatches(tmp_path, "anything"), "none set"
    (tmp_path / "console-password").write_text(hash_password("right one") + "\n")
    assert passwordMatches(tmp_path, "right one")
    assert not passwordMatches(tmp_path, "wrong one")
    (tmp_path / "console-password").write_bytes(b"\xff\xfe garbage")
    assert not passwordMatches(tmp_path, "right one")


def test_the_recent_log_masks_serial_numbers_and_keeps_errors_apart():
    recent, publisher = RecentLog(), LogPublisher()
    publisher.addObserver(recent)
    log = Logger(observer=publisher)
    log.warn("box {ssid} misbehaved", ssid="8112345600B0026b")
    for number in range(LINES + 10):
        log.info("line {n}", n=number)
    try:
        1 / 0
    except ZeroDivisionError:
        log.failure("it broke", Failure())
    assert len(recent.lines) == LINES
    errors = recent.newestFirst(recent.errors, 10)
    assert [line.level for line in errors] == ["critical", "warn"]
    assert errors[0].text == "it broke: ZeroDivisionError: division by zero"
    assert errors[1].text == "box 8112********026b misbehaved"
    shown = recent.newestFirst(recent.lines, LINES)
    assert shown[0].text == "it broke: ZeroDivisionError: division by zero"
    assert shown[-1].text == "line 11", "the oldest of the last LINES lines"
    assert "Traceback" not in "".join(line.text for line in shown)
    for _ in range(ERRORS + 5):
        log.error("again")
    assert len(recent.errors) == ERRORS
    assert LogLevel.error.name == recent.errors[-1].level


def test_activity_counts_per_minute_over_hours_and_remembers_the_latest_boxes():
    clock = Clock()
    activity = Activity(clock, window=3 * 3600)
    activity.record(LOGIN, "8112345600B0026b", "192.0.2.1")
    clock.advance(2 * 3600)
    activity.record(SIGNUP, "8112345600B0027b", "192.0.2.2")
    activity.record(LOGIN, "8112345600B0026b", "192.0.2.3")
    logins = activity.perStep(LOGIN)
    assert len(logins) == 180 and logins[-1] == 1 and logins[-121] == 1 and sum(logins) == 2
    assert activity.count(LOGIN) == 1 and activity.count(LOGIN, within=3 * 3600) == 2
    assert [(a.ssid, a.kind, a.address) for a in activity.latest()] == [
        ("8112345600B0026b", LOGIN, "192.0.2.3"), ("8112345600B0027b", SIGNUP, "192.0.2.2")]
    for number in range(LATEST + 20):
        activity.record(LOGIN, f"box{number}", "192.0.2.9")
    assert len(activity.latest()) == LATEST
    clock.advance(3 * 3600)
    assert sum(activity.perStep(LOGIN)) == 0


def test_the_chart_scales_to_the_busiest_minute():
    logins, signups = [0] * 180, [0] * 180
    logins[-1], signups[-1], logins[0] = 6, 2, 4
    chart = activityChart(logins, signups)
    assert chart.peak == 8 and (chart.logins, chart.signups) == (10, 2)
    assert [bar.kind for bar in chart.bars] == ["login", "login", "signup"]
    now = [bar for bar in chart.bars if "this minute" in bar.title]
    assert sum(bar.height for bar in now) == pytest.approx(chart.bottom - chart.top, abs=0.2)
    assert [label for _, label in chart.ticks] == ["-3 h", "-2 h", "-1 h", "now"]
    assert activityChart([0] * 180, [0] * 180).bars == []


def test_which_process_serves_the_console_and_where_a_browser_finds_it():
    config = Config()
    assert servesConsole(config, None) and servesConsole(config, {"console", "wtv-log"})
    assert not servesConsole(config, {"wtv-log"})
    config.consoleListen = ""
    assert not servesConsole(config, None)
    assert consoleURL("tcp:1680:interface=127.0.0.1") == "http://127.0.0.1:1680"
    assert consoleURL("tcp:1680") == "http://127.0.0.1:1680"
    assert consoleURL(r"tcp6:1680:interface=\:\:1") == "http://[::1]:1680"
