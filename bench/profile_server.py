"""
Where the server's time goes under load: py-spy samples the real
C{twistd -n wtvserv} process while L{loadgen} runs one mode (not a test).

py-spy is not a dependency of wtvserv; install it into the same environment
first (C{pip install py-spy}). Run from the repository root::

    python bench/profile_server.py                        # registered, 20 boxes
    python bench/profile_server.py --mode fresh --out bench/profile-fresh.txt

It warms the server up as L{loadgen} does, attaches C{py-spy record
--nonblocking} to the twistd pid for the measured logins only, and prints
the loadgen row, then the samples ranked by area of the server (L{AREAS}),
by file and by function (self and inclusive), each with its share of the
server's samples and the milliseconds per login that share stands for.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from loadgen import COLUMNS, MODES, RealServer, measure, table, warm_up  # noqa: E402

#: Areas of the server, each named by fragments of frame names. A sample
#: belongs to the area of its innermost frame that matches one.
AREAS = [
    ("tickets: AES-GCM issue/verify", ("TicketAuthority",)),
    ("request parsing (wire.RequestParser)", ("RequestParser",)),
    ("response head (wire.serializeHead)", ("serializeHead",)),
    ("logging (twisted.logger)", ("Logger.",)),
    ("account store (SQLite)", ("AccountStore",)),
    ("RC4 streams (SECURE ON)", ("RC4Stream", "ServerStreams", "_Streams")),
    ("DES challenge", ("issue_challenge", "response_matches")),
    ("scrypt (password threads)", ("verify_password", "hash_password")),
    ("service handlers", ("wtvserv/services/",)),
    ("routing (web.WTVService)", ("WTVService", "Box.")),
    ("Deferreds and timers", ("Deferred", "maybeDeferred", "callLater",
                              "DelayedCall", "_cancel", "_armIdle")),
    ("protocol glue (WTVPProtocol)", ("WTVPProtocol", "WTVPFactory")),
    ("TCP accept", ("Port.doRead",)),
    ("TCP close", ("connectionLost", "_disconnectSelectable", "loseConnection")),
    ("TCP send", ("doWrite", "writeSomeData", "Connection.write")),
    ("TCP receive", ("Connection.doRead",)),
    ("reactor loop", ("doPoll", "mainLoop", "runUntilCurrent")),
]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
PY_SPY_START = 1.0        # seconds to let py-spy attach


def frame_name(frame: str) -> str:
    """@return: C{function (file)} of a py-spy frame, without its line."""
    match = FRAME.match(frame)
    return f"{match['function']} ({match['file']})" if match else frame


def area(frames: list[str]) -> str:
    """@return: the L{AREAS} name of a stack (outermost frame first)."""
    for frame in reversed(frames):
        for name, fragments in AREAS:
            if any(fragment in frame for fragment in fragments):
                return name
    return "other (or a stack cut short)"


def summarise(raw: Path, ms_per_login: float, logins: int, rate: int,
              top: int) -> str:
    """
    @param raw: py-spy C{--format raw} output: one C{frame;frame;... count}
        line per distinct stack.
    @return: the ranked self and inclusive tables as text.
    """
    own, inclusive, modules, areas, total = Counter(), Counter(), Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        modules[frames[-1].rpartition("(")[2].rstrip(")")] += int(count)
        areas[area(frames)] += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
    if not total:
        return "no samples (did py-spy attach?)\n"

    def ranked(title: str, counts: Counter, rows: int) -> list[str]:
        lines = [title, f"{'share':>6} {'ms/login':>8}  where"]
        for name, count in counts.most_common(rows):
            share = count / total
            lines.append(f"{share:6.1%} {share * ms_per_login:8.3f}  {name}")
        return lines + [""]

    cpu = ms_per_login * logins / 1000
    lines = [f"{total} samples ({total / rate:.1f} s at {rate}/s) for {cpu:.1f} s of "
             f"server CPU ({ms_per_login:.2f} ms per login); on a quiet machine the",
             "sampled seconds are at most the CPU seconds; far more means threads waited",
             "for a core (a busy machine, or more busy threads than cores as in password",
             "mode). Shares are of the samples; ms/login = share x CPU.", ""]
    lines += ranked("By area:", areas, len(AREAS) + 1)
    lines += ranked("By file (self samples):", modules, top)
    lines += ranked("By function, self samples:", own, top)
    lines += ranked("By function, inclusive samples:", inclusive, top * 2)
    return "\n".join(lines)


def record(options, base: Path) -> tuple[dict, Path]:
    """Warm up, then measure with py-spy attached. @return: the row and the
    raw profile."""
    raw = base / "server.raw"
    server = RealServer(base / "data", config=loadgen.BENCH_CONFIG).start()
    try:
        asyncio.run(warm_up([server.ports["wtv-1800"]], options.mode, options.boxes,
                            options.seconds))
        spy = subprocess.Popen(
            ["py-spy", "record", "--pid", str(server.process.pid), "--nonblocking",
             "--rate", str(options.rate), "--format", "raw", "--output", str(raw),
             "--duration", str(int(options.seconds + loadgen.LOGIN_TIMEOUT))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(PY_SPY_START)
        try:
            row, tally = asyncio.run(measure([server], options.mode, options.boxes,
                                             options.logins, options.seconds))
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                _, problems = spy.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                _, problems = spy.communicate()
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote no profile:\n{problems.decode(errors='replace')}")
        for problem in tally.errors:
            print(f"failure: {problem}", file=sys.stderr)
    finally:
        server.stop()
    row["longest stall ms"] = loadgen.longest_stall(server.log)
    return row, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="registered")
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--logins", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--out", type=Path, help="also write the summary here")
    parser.add_argument("--raw", type=Path,
                        help="keep py-spy's raw stacks here (for flame graphs)")
    options = parser.parse_args(argv)
    if not (0 < options.boxes <= loadgen.MAX_BOXES and 0 < options.logins <= loadgen.MAX_LOGINS
            and 0 < options.seconds <= 3600 and 0 < options.rate <= 1000):
        parser.error("boxes, logins, seconds and rate must be positive and within loadgen's limits")
    if shutil.which("py-spy") is None:
        parser.error("py-spy is not installed (pip install py-spy)")
    loadgen.raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="wtvserv-profile-") as base:
        row, raw = record(options, Path(base))
        summary = (f"machine: {loadgen.machine()}\n\n{table(COLUMNS, [row])}\n\n"
                   + summarise(raw, float(row["server CPU ms/login"]), row["logins"],
                               options.rate, options.top))
        if options.raw:
            shutil.copyfile(raw, options.raw)
    print(summary)
    if options.out:
        options.out.write_text(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
