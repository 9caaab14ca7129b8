"""
How soon a switch reaches boxes (not a test). The target: within 5 s.

Run from the repository root::

    python bench/switch_latency.py              # 5 rounds
    python bench/switch_latency.py --rounds 20

A real C{twistd -n wtvserv} starts on free loopback ports, and a box (the
project's faithful simulator) logs in and stays connected. Each round runs
C{wtvserv switch maintenance on} as an operator would, then has the box ask
for its home page every 50 ms until it gets the maintenance answer, and
times that from the moment the command returned; then the same for
C{off}. The server looks at the switches file at most every 2 s, so the
figures should lie between 0 and about 2 s. "other CPU %" is what the rest
of the machine used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import machine_busy, percentile, server_cpu  # noqa: E402

from tests.realserver import REPOSITORY, RealServer  # noqa: E402
from wtvserv.box import Box, make_profile, make_ssid  # noqa: E402


def switch(data: Path, state: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    subprocess.run([sys.executable, "-m", "wtvserv.cli", "switch", "--data", str(data),
                    "maintenance", state], check=True, capture_output=True, env=env)


async def measure(server: RealServer, rounds: int) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {"on": [], "off": []}
    box = Box("127.0.0.1", server.ports["wtv-1800"],
              make_profile("plus", ssid=make_ssid(300), username="latency"),
              log=lambda line: None)
    async with box:
        await box.power_on()
        for _ in range(rounds):
            for state, status in (("on", 503), ("off", 200)):
                await asyncio.to_thread(switch, server.dataDir, state)
                started = time.monotonic()
                while (await box.get("wtv-home:/home")).status != status:
                    await asyncio.sleep(0.05)
                seen[state].append(time.monotonic() - started)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        with RealServer(Path(folder) / "data") as server:
            pid = server.process.pid
            busy0, cpu0, own0 = machine_busy(), server_cpu(pid), time.process_time()
            wall0 = time.perf_counter()
            seen = asyncio.run(measure(server, options.rounds))
            wall = time.perf_counter() - wall0
            ours = server_cpu(pid) - cpu0 + time.process_time() - own0
            other = max(0.0, machine_busy() - busy0 - ours) * 100 / wall
    for state, times in seen.items():
        ms = sorted(t * 1000 for t in times)
        print(f"maintenance {state:<3}  {len(ms)} rounds  median {percentile(ms, 0.5):.0f} ms  "
              f"max {ms[-1]:.0f} ms  (target 5000 ms)")
    print(f"other CPU % meanwhile (of 100 per core): {other:.0f}")


if __name__ == "__main__":
    main()
