"""L{wtvserv.throttle.SlidingWindow}: events per key in a window, bounded."""

from twisted.internet.task import Clock

from wtvserv.throttle import SlidingWindow, minutesText


def test_a_key_is_stopped_after_limit_events_until_the_window_passes():
    clock = Clock()
    window = SlidingWindow(clock, limit=3, window=60)
    for _ in range(3):
        assert not window.exceeded("a")
        window.record("a")
    assert window.exceeded("a") and not window.exceeded("b")
    clock.advance(61)
    assert not window.exceeded("a")


def test_retry_after_counts_down_to_when_the_oldest_event_leaves():
    clock = Clock()
    window = SlidingWindow(clock, limit=2, window=600)
    window.record("a")
    clock.advance(100)
    assert window.retryAfter("a") == 0
    window.record("a")
    assert window.retryAfter("a") == 500
    clock.advance(499)
    assert window.retryAfter("a") == 1
    clock.advance(2)
    assert window.retryAfter("a") == 0 and not window.exceeded("a")


def test_clear_forgives_and_memory_stays_bounded():
    clock = Clock()
    window = SlidingWindow(clock, limit=2, window=60, capacity=100)
    window.record("a")
    window.record("a")
    window.clear("a")
    assert not window.exceeded("a")
    for n in range(10_000):
        window.record(str(n))
    assert len(window._events) == 100


def test_waiting_time_reads_in_whole_minutes():
    assert minutesText(1) == "1 minute"
    assert minutesText(60) == "1 minute"
    assert minutesText(61) == "2 minutes"
    assert minutesText(600) == "10 minutes"
