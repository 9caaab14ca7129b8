"""
Load generator: many simulated boxes log in to the real C{twistd -n wtvserv}
over loopback (not a test).

Run from the repository root::

    python bench/loadgen.py --mode registered --boxes 20 --logins 2000
    python bench/loadgen.py --all             # three modes + idle-box RSS
    python bench/loadgen.py --idle 1000 5000  # idle-box RSS only
    python bench/loadgen.py --storage postgresql --processes 2

C{--storage postgresql} starts a throwaway PostgreSQL server (as the tests
do, L{tests.postgres}) and points the servers at it. C{--processes N} runs N
whole servers (every service, ports of their own, each its own data
directory) on one database, or with SQLite on N separate ones; the boxes
take turns between them, each box always on the same server.

Each mode starts its own server on free loopback ports with a temporary data
directory. C{--boxes} asyncio tasks (no threads) each run whole
L{Box.power_on} flows one after another with the project's box simulator:

 - C{fresh}: a new SSID per login, so every login registers (no password);
 - C{registered}: accounts are made first through the server itself (a
   warm-up with the same simulator), then each login is a full power-on of
   a registered SSID: preregister, challenge, stage two, check-tellyscript,
   home page over SECURE ON;
 - C{password}: the same with a password, which the server checks with
   scrypt in its thread pool.

Server CPU comes from C{/proc/<pid>/stat} (utime + stime, all threads, every
server process) over the measured window, peak RSS from C{VmHWM} (summed
over the processes), the longest reactor stall from each server's log
(L{wtvserv.stalls}, the whole run, warm-up included: the worst process), and
with PostgreSQL the database server's CPU. The generator's own CPU is shown
too, as is what other processes used meanwhile ("other CPU %"): all share
this machine's cores, so a busy machine lowers logins/s (not CPU per login).
Boxes run without a timer per read (their largest cost); each whole login is
bounded by C{LOGIN_TIMEOUT} instead. See C{bench/README.md}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import itertools
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.realserver import LOOPBACK_EXEMPT, RealServer  # noqa: E402
from wtvserv.box import PREREGISTER_URL, Box, make_profile, make_ssid  # noqa: E402

MODES = ("fresh", "registered", "password")
#: A load generator signs boxes up by the thousand from one machine, so the
#: global sign-up rate (an abuse limit) is lifted, as an operator would for a test.
BENCH_CONFIG = LOOPBACK_EXEMPT + "[register]\ntotal = 1000000\n"
PASSWORD = "load-test-pw"
#: Accounts made in the warm-up per concurrent box (registered, password).
ACCOUNTS_PER_BOX = 5
#: SSID unit numbers: warm-up accounts, fresh logins, idle boxes.
ACCOUNT_BASE, FRESH_BASE, IDLE_BASE = 0x100000, 0x400000, 0x800000
#: How many idle boxes connect at once (below the listen backlog).
IDLE_CONNECTING = 50
BOX_TIMEOUT = 10.0
#: Seconds a whole login (or closing its box) may take.
LOGIN_TIMEOUT = 30.0
#: Upper bounds of the command line's counts.
MAX_BOXES, MAX_LOGINS, MAX_IDLE = 5_000, 1_000_000, 50_000
COLUMNS = ("mode", "boxes", "logins", "failures", "seconds", "logins/s",
           "WTVP req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU ms/login",
           "server CPU %", "server peak RSS MB", "generator CPU ms/login",
           "generator CPU %", "database CPU ms/login", "server switches/login", "other CPU %",
           "longest stall ms")
IDLE_COLUMNS = ("idle boxes", "connected", "server fds", "server RSS MB",
                "RSS growth MB", "KB per box", "note")
TICKS = os.sysconf("SC_CLK_TCK")


def _quiet(line: str) -> None:
    """Box log sink: drop the line."""


# -- The server process, seen from /proc -----------------------------------

def server_cpu(pid: int) -> float:
    """@return: seconds of CPU (user + system, all threads) used by C{pid}."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def context_switches(pid: int) -> int:
    """
    @return: the voluntary and involuntary context switches of all of
        C{pid}'s threads (each pass of the GIL between the reactor and a
        store thread is one or two).
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:       # a thread that ended meanwhile
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def machine_busy() -> float:
    """@return: seconds of CPU all processes of this machine have used."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS   # minus idle, iowait


def server_memory(pid: int, name: str) -> float:
    """@return: C{name} (C{VmRSS}, C{VmHWM}) of C{pid} in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(name)


def open_files_limit(pid: int) -> str:
    """@return: the soft limit on open files of C{pid}, as /proc shows it."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit (children
    inherit it). @return: the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> str:
    """@return: one line: cores, CPU model, Python version."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return (f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
            f"{model}, Python {platform.python_version()}")


# -- Logins ----------------------------------------------------------------

@dataclass
class Tally:
    """What a batch of logins did."""

    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.failures += 1
        if len(self.errors) < 5:
            self.errors.append(problem)


@functools.lru_cache(maxsize=1024)
def profile_for(mode: str, unit: int):
    """@return: the box profile of SSID C{unit} (with a password in password
    mode)."""
    return make_profile("plus", ssid=make_ssid(unit), username=f"u{unit:x}",
                        human_name=f"Load Box {unit:x}",
                        password=PASSWORD if mode == "password" else "")


async def one_login(port: int, profile, expect_registration: bool,
                    tally: Tally) -> None:
    """Power one box on, then close it; record the outcome in C{tally}."""
    # timeout=None: no timer per read, the generator's largest cost; the
    # whole login is bounded by LOGIN_TIMEOUT instead.
    box = Box("127.0.0.1", port, profile, log=_quiet, timeout=None)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(LOGIN_TIMEOUT):
            home = await box.power_on()
        elapsed = time.perf_counter() - started
        registered = any(r.url.startswith("wtv-register:") for r in box.history)
        if registered != expect_registration:
            tally.fail(f"{profile.ssid}: registration {registered}, "
                       f"expected {expect_registration}")
        elif not home.encrypted:
            tally.fail(f"{profile.ssid}: home page not encrypted")
        else:
            tally.latencies.append(elapsed)
    except TimeoutError:
        tally.fail(f"{profile.ssid}: no home page within {LOGIN_TIMEOUT:g} s")
    except Exception as error:  # every failure is counted, none stops the run
        tally.fail(f"{profile.ssid}: {type(error).__name__}: {error}")
    finally:
        tally.requests += len(box.history)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LOGIN_TIMEOUT):
                await box.close()


async def run_logins(ports: list[int], mode: str, boxes: int, units, count: int,
                     seconds: float, expect_registration: bool) -> Tally:
    """
    C{boxes} tasks log in C{count} times in all, starting no login after
    C{seconds}.

    @param ports: the wtv-1800 port of each server; worker i logs in
        through server i modulo their number.
    @param units: C{units(worker, k)} is the SSID unit of the k-th login of
        a worker; two workers never share a unit.
    """
    tally = Tally()
    deadline = time.monotonic() + seconds
    shares = [count // boxes + (worker < count % boxes) for worker in range(boxes)]

    async def worker(number: int) -> None:
        for k in range(shares[number]):
            if time.monotonic() >= deadline:
                return
            profile = profile_for(mode, units(number, k))
            await one_login(ports[number % len(ports)], profile, expect_registration, tally)

    await asyncio.gather(*(worker(n) for n in range(boxes)))
    return tally


async def warm_up(ports: list[int], mode: str, boxes: int, seconds: float) -> None:
    """
    Register the accounts the measured logins use (C{ACCOUNTS_PER_BOX} per
    box), or for C{fresh} one box per worker, through the server itself.
    """
    count = boxes if mode == "fresh" else boxes * ACCOUNTS_PER_BOX
    tally = await run_logins(ports, mode, boxes, lambda w, k: ACCOUNT_BASE + w + boxes * k,
                             count, seconds, expect_registration=True)
    if tally.failures or len(tally.latencies) < count:
        raise RuntimeError(f"{mode} warm-up: {len(tally.latencies)} of {count} "
                           f"registrations; {tally.errors}")


def percentile(values: list[float], share: float) -> float:
    """@return: the C{share} (0..1) percentile of C{values}, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def database_cpu(database) -> float:
    """@return: seconds of CPU the PostgreSQL server's processes have used (0 for SQLite)."""
    if database is None:
        return 0.0
    total = 0.0
    for pid in database.pids():
        with contextlib.suppress(OSError):
            total += server_cpu(pid)
    return total


async def measure(servers: list[RealServer], mode: str, boxes: int, logins: int,
                  seconds: float, database=None) -> tuple[dict, Tally]:
    """
    Run the measured logins of C{mode} (after L{warm_up}).

    @return: a table row and the tally.
    """
    ports = [server.ports["wtv-1800"] for server in servers]
    pids = [server.process.pid for server in servers]
    if mode == "fresh":
        units = lambda w, k: FRESH_BASE + w + boxes * k  # noqa: E731
    else:
        units = lambda w, k: ACCOUNT_BASE + w + boxes * (k % ACCOUNTS_PER_BOX)  # noqa: E731
    gc.collect()
    busy0 = machine_busy()
    db0 = database_cpu(database)
    switches0 = sum(map(context_switches, pids))
    cpu0, own0, wall0 = sum(map(server_cpu, pids)), time.process_time(), time.perf_counter()
    tally = await run_logins(ports, mode, boxes, units, logins, seconds,
                             expect_registration=(mode == "fresh"))
    wall = time.perf_counter() - wall0
    cpu, own = sum(map(server_cpu, pids)) - cpu0, time.process_time() - own0
    switches = sum(map(context_switches, pids)) - switches0
    db = database_cpu(database) - db0
    other = max(0.0, machine_busy() - busy0 - cpu - own - db)
    done = max(1, len(tally.latencies))
    lat = [value * 1000 for value in tally.latencies]
    row = {
        "mode": mode, "boxes": boxes, "logins": len(tally.latencies),
        "failures": tally.failures, "seconds": f"{wall:.2f}",
        "logins/s": f"{len(tally.latencies) / wall:.0f}",
        "WTVP req/s": f"{tally.requests / wall:.0f}",
        "p50 ms": f"{percentile(lat, 0.50):.1f}",
        "p95 ms": f"{percentile(lat, 0.95):.1f}",
        "p99 ms": f"{percentile(lat, 0.99):.1f}",
        "server CPU ms/login": f"{cpu * 1000 / done:.2f}",
        "server CPU %": f"{cpu * 100 / wall:.0f}",
        "server peak RSS MB": f"{sum(server_memory(pid, 'VmHWM') for pid in pids):.1f}",
        "generator CPU ms/login": f"{own * 1000 / done:.2f}",
        "generator CPU %": f"{own * 100 / wall:.0f}",
        "database CPU ms/login": f"{db * 1000 / done:.2f}" if database else "-",
        "server switches/login": f"{switches / done:.1f}",
        "other CPU %": f"{other * 100 / wall:.0f}",
    }
    return row, tally


async def measure_mode(servers: list[RealServer], mode: str, boxes: int, logins: int,
                       seconds: float, database=None) -> tuple[dict, Tally]:
    """L{warm_up}, then L{measure}."""
    await warm_up([server.ports["wtv-1800"] for server in servers], mode, boxes, seconds)
    return await measure(servers, mode, boxes, logins, seconds, database)


# -- Idle boxes ------------------------------------------------------------

async def measure_idle(server: RealServer, targets: list[int],
                       seconds: float) -> list[dict]:
    """
    Keep more and more boxes connected to wtv-1800, each after one
    preregister request, and read the server's RSS at each target.
    """
    port, pid = server.ports["wtv-1800"], server.process.pid
    rows = [{"idle boxes": 0, "connected": 0,
             "server fds": len(os.listdir(f"/proc/{pid}/fd")),
             "server RSS MB": f"{server_memory(pid, 'VmRSS'):.1f}",
             "RSS growth MB": "0.0", "KB per box": "-", "note": "baseline"}]
    baseline = server_memory(pid, "VmRSS")
    held: list[Box] = []
    errors: list[str] = []
    units = itertools.count(IDLE_BASE)
    gate = asyncio.Semaphore(IDLE_CONNECTING)
    deadline = time.monotonic() + seconds

    async def connect(unit: int) -> None:
        async with gate:
            if time.monotonic() >= deadline:
                errors.append("--seconds ran out")
                return
            box = Box("127.0.0.1", port, make_profile("plus", ssid=make_ssid(unit)),
                      log=_quiet, timeout=BOX_TIMEOUT)
            try:
                response = await box.get(PREREGISTER_URL)
                if response.status != 200:
                    raise RuntimeError(f"{response.status} {response.reason}")
                held.append(box)
            except Exception as error:  # counted and reported, not raised
                errors.append(str(error).rpartition(": ")[2])
                await box.close()

    try:
        for target in sorted(targets):
            await asyncio.gather(*(connect(next(units))
                                   for _ in range(max(0, target - len(held)))))
            await asyncio.sleep(1.0)          # let the server settle
            rss = server_memory(pid, "VmRSS")
            note = "ok" if len(held) >= target else (
                f"short: {errors[0] if errors else '?'} (open files limit: "
                f"server {open_files_limit(pid)}, generator "
                f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]})")
            rows.append({
                "idle boxes": target, "connected": len(held),
                "server fds": len(os.listdir(f"/proc/{pid}/fd")),
                "server RSS MB": f"{rss:.1f}",
                "RSS growth MB": f"{rss - baseline:.1f}",
                "KB per box": f"{(rss - baseline) * 1024 / max(1, len(held)):.1f}",
                "note": note})
            errors.clear()
    finally:
        async with asyncio.timeout(60):
            await asyncio.gather(*(box.close() for box in held))
    return rows


# -- Output and command line -----------------------------------------------

def table(columns, rows) -> str:
    """@return: C{rows} (dicts) as a Markdown table."""
    cells = [list(columns)] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(v.ljust(w) for v, w in zip(line, widths)) + " |"
             for line in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def longest_stall(log: str) -> str:
    """@return: the last "longest reactor stall" a server logged, in ms, or "?"."""
    marker = "longest reactor stall: "
    found = log.rpartition(marker)[2].split(" ms", 1)[0] if marker in log else "?"
    return found


def with_servers(work, base: Path, name: str, processes: int = 1,
                 storageURL: str | None = None):
    """
    Run C{work(servers)} (a coroutine function) against C{processes} new
    servers, each with its own data directory, sharing the database
    C{storageURL} if given.

    @return: what C{work} returned, and the longest reactor stall the
        servers logged when they stopped (the worst of them, in ms).
    """
    config = (f'[storage]\nurl = "{storageURL}"\n' if storageURL else "") + BENCH_CONFIG
    # Each process its own data directory, as each host has: whole servers
    # on one directory would share its control socket (wtvserv status).
    servers = [RealServer(base / name / (f"data-{number}" if processes > 1 else "data"),
                          config=config) for number in range(processes)]
    for server in servers:
        server.start()
    try:
        result = asyncio.run(work(servers))
    except BaseException:
        for server in servers:
            print(f"twistd log (end):\n{server.log[-3000:]}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            code = server.stop()
            if code not in (0, -15, None):     # twistd re-raises SIGTERM
                print(f"warning: twistd for {name} exited with {code}", file=sys.stderr)
    stalls = [longest_stall(server.log) for server in servers]
    known = [float(value) for value in stalls if value != "?"]
    return result, (f"{max(known):.1f}" if len(known) == len(stalls) else "?")


@contextlib.contextmanager
def storage(kind: str):
    """Yield a running L{tests.postgres.PostgresServer}, or L{None} for SQLite."""
    if kind == "sqlite":
        yield None
        return
    from tests.postgres import PostgresServer, serverBinaries
    binaries = serverBinaries()
    if binaries is None:
        sys.exit("loadgen: no PostgreSQL server binaries (apt-get install postgresql)")
    server = PostgresServer(binaries)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, action="append",
                        help="login mode to measure (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help="every mode, then the idle-box RSS measurement")
    parser.add_argument("--boxes", type=int, default=20,
                        help="concurrent boxes (default 20)")
    parser.add_argument("--logins", type=int, default=2000,
                        help="measured logins per mode (default 2000)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="time cap for each phase (default 60)")
    parser.add_argument("--idle", type=int, nargs="*", default=None,
                        help="idle box counts to hold (--all: 1000 5000)")
    parser.add_argument("--storage", choices=("sqlite", "postgresql"), default="sqlite",
                        help="SQLite files (default) or a throwaway PostgreSQL server")
    parser.add_argument("--processes", type=int, default=1,
                        help="whole servers sharing the storage (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    modes = list(MODES) if options.all else (options.mode or [])
    idle = options.idle
    if idle is None and options.all:
        idle = [1000, 5000]
    if not modes and not idle:
        modes = ["registered"]
    if not (0 < options.boxes <= MAX_BOXES and 0 < options.logins <= MAX_LOGINS
            and 0 < options.seconds <= 3600
            and 0 < options.processes <= 8
            and all(0 < count <= MAX_IDLE for count in idle or [])):
        parser().error(f"limits: 1..{MAX_BOXES} boxes, 1..{MAX_LOGINS} logins, "
                       f"1..{MAX_IDLE} idle boxes, up to 3600 seconds, 1..8 processes")
    limit = raise_fd_limit()
    print(f"machine: {machine()}; open files limit {limit}", flush=True)

    print(f"storage: {options.storage}, {options.processes} server process(es)", flush=True)
    with tempfile.TemporaryDirectory(prefix="wtvserv-bench-") as base, \
            storage(options.storage) as database:
        rows, failures = [], 0
        for mode in modes:
            (row, tally), stall = with_servers(
                lambda servers, mode=mode: measure_mode(servers, mode, options.boxes,
                                             options.logins, options.seconds, database),
                Path(base), mode, options.processes,
                None if database is None else database.newDatabase())
            row["longest stall ms"] = stall
            rows.append(row)
            failures += tally.failures
            for problem in tally.errors:
                print(f"{mode} failure: {problem}", file=sys.stderr)
        if rows:
            print()
            print(table(COLUMNS, rows), flush=True)
        if idle:
            idle_rows, _ = with_servers(
                lambda servers: measure_idle(servers[0], idle, options.seconds),
                Path(base), "idle")
            print()
            print("Idle boxes (one preregister each, then connected and silent):")
            print(table(IDLE_COLUMNS, idle_rows), flush=True)
            failures += sum(row["note"] not in ("ok", "baseline") for row in idle_rows)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
