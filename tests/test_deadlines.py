"""
Timers of one fixed delay on one reactor call (L{wtvserv.deadlines}):
each runs when its own C{callLater} would, in order, and nothing of a
cancelled one is left waiting.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from wtvserv.deadlines import SLACK, FixedDelay


def pending(clock: Clock) -> list[float]:
    return [call.getTime() for call in clock.getDelayedCalls() if call.active()]


def test_each_runs_at_its_time_in_order_on_one_reactor_call():
    clock = Clock()
    timers = FixedDelay(clock, 10)
    ran = []
    for name in "abc":
        timers.callLater(lambda name=name: ran.append((name, clock.seconds())))
        clock.advance(1)
    assert pending(clock) == [10], "one call, for the first"
    clock.advance(6.5)
    assert ran == []
    clock.advance(0.5)
    assert ran == [("a", 10)]
    clock.advance(1)
    assert ran == [("a", 10), ("b", 11)]
    clock.advance(5)
    assert ran == [("a", 10), ("b", 11), ("c", 16)], "a late turn runs what is due by then"
    assert pending(clock) == []


def test_a_cancelled_one_never_runs_and_the_last_cancelled_leaves_no_call():
    clock = Clock()
    timers = FixedDelay(clock, 10)
    ran = []
    first = timers.callLater(lambda: ran.append("first"))
    clock.advance(1)
    second = timers.callLater(lambda: ran.append("second"))
    first.cancel()
    assert not first.active() and second.active()
    clock.advance(9)
    assert ran == [] and pending(clock) == [11]
    second.cancel()
    second.cancel()
    assert pending(clock) == []
    clock.advance(100)
    assert ran == []


def test_one_set_while_others_run_waits_its_own_delay():
    clock = Clock()
    timers = FixedDelay(clock, 10)
    ran = []
    timers.callLater(lambda: timers.callLater(lambda: ran.append(clock.seconds())))
    clock.advance(1)
    timers.callLater(lambda: ran.append(clock.seconds()))
    clock.advance(9)
    assert pending(clock) == [11]
    clock.advance(1)
    assert ran == [11]
    clock.advance(9)
    assert ran == [11, 20]


def test_a_clock_set_back_gets_its_own_call():
    clock = Clock()
    clock.advance(100)
    timers = FixedDelay(clock, 10)
    ran = []
    timers.callLater(lambda: ran.append("before"))
    clock.rightNow = 50                       # set back
    timers.callLater(lambda: ran.append("after"))
    assert sorted(pending(clock)) == [60, 110]
    clock.advance(10)
    assert ran == ["after"]


def test_a_failing_one_is_logged_and_the_others_still_run(events):
    clock = Clock()
    timers = FixedDelay(clock, 10)
    ran = []
    timers.callLater(lambda: 1 / 0)
    timers.callLater(lambda: ran.append("next"))
    clock.advance(10)
    assert ran == ["next"]
    assert [event["log_failure"].type for event in events if "log_failure" in event] == [
        ZeroDivisionError]


def test_cancelled_ones_do_not_pile_up():
    clock = Clock()
    timers = FixedDelay(clock, 10)
    keep = timers.callLater(lambda: None)
    for _ in range(10 * SLACK):
        timers.callLater(lambda: None).cancel()
    assert len(timers._waiting) <= 2 + SLACK
    assert keep.active()
