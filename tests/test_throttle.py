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


def test_a_refund_takes_back_a_reserved_event():
    clock = Clock()
    window = SlidingWindow(clock, limit=2, window=60)
    window.record("a")
    window.record("a")
    assert window.exceeded("a")
    window.refund("a")
    assert not window.exceeded("a") and window.record("a") == 2
    window.refund("b")
    assert not window.exceeded("b")


def test_a_flood_of_new_keys_never_erases_a_lockout():
    """Issue 12, item 12: 10,400 fresh keys pushed a victim's lockout out of 10,000."""
    clock = Clock()
    window = SlidingWindow(clock, limit=5, window=600, capacity=10_000)
    for _ in range(5):
        window.record("victim")
    for n in range(10_400):
        window.record(f"fresh{n}")
        clock.advance(0.001)
    assert window.exceeded("victim")
    assert len(window) == 10_000
    clock.advance(600)
    assert not window.exceeded("victim")


def test_a_table_full_of_lockouts_refuses_new_keys_until_one_frees_up():
    clock = Clock()
    window = SlidingWindow(clock, limit=2, window=60, capacity=3)
    for key in "abc":
        window.record(key)
        window.record(key)
        clock.advance(10)
    assert window.exceeded("new") and window.record("new") == 2
    assert all(window.exceeded(key) for key in "abc"), "no lockout was forgotten"
    clock.advance(31)               # a's window has passed
    assert not window.exceeded("new")
    assert window.record("new") == 1 and window.exceeded("b")


def test_a_clock_set_back_holds_a_key_to_its_limit_longer_never_less():
    clock = Clock()
    clock.advance(100)
    window = SlidingWindow(clock, limit=3, window=60)
    window.record("a")
    clock.rightNow = 40.0
    window.record("a")
    window.record("a")
    assert window.exceeded("a")
    clock.rightNow = 150.0      # the first event is still in the window, so all three count
    assert window.exceeded("a") and window.count("a") == 3
    clock.rightNow = 161.0
    assert window.count("a") == 0 and not window.exceeded("a")


def test_a_wide_limit_keeps_only_the_events_in_the_window():
    clock = Clock()
    window = SlidingWindow(clock, limit=10_000, window=600)
    for _ in range(12_000):
        window.record("all")
        clock.advance(0.1)
    assert window.count("all") == 6_000      # the last 600 s of 1,200
    assert not window.exceeded("all")
