"""
The web console while boxes log in (not a test): does an operator who
keeps the dashboard open, or reloads it hard, slow the boxes down, and how
fast do the pages answer under that load?

Run from the repository root::

    python bench/console_watch.py                       # 20 boxes, 1000 logins per run
    python bench/console_watch.py --boxes 10 --logins 500 --every 0.1

One real C{twistd -n wtvserv} (L{tests.realserver}) with registered accounts
(the load generator's warm-up); then the same registered logins twice: with
no one watching, and with a browser-like client fetching the dashboard and
the log page every C{--every} seconds (its sign-in through the one-time
link). Printed: logins/s and login latency of both runs and their ratio,
the console pages' latency, the server CPU a page costs (the watched run's
CPU beyond the other's, over its page loads: steadier than logins/s on a
shared machine), and what other processes used meanwhile ("other CPU %").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from bench.loadgen import machine, measure, percentile, table, warm_up, with_servers  # noqa: E402
from tests.console_client import ConsoleClient  # noqa: E402

PAGES = ("/", "/log")


def watch(server, every: float, stop: threading.Event, latencies: list[float]) -> None:
    """Sign in with the one-time link, then fetch L{PAGES} every C{every} s until C{stop}."""
    client = ConsoleClient(server.consoleURL)
    signedIn = client.get(server.consoleSignInLink().removeprefix(server.consoleURL))
    assert signedIn.status == 303, signedIn.body
    while not stop.is_set():
        for page in PAGES:
            started = time.perf_counter()
            answer = client.get(page)
            latencies.append(time.perf_counter() - started)
            assert answer.status == 200, (page, answer.status)
        stop.wait(every)


async def runs(servers, boxes: int, logins: int, every: float, seconds: float):
    server = servers[0]
    await warm_up([server.ports["wtv-1800"]], "registered", boxes, seconds)
    alone, _ = await measure(servers, "registered", boxes, logins, seconds)
    stop, latencies = threading.Event(), []
    watcher = threading.Thread(target=watch, args=(server, every, stop, latencies))
    watcher.start()
    try:
        watched, _ = await measure(servers, "registered", boxes, logins, seconds)
    finally:
        stop.set()
        watcher.join()
    return alone, watched, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=20, help="boxes logging in at once")
    parser.add_argument("--logins", type=int, default=1000, help="logins per run")
    parser.add_argument("--every", type=float, default=0.25,
                        help="seconds between the watcher's rounds of page loads")
    parser.add_argument("--seconds", type=float, default=60.0, help="longest run")
    arguments = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as base:
        (alone, watched, latencies), stall = with_servers(
            lambda servers: runs(servers, arguments.boxes, arguments.logins, arguments.every,
                                 arguments.seconds), Path(base), "console")
    columns = ("run", "logins", "failures", "logins/s", "p50 ms", "p99 ms",
               "server CPU ms/login", "other CPU %")
    rows = [{"run": "nobody watching", **alone}, {"run": "console watched", **watched}]
    print(table(columns, rows))
    ratio = float(watched["logins/s"]) / max(1.0, float(alone["logins/s"]))
    pages = [value * 1000 for value in latencies]
    print(f"logins/s watched / alone: {ratio:.2f}")
    print(f"console pages: {len(pages)} loads, p50 {percentile(pages, 0.5):.1f} ms, "
          f"p99 {percentile(pages, 0.99):.1f} ms, longest {max(pages, default=0):.1f} ms")
    extra = (float(watched["server CPU ms/login"]) * watched["logins"]
             - float(alone["server CPU ms/login"]) * alone["logins"])
    print(f"server CPU per console page (the watched run's extra over its loads): "
          f"{extra / max(1, len(pages)):.1f} ms")
    print(f"longest reactor stall (whole run): {stall} ms")
    return 0 if not (alone["failures"] or watched["failures"]) else 1


if __name__ == "__main__":
    sys.exit(main())
