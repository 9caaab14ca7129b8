"""
What the state shared across hosts (issue 15) costs per login (not a test).

Run from the repository root (PostgreSQL's server binaries installed)::

    python bench/shared_costs.py
    python bench/shared_costs.py --events 200000 --keys 10000

Three figures, each a median of five rounds:

- **counting**: CPU per event counted by a shared rate window
  (L{wtvserv.sharedwindows.SharedWindow}: the host's own L{SlidingWindow}
  plus the count kept for the next exchange), beside the plain window's;
  each login counts two or three events (pre-registration, login, and
  with a password, its failure reserved);
- **exchange**: one host's exchange with a throwaway PostgreSQL (the
  batched upsert of what it counted, the pruning, the read-back of the
  others' counts), wall and CPU of this process, for 1, 100, 1000 and 5000
  keys counted in the second since the last; a host makes one a second,
  however many logins it serves;
- **challenge answered**: the one insert that makes an answer count once,
  per login.

"other CPU %" is what the rest of the machine used meanwhile (2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import machine_busy  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from tests.postgres import PostgresServer, serverBinaries  # noqa: E402
from wtvserv.sharedwindows import SharedWindows  # noqa: E402
from wtvserv.store.postgresql import PostgreSQLPool  # noqa: E402
from wtvserv.store.shared import SCHEMA, SharedState  # noqa: E402
from wtvserv.throttle import SlidingWindow  # noqa: E402

ROUNDS = 5


class NoThreads:
    """Store calls run at once, on this thread, as the exchange's CPU is what is measured."""

    def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
        try:
            onResult(True, function(*args, **kwargs))
        except Exception as error:   # noqa: BLE001 - handed back, as a thread pool does
            onResult(False, error)


class ReactorClock(Clock):
    def callFromThread(self, function, *args, **kwargs):
        function(*args, **kwargs)


def median(measure) -> tuple[float, float]:
    """@return: the medians of C{measure()}'s (wall, CPU) over L{ROUNDS} rounds."""
    runs = [measure() for _ in range(ROUNDS)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def counting(events: int, keys: int, shared) -> list[tuple[str, float]]:
    def plain():
        window = SlidingWindow(Clock(), 120, 600, capacity=keys)
        return timed(lambda: [window.exceeded(k) or window.record(k) for k in _keys(events, keys)])

    def sharedWindow():
        windows = SharedWindows(shared, ReactorClock(), NoThreads())
        window = windows.window("logins", 120, 600, capacity=keys)
        return timed(lambda: [window.exceeded(k) or window.record(k) for k in _keys(events, keys)])

    return [("SlidingWindow (one host)", median(plain)[1] / events * 1e6),
            ("SharedWindow", median(sharedWindow)[1] / events * 1e6)]


def _keys(events: int, keys: int) -> list[str]:
    return [f"198.51.{n % keys // 256}.{n % keys % 256}" for n in range(events)]


def exchange(shared, keys: int) -> tuple[float, float]:
    clock = ReactorClock()
    clock.advance(time.time())
    other = SharedWindows(shared, clock, NoThreads())     # another host's counts to read back
    mine = SharedWindows(shared, clock, NoThreads())
    for windows in (other, mine):
        window = windows.window("logins", 120, 600, capacity=max(keys, 1))
        for key in _keys(keys, keys):
            window.record(key)
    other.exchange()

    def once():
        for key in _keys(keys, keys):
            mine.window("logins", 120, 600).record(key)
        return timed(mine.exchange)
    return median(once)


def answering(shared) -> tuple[float, float]:
    counter = iter(range(10**9))

    def hundred():
        wall, cpu = timed(lambda: [shared.answerChallenge(
            "8100000000000001", next(counter).to_bytes(8, "big"), time.time() + 600)
            for _ in range(100)])
        return wall / 100, cpu / 100
    return median(hundred)


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    options.add_argument("--events", type=int, default=100_000)
    options.add_argument("--keys", type=int, default=10_000)
    arguments = options.parse_args(argv)
    binaries = serverBinaries()
    if binaries is None:
        print("bench/shared_costs.py: no PostgreSQL server binaries (apt-get install postgresql)",
              file=sys.stderr)
        return 1
    server = PostgresServer(binaries)
    server.start()
    pool = PostgreSQLPool(server.newDatabase(), size=1)
    try:
        shared = SharedState(pool.database(SCHEMA), time.time)
        busy, cpu, wall = machine_busy(), time.process_time(), time.monotonic()
        print(f"counting {arguments.events} events over {arguments.keys} keys:")
        for name, micros in counting(arguments.events, arguments.keys, shared):
            print(f"  {name:<26} {micros:6.2f} us CPU per event")
        print("one exchange (a host makes one a second):")
        for keys in (1, 100, 1000, 5000):
            ms = [value * 1000 for value in exchange(shared, keys)]
            print(f"  {keys:>5} keys counted   {ms[0]:7.2f} ms wall  {ms[1]:7.2f} ms CPU")
        ms = [value * 1000 for value in answering(shared)]
        print(f"challenge answered (per login): {ms[0]:.3f} ms wall, {ms[1]:.3f} ms CPU")
        elapsed = time.monotonic() - wall
        others = (machine_busy() - busy) - (time.process_time() - cpu)
        print(f"other CPU %: {100 * others / elapsed:.0f} (of one core; the database's included)")
    finally:
        pool.close()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
