"""
What a rate limit costs per event when its window is nearly full (not a
test): L{wtvserv.throttle.SlidingWindow}'s check and record, as wtv-log does
for each report and wtv-register for each sign-up, at the defaults' limits
(sign-ups: 100 per hour in all; reports: 10,000 per 10 minutes in all).

Run from the repository root::

    python bench/bench_window.py
    python bench/bench_window.py --against ../before     # and the ratio to another checkout

C{--against} loads that checkout's C{wtvserv/throttle.py} beside this one's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from twisted.internet.task import Clock

HERE = Path(__file__).resolve().parent.parent
#: (what, limit, window seconds): the default limits that count every event.
LIMITS = (("sign-ups in all", 100, 3600.0), ("log reports in all", 10_000, 600.0))


def slidingWindow(checkout: Path, number: int):
    """The C{SlidingWindow} class of C{checkout}'s throttle module, loaded as module C{number}."""
    path = checkout / "wtvserv" / "throttle.py"
    spec = importlib.util.spec_from_file_location(f"throttle_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SlidingWindow


def microsecondsPerEvent(windowClass, limit: int, seconds: float, events: int) -> float:
    """Check and record one key's events, the window kept 90-100 % full."""
    clock = Clock()
    window = windowClass(clock, limit=limit, window=seconds)
    step = seconds / limit * 1.05          # a little below the limit's rate
    for _ in range(int(limit * 0.9)):
        window.record("all")
        clock.advance(step)
    started = time.perf_counter()
    for _ in range(events):
        if not window.exceeded("all"):
            window.record("all")
        clock.advance(step)
    return (time.perf_counter() - started) / events * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--events", type=int, default=2000)
    options = parser.parse_args(argv)
    checkouts = [("this checkout", HERE)]
    if options.against is not None:
        if not (options.against / "wtvserv" / "throttle.py").is_file():
            sys.exit(f"bench_window: no wtvserv/throttle.py in {options.against}")
        checkouts.append((str(options.against), options.against))
    for what, limit, seconds in LIMITS:
        costs = [microsecondsPerEvent(slidingWindow(path, number), limit, seconds, options.events)
                 for number, (_, path) in enumerate(checkouts)]
        figures = ", ".join(f"{name} {cost:.1f} us" for (name, _), cost in zip(checkouts, costs))
        ratio = f" (other / this: x{costs[1] / costs[0]:.0f})" if len(costs) == 2 else ""
        print(f"{what}, limit {limit:,}: check and record per event: {figures}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
