"""
Server instructions per login: the real C{twistd -n wtvserv} under
C{valgrind --tool=callgrind} while boxes log in over loopback (not a test).

CPU time per login drifts with a shared VM's speed and load; the user-space
instructions of all the server's threads do not, so this compares two
versions of the server on any machine, at the price of not counting the
kernel's share (C{loadgen.py} does). Run from the repository root, with
valgrind installed (Debian's C{valgrind})::

    python bench/instructions.py                       # registered, 300 logins
    python bench/instructions.py --mode fresh --logins 150

It warms up as L{loadgen} does, zeroes the counters (C{callgrind_control
-z}), runs the measured logins, dumps the counters (C{callgrind_control -d})
and prints instructions per login. Repeated runs of one version differ by
3-5 %: the server's timers and how its work falls into reactor turns vary.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from loadgen import BENCH_CONFIG, RealServer  # noqa: E402


class CallgrindServer(RealServer):
    """A L{RealServer} whose twistd runs under callgrind, writing to C{outputs}."""

    def __init__(self, dataDir: Path, outputs: Path) -> None:
        super().__init__(dataDir, config=BENCH_CONFIG)
        self.outputs = outputs

    def command(self) -> list[str]:
        return ["valgrind", "--tool=callgrind", "--dump-instr=no",
                f"--callgrind-out-file={self.outputs}/callgrind.%p"] + super().command()


def dumpedInstructions(outputs: Path) -> int:
    """@return: the instructions counted in the first dump (the measured logins)."""
    for path in outputs.glob("callgrind.*.1"):
        for line in path.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no callgrind dump in {outputs}")


def measure(mode: str, logins: int, boxes: int) -> tuple[int, int, int]:
    """@return: logins made, failures, and the instructions they took."""
    with tempfile.TemporaryDirectory(prefix="wtvserv-instructions-") as base:
        outputs = Path(base) / "callgrind"
        outputs.mkdir()
        server = CallgrindServer(Path(base) / "data", outputs).start(timeout=300)
        try:
            ports, pid = [server.ports["wtv-1800"]], str(server.process.pid)
            asyncio.run(loadgen.warm_up(ports, mode, boxes, 600))
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            first = loadgen.FRESH_BASE if mode == "fresh" else loadgen.ACCOUNT_BASE
            every = 1 << 30 if mode == "fresh" else loadgen.ACCOUNTS_PER_BOX
            tally = asyncio.run(loadgen.run_logins(
                ports, mode, boxes, lambda w, k: first + w + boxes * (k % every), logins, 900,
                expect_registration=(mode == "fresh")))
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        finally:
            server.stop(timeout=60)
        return len(tally.latencies), tally.failures, dumpedInstructions(outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("registered", "fresh"), default="registered")
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument("--boxes", type=int, default=5)
    options = parser.parse_args(argv)
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("instructions: valgrind is not installed (apt-get install valgrind)")
    done, failures, instructions = measure(options.mode, options.logins, options.boxes)
    print(f"{options.mode}: {done} logins, {failures} failures, "
          f"{instructions / max(1, done) / 1e6:.3f} M instructions per login "
          "(server, all threads, user space)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
