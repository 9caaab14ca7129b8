"""
Burst: many boxes on one machine power on at the same moment (not a test).

Run from the repository root::

    python bench/burst.py                     # 100 boxes, 5 bursts, backlog 50 and the default
    python bench/burst.py --boxes 200 --rounds 10 --backlog 511

For each listen backlog asked for, a fresh C{twistd -n wtvserv} starts on
free loopback ports, with loopback exempt from the per-address limits (all
boxes come from 127.0.0.1, as boxes behind one gateway would). A warm-up
registers C{--boxes} SSIDs through the server itself; then, C{--rounds}
times, every one of them powers on at once with the project's faithful box
simulator (preregister, challenge, stage two, check-tellyscript, the home
page over SECURE ON), and the time from its first connect to its home page
is recorded.

The kernel's own counters (C{TcpExt: ListenOverflows ListenDrops} in
C{/proc/net/netstat}) say whether any connection was dropped because a
listen queue was full; a dropped SYN is retried after a second, which is
what a p99 past one second means. The counters are machine-wide, so run
nothing else meanwhile. See C{bench/README.md}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from loadgen import Tally, one_login, percentile, profile_for, run_logins  # noqa: E402

from tests.realserver import RealServer  # noqa: E402

#: SSID unit numbers of the burst's boxes.
BURST_BASE = 0xB00000
COLUMNS = ("backlog", "boxes", "bursts", "logins", "failures", "p50 ms", "p95 ms",
           "p99 ms", "worst burst p99 ms", "max ms", "logins over 1 s", "listen overflows",
           "listen drops", "server CPU ms/login", "box CPU ms/login", "other CPU %")


def listen_counters() -> tuple[int, int]:
    """@return: the kernel's C{ListenOverflows} and C{ListenDrops} so far."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], map(int, values.split()[1:])))
            return table.get("ListenOverflows", 0), table.get("ListenDrops", 0)
    return 0, 0


async def burst(port: int, boxes: int) -> Tally:
    """Every box powers on at once; @return: their outcomes."""
    tally = Tally()
    await asyncio.gather(*(one_login(port, profile_for("registered", BURST_BASE + n),
                                     False, tally) for n in range(boxes)))
    return tally


async def measure(server: RealServer, backlog: int | None, boxes: int, rounds: int) -> dict:
    port, pid = server.ports["wtv-1800"], server.process.pid
    registered = await run_logins([port], "registered", min(boxes, 20),
                                  lambda w, k: BURST_BASE + w + min(boxes, 20) * k,
                                  boxes, 300.0, expect_registration=True)
    if registered.failures or len(registered.latencies) != boxes:
        raise RuntimeError(f"warm-up registered {len(registered.latencies)} of {boxes}: "
                           f"{registered.errors}")
    overflows, drops = listen_counters()
    cpu, ownCPU = loadgen.server_cpu(pid), time.process_time()
    busy, wall = loadgen.machine_busy(), time.perf_counter()
    everything = Tally()
    worst = 0.0
    for _ in range(rounds):
        await asyncio.sleep(0.5)            # let the previous burst's sockets close
        tally = await burst(port, boxes)
        worst = max(worst, percentile(tally.latencies, 0.99))
        everything.latencies += tally.latencies
        everything.failures += tally.failures
        everything.errors += tally.errors[:5 - len(everything.errors)]
    cpu, ownCPU = loadgen.server_cpu(pid) - cpu, time.process_time() - ownCPU
    other = max(0.0, loadgen.machine_busy() - busy - cpu - ownCPU)
    wall = time.perf_counter() - wall
    afterOverflows, afterDrops = listen_counters()
    for problem in everything.errors:
        print(f"backlog {backlog}: {problem}", file=sys.stderr)
    ms = [value * 1000 for value in everything.latencies]
    logins = len(ms)
    return {"backlog": backlog or "default", "boxes": boxes, "bursts": rounds,
            "logins": logins, "failures": everything.failures,
            "p50 ms": f"{percentile(ms, 0.50):.1f}", "p95 ms": f"{percentile(ms, 0.95):.1f}",
            "p99 ms": f"{percentile(ms, 0.99):.1f}",
            "worst burst p99 ms": f"{worst * 1000:.1f}", "max ms": f"{max(ms, default=0):.1f}",
            "logins over 1 s": sum(value >= 1000 for value in ms),
            "listen overflows": afterOverflows - overflows,
            "listen drops": afterDrops - drops,
            "server CPU ms/login": f"{cpu * 1000 / max(logins, 1):.2f}",
            "box CPU ms/login": f"{ownCPU * 1000 / max(logins, 1):.2f}",
            "other CPU %": f"{other * 100 / wall:.0f}"}


def run(base: Path, backlog: int | None, boxes: int, rounds: int) -> dict:
    config = loadgen.BENCH_CONFIG
    if backlog is not None:
        config += f"[server]\nlisten_backlog = {backlog}\n"
    server = RealServer(base / f"backlog-{backlog}" / "data", config=config).start()
    try:
        return asyncio.run(measure(server, backlog, boxes, rounds))
    except BaseException:
        print(f"twistd log (end):\n{server.log[-3000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=100, help="boxes per burst (default 100)")
    parser.add_argument("--rounds", type=int, default=5, help="bursts per backlog (default 5)")
    parser.add_argument("--backlog", type=int, action="append",
                        help="listen backlog to try (repeatable; default: 50, then the "
                             "server's default)")
    options = parser.parse_args(argv)
    if not (0 < options.boxes <= 2000 and 0 < options.rounds <= 100):
        parser.error("limits: 1..2000 boxes, 1..100 rounds")
    backlogs = options.backlog or [50, None]
    limit = loadgen.raise_fd_limit()
    print(f"machine: {loadgen.machine()}; open files limit {limit}; "
          f"somaxconn {Path('/proc/sys/net/core/somaxconn').read_text().strip()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wtvserv-burst-") as base:
        rows = [run(Path(base), backlog, options.boxes, options.rounds) for backlog in backlogs]
    print()
    print(loadgen.table(COLUMNS, rows))
    print(f"\n{time.monotonic() - started:.0f} s in all", flush=True)
    return 1 if any(row["failures"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
