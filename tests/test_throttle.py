"""L{wtvserv.throttle.FailureThrottle}: failures per key in a window, bounded."""

from twisted.internet.task import Clock

from wtvserv.throttle import FailureThrottle


def test_a_key_is_blocked_after_limit_failures_until_the_window_passes():
    clock = Clock()
    throttle = FailureThrottle(clock, limit=3, window=60)
    for _ in range(3):
        assert not throttle.blocked("a")
        throttle.fail("a")
    assert throttle.blocked("a") and not throttle.blocked("b")
    clock.advance(61)
    assert not throttle.blocked("a")


def test_clear_forgives_and_memory_stays_bounded():
    clock = Clock()
    throttle = FailureThrottle(clock, limit=2, window=60, capacity=100)
    throttle.fail("a")
    throttle.fail("a")
    throttle.clear("a")
    assert not throttle.blocked("a")
    for n in range(10_000):
        throttle.fail(str(n))
    assert len(throttle._failures) == 100
