"""
twistd's text log through L{wtvserv.textlog}: every event comes out as
twisted.logger's classic text would have it, and C{twistd wtvserv} writes
it where twistd would have, unless the operator chose an observer.
"""

from __future__ import annotations

import sys
import threading

import pytest
from hypothesis import example, given, strategies as st
from twisted.logger import (
    FileLogObserver,
    Logger,
    LogLevel,
    eventAsJSON,
    eventFromJSON,
    formatEventAsClassicLogText,
    formatTime,
)
from twisted.python.failure import Failure
from twisted.python.logfile import LogFile
from twisted.scripts.twistd import ServerOptions

from wtvserv import accesslog, textlog
from wtvserv.accesslog import logResponse

TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)
ACCESS = accesslog.log.namespace


def emitted(call) -> list[dict]:
    """The events C{call} logs through the access log's logger."""
    events: list[dict] = []
    logger = accesslog.log
    accesslog.log = Logger(namespace=logger.namespace, observer=events.append)
    try:
        call()
    finally:
        accesslog.log = logger
    return events


@given(when=TIMES)
@example(when=1.9999995231628418)          # rounds up to the next second
@example(when=1764633600.9999994)
def test_the_timestamp_is_twisteds(when):
    assert textlog.timestamp(when) == formatTime(when)


@given(url=st.text(), reason=st.text(), status=st.integers(100, 599), when=TIMES)
def test_an_access_line_is_rendered_as_twisted_renders_it(url, reason, status, when):
    events = emitted(lambda: logResponse("wtv-1800", "127.0.0.1", "8100****0001", "GET",
                                         url, status, 0.0123, 42, reason))
    (event,) = events
    event["log_time"] = when
    assert textlog.formatEvent(event) == formatEventAsClassicLogText(
        event, formatTime=formatTime)


def classic(event: dict) -> str | None:
    return formatEventAsClassicLogText(event, formatTime=formatTime)


def test_other_events_are_rendered_as_twisted_renders_them():
    try:
        1 // 0
    except ZeroDivisionError:
        failure = Failure()
    events = [
        {"log_format": "{a} and {b!r}, {c:>5} {d[0]} {e.real}", "a": 1, "b": "two", "c": "x",
         "d": [7], "e": 3, "log_namespace": "x.y", "log_level": LogLevel.warn,
         "log_time": 1764633600.5},
        {"log_format": "{f()} called", "f": lambda: "it was", "log_level": LogLevel.info},
        {"log_format": "{missing} and {0} and {}", "log_level": LogLevel.info},
        {"log_format": "{a:{width}}|", "a": "x", "width": 4, "log_level": LogLevel.info},
        {"log_format": "line\nand more", "log_system": "-", "log_time": 12.0},
        {"log_format": "{line}", "line": "access\nwith a newline",
         "log_namespace": ACCESS, "log_level": LogLevel.info, "log_time": 3.0},
        {"log_format": "{line}", "line": "", "log_namespace": ACCESS,
         "log_level": LogLevel.info, "log_time": 3.0},
        {"log_format": "failed: {why}", "why": "boom", "log_failure": failure,
         "log_namespace": ACCESS, "log_level": LogLevel.error, "log_time": 3.0},
        {"log_format": b"bytes {a}", "a": 1, "log_level": LogLevel.info},
        {"log_format": "no level or time"},
        {"log_format": "odd namespace", "log_namespace": None, "log_level": LogLevel.info},
        {},
    ]
    flattened = eventFromJSON(eventAsJSON(events[0]))
    for event in [*events, flattened]:
        assert textlog.formatEvent(event) == classic(event), event


FIELD = st.sampled_from(["a", "b", "n", "missing", "a!r", "n:>6", "n:x", "a!s:^9", "l[1]",
                         "n.real", "0", "", "a()", "n:{w}", "a:%"])


@given(parts=st.lists(st.one_of(st.text(max_size=6), FIELD.map(lambda f: "{" + f + "}")),
                      max_size=6),
       level=st.sampled_from(list(LogLevel.iterconstants())), when=TIMES)
def test_any_format_is_rendered_as_twisted_renders_it(parts, level, when):
    event = {"log_format": "".join(parts), "a": "v\nw", "b": b"\xff", "n": 42, "l": [1, 2],
             "w": 3, "log_namespace": "some.where", "log_level": level, "log_time": when}
    assert textlog.formatEvent(event) == classic(event)


def twistdOptions(tmp_path, *twistdArgs: str) -> ServerOptions:
    options = ServerOptions()
    options.parseOptions([*twistdArgs, "wtvserv", "--data", str(tmp_path / "data")])
    return options


def test_twistd_in_the_foreground_logs_to_standard_output(tmp_path):
    options = twistdOptions(tmp_path, "-n")
    observer = options["logger"]()
    assert isinstance(observer, FileLogObserver) and observer._outFile is sys.stdout
    assert observer.formatEvent is textlog.formatEvent


def test_twistd_logs_to_its_logfile_in_the_same_lines(tmp_path):
    path = tmp_path / "twistd.log"
    options = twistdOptions(tmp_path, "--logfile", str(path))
    observer = options["logger"]()
    events = emitted(lambda: logResponse("wtv-home", "10.0.0.2", "-", "GET",
                                         "wtv-home:/home", 200, 0.001, 10))
    observer(events[0])
    observer._outFile.close()
    assert path.read_text() == formatEventAsClassicLogText(events[0])


def test_an_observer_the_operator_chose_is_left_alone(tmp_path):
    chosen = twistdOptions(tmp_path, "-n", "--logger", "twisted.logger.jsonFileLogObserver")
    assert chosen["logger"].__name__ == "jsonFileLogObserver"
    assert twistdOptions(tmp_path, "--syslog")["logger"] is None


def writeThrough(logFile, lines: list[bytes]) -> None:
    for line in lines:
        logFile.write(line)
        logFile.flush()
    logFile.close()


@pytest.mark.parametrize("unlocked", [textlog._writeUnlocked, None],
                         ids=["Twisted's write, unwrapped", "Twisted's write, locked twice"])
def test_twistds_logfile_writes_and_rotates_as_twisteds(tmp_path, monkeypatch, unlocked):
    """
    The log file twistd gets writes the lines L{LogFile} writes and rotates
    where it rotates, whether its write is reached unwrapped or, if that
    cannot be found, through Twisted's lock.
    """
    monkeypatch.setattr(textlog, "_writeUnlocked", unlocked)
    lines = [b"line %d of the log\n" % number for number in range(40)]
    for name, kind in (("ours", textlog._LogFile), ("twisteds", LogFile)):
        (tmp_path / name).mkdir()
        writeThrough(kind("twistd.log", str(tmp_path / name), rotateLength=100), lines)
    ours, theirs = (sorted(path.name for path in (tmp_path / name).iterdir())
                    for name in ("ours", "twisteds"))
    assert ours == theirs and len(ours) > 2
    for name in ours:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "twisteds" / name).read_bytes()


def test_twistds_logfile_rotates_between_writes(tmp_path):
    """A rotation (C{SIGUSR1}'s, on the reactor thread) waits for a write under way elsewhere."""
    logFile = textlog._LogFile("twistd.log", str(tmp_path), rotateLength=None)
    rotated = threading.Event()
    rotator = threading.Thread(target=lambda: (logFile.rotate(), rotated.set()))
    with logFile._writing:
        rotator.start()
        assert not rotated.wait(0.2)
    assert rotated.wait(10)
    rotator.join()
    logFile.write(b"after\n")
    logFile.close()
    assert (tmp_path / "twistd.log").read_bytes() == b"after\n"


def test_twistd_gets_the_cheaper_logfile(tmp_path):
    options = twistdOptions(tmp_path, "--logfile", str(tmp_path / "twistd.log"))
    observer = options["logger"]()
    assert type(observer._outFile) is textlog._LogFile
    observer._outFile.close()
