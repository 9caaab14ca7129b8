"""
Slowloris under load (not a test): hundreds of sockets trickle requests that
never finish while honest boxes log in, against the real
C{twistd -n wtvserv} on loopback.

Run from the repository root::

    python bench/slowloris.py                       # 500 sockets, 70 s of logins
    python bench/slowloris.py --sockets 500 --seconds 120 --drip 5

Each attacking socket comes from its own loopback address (127.1.x.y, as a
botnet would), so the cap per address does not shield the server: it must
hold them all cheaply and cut each one off by itself. Two kinds alternate:

 - slow head: C{GET wtv-1800:/preregister} and then a header line every
   C{--drip} seconds, never the blank line that ends the head;
 - half-sent POST: a whole head announcing a large body, then a byte every
   C{--drip} seconds.

When the server cuts a socket off, its attacker reconnects at once, so the
number held stays near C{--sockets}. Honest boxes (the project's box
simulator, registered accounts, from 127.0.0.1) log in one after another,
first with no attack, then for longer under it (past the header and body
timeouts, so cut-offs and reconnections happen meanwhile); the table gives
both latencies and their ratio. The server runs with its default limits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import (  # noqa: E402
    RealServer,
    machine,
    percentile,
    raise_fd_limit,
    run_logins,
    server_cpu,
    server_memory,
    table,
)

ACCOUNT_BASE = 0x200000
#: Only the honest boxes' address is exempt from the per-address limits
#: (they share it); every attacker address gets the defaults.
CONFIG = '[limits]\nexempt_addresses = ["127.0.0.1/32"]\n'
SLOW_HEAD = b"GET wtv-1800:/preregister\r\nwtv-client-serial-number: 8112345600B0026b\r\n"
HALF_POST = (b"POST wtv-log:/log\r\nwtv-client-serial-number: 8112345600B0026b\r\n"
             b"Content-length: 60000\r\n\r\n")   # within wtv-log's 64 KiB


@dataclass
class Siege:
    """What the attacking sockets saw."""

    held: int = 0
    connections: int = 0
    refused: int = 0
    cutOff: int = 0
    statuses: dict | None = None

    def __post_init__(self) -> None:
        self.statuses = {}


def attackerAddress(number: int) -> str:
    return f"127.1.{number // 250}.{number % 250 + 1}"


async def attacker(number: int, ports: dict[str, int], drip: float, siege: Siege,
                   stop: asyncio.Event) -> None:
    """Hold one slow request open, reconnecting whenever the server cuts it off."""
    halfPost = number % 2 == 1
    port = ports["wtv-log" if halfPost else "wtv-1800"]
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(attackerAddress(number), 0))
        except OSError:
            siege.refused += 1
            await asyncio.sleep(1)
            continue
        siege.connections += 1
        siege.held += 1
        try:
            writer.write(HALF_POST if halfPost else SLOW_HEAD)
            answer = asyncio.ensure_future(reader.read(200))
            while not answer.done() and not stop.is_set():
                await asyncio.wait([answer], timeout=drip)
                if not answer.done():
                    writer.write(b"x" if halfPost else b"X-slow: 1\r\n")
            if answer.done():
                status = (answer.result()[:3] or b"EOF").decode("latin-1")
                siege.statuses[status] = siege.statuses.get(status, 0) + 1
                siege.cutOff += 1
            else:
                answer.cancel()
        except (ConnectionError, OSError):
            siege.cutOff += 1
        finally:
            siege.held -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def honestLogins(port: int, seconds: float, boxes: int, accounts: int):
    """Log honest boxes in, one after another per box, for C{seconds}."""
    return await run_logins(port, "registered", boxes,
                            lambda w, k: ACCOUNT_BASE + (w + boxes * k) % accounts,
                            10**6, seconds, expect_registration=False)


COLUMNS = ("honest logins", "done", "failures", "slow sockets held", "p50 ms", "p95 ms",
           "p99 ms", "server CPU ms/login (incl. attack)")


def latencyRow(label: str, tally, held: str, cpu: float) -> dict[str, str]:
    ms = [percentile(tally.latencies, share) * 1000 for share in (0.5, 0.95, 0.99)]
    values = [label, str(len(tally.latencies)), str(tally.failures), held,
              *(f"{value:.1f}" for value in ms),
              f"{cpu * 1000 / max(1, len(tally.latencies)):.2f}"]
    return dict(zip(COLUMNS, values))


async def siege(server: RealServer, sockets: int, seconds: float, boxes: int,
                drip: float) -> int:
    pid = server.process.pid
    front = server.ports["wtv-1800"]
    accounts = boxes * 5
    warm = await run_logins(front, "registered", boxes, lambda w, k: ACCOUNT_BASE + w + boxes * k,
                            accounts, 600, expect_registration=True)
    if warm.failures:
        print(f"warm-up failed: {warm.errors}", file=sys.stderr)
        return 1
    before = server_cpu(pid)
    quiet = await honestLogins(front, seconds / 2, boxes, accounts)
    quietCPU = server_cpu(pid) - before
    rssQuiet = server_memory(pid, "VmRSS")

    state, stop = Siege(), asyncio.Event()
    attackers = [asyncio.ensure_future(attacker(n, server.ports, drip, state, stop))
                 for n in range(sockets)]
    rampUntil = time.monotonic() + 20
    while state.held < sockets * 0.98 and time.monotonic() < rampUntil:
        await asyncio.sleep(0.2)
    samples: list[int] = []

    async def sample() -> None:
        while not stop.is_set():
            samples.append(state.held)
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample())
    before = server_cpu(pid)
    loaded = await honestLogins(front, seconds, boxes, accounts)
    loadedCPU = server_cpu(pid) - before
    rssLoaded = server_memory(pid, "VmRSS")
    stop.set()
    await asyncio.gather(*attackers, sampler, return_exceptions=True)

    held = f"{min(samples)}-{max(samples)} (mean {sum(samples) / len(samples):.0f})"
    rows = [latencyRow("no attack", quiet, "0", quietCPU),
            latencyRow(f"{sockets} slow sockets", loaded, held, loadedCPU)]
    print(table(COLUMNS, rows))
    p50 = percentile(loaded.latencies, 0.5) / percentile(quiet.latencies, 0.5)
    p99 = percentile(loaded.latencies, 0.99) / percentile(quiet.latencies, 0.99)
    print(f"\nlatency under attack / without: p50 x{p50:.2f}, p99 x{p99:.2f} (target: within x2)")
    print(f"attack connections opened: {state.connections}; cut off by the server: "
          f"{state.cutOff} (answers: {dict(sorted(state.statuses.items()))}); "
          f"connect failures: {state.refused}")
    print(f"server RSS: {rssQuiet:.1f} MB before the attack, {rssLoaded:.1f} MB during it")
    return 0 if not (quiet.failures or loaded.failures) else 1


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--sockets", type=int, default=500)
    options.add_argument("--seconds", type=float, default=70,
                         help="how long honest boxes log in under attack (half that without); "
                              "longer than the header and body timeouts, so cut-offs and "
                              "reconnections happen meanwhile")
    options.add_argument("--boxes", type=int, default=2,
                         help="honest boxes logging in at once")
    options.add_argument("--drip", type=float, default=5.0,
                         help="seconds between an attacker's bytes")
    arguments = options.parse_args(argv)
    if not 1 <= arguments.sockets <= 20_000 or not 1 <= arguments.seconds <= 3600:
        options.error("--sockets 1..20000, --seconds 1..3600")
    limit = raise_fd_limit()
    print(f"{machine()}; open files limit {limit}")
    with tempfile.TemporaryDirectory(prefix="wtvserv-slowloris-") as base:
        server = RealServer(Path(base) / "data", config=CONFIG).start()
        try:
            return asyncio.run(siege(server, arguments.sockets, arguments.seconds,
                                     arguments.boxes, arguments.drip))
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
