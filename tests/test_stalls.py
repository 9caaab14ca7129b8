"""L{StallWatch}: how late its timer runs is how long the reactor was held up."""

from twisted.internet.task import Clock

from wtvserv.stalls import StallWatch


def test_the_longest_delay_is_kept_and_reported_on_stop():
    clock = Clock()
    watch = StallWatch(clock, interval=0.02, warnAfter=0.25)
    watch.start()
    clock.advance(0.02)
    clock.advance(0.02)
    assert watch.longest == 0.0
    clock.advance(0.5)                 # the reactor was busy for 0.48 s past the due time
    assert abs(watch.longest - 0.48) < 1e-9
    clock.advance(0.02)
    assert abs(watch.longest - 0.48) < 1e-9
    watch.stop()
    assert not clock.getDelayedCalls()
