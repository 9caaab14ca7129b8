"""
An honest password login during a flood of wrong-password guesses (not a
test), against the real C{twistd -n wtvserv} on loopback.

Run from the repository root::

    python bench/password_flood.py                        # this checkout
    python bench/password_flood.py --checkout ../before   # another one, e.g. an older commit

The server gets C{--victims} accounts with passwords and one honest account.
For each victim the attacker logs in up to its password page (anyone can:
the challenge's key travels in clear), which gives it a ticket and the keys
to encrypt with. Then it sends C{--guesses} wrong passwords at once, spread
over the victims, each on its own SECURE ON connection, from
C{--addresses} loopback addresses (127.2.x.y, default per-address limits;
only the honest box's 127.0.0.1 is exempt). While they are in flight the
honest box (the project's simulator) powers on and types its password, one
login after another, for C{--seconds}. Printed: the honest logins'
latency, quiet and during the flood; how the guesses were answered; the
server's CPU seconds and RSS; and what other processes used meanwhile.

Everything is bounded: the guesses in count (at most 10,000) and time (each
waits at most C{--seconds} + 70 s for its answer), the honest logins by
C{--seconds} and L{loadgen.LOGIN_TIMEOUT} each.

C{--checkout} runs the server from another checkout (e.g. a git worktree
of an older commit, to compare); the boxes are always this checkout's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import (  # noqa: E402
    REPOSITORY,
    RealServer,
    Tally,
    machine,
    machine_busy,
    one_login,
    percentile,
    profile_for,
    raise_fd_limit,
    run_logins,
    server_cpu,
    server_memory,
)

from wtvserv.box import PREREGISTER_URL, Box, make_profile, make_ssid  # noqa: E402
from wtvserv.crypto.rc4 import BoxStreams  # noqa: E402

CONFIG = '[limits]\nexempt_addresses = ["127.0.0.1/32"]\n'
HONEST, VICTIM_BASE = 0x300000, 0x310000
#: Connections opened at once while the guesses go out (below the listen backlog).
CONNECTING = 200


def attackerAddress(number: int) -> str:
    return f"127.2.{number // 250}.{number % 250 + 1}"


async def passwordPage(port: int, unit: int) -> tuple[str, tuple[bytes, bytes]]:
    """
    Log in as SSID C{unit} as far as anyone can: to its password page.

    @return: the ticket and the session keys it gives.
    """
    box = Box("127.0.0.1", port, make_profile("plus", ssid=make_ssid(unit)),
              log=lambda line: None)
    async with box:
        await box.get(PREREGISTER_URL)
        login = await box.get("wtv-head-waiter:/login?")
        await box.get(login.headers.get("wtv-visit"))
        if box.ticket is None or box.session_keys is None:
            raise RuntimeError(f"no ticket for victim {unit:x}")
        return box.ticket, box.session_keys


class Guesses:
    """The wrong passwords in flight, and how they were answered."""

    def __init__(self) -> None:
        self.written = 0
        self.answers: Counter[str] = Counter()


async def guess(port: int, address: str, ssid: str, ticket: str, keys: tuple[bytes, bytes],
                incarnation: int, password: str, gate: asyncio.Semaphore, guesses: Guesses,
                wait: float) -> None:
    """Send one wrong password on its own SECURE ON connection; count its answer."""
    streams = BoxStreams(*keys, incarnation)
    body = f"user_id=0&password={password}".encode()
    inner = (f"POST wtv-head-waiter:/ValidateLogin\r\nContent-type: "
             f"application/x-www-form-urlencoded\r\nContent-length: {len(body)}\r\n\r\n"
             ).encode() + body
    block = (f"SECURE ON\r\nwtv-client-serial-number: {ssid}\r\nwtv-ticket: {ticket}\r\n"
             f"wtv-encryption: true\r\nwtv-incarnation: {incarnation}\r\n\r\n").encode()
    try:
        async with gate:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0)), 10)
            writer.write(block + streams.encrypt(inner))
    except (OSError, TimeoutError):
        guesses.answers["could not connect"] += 1
        return
    finally:
        guesses.written += 1
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\n\n"), wait)
        status, _, reason = head.split(b"\n")[0].decode("latin-1").partition(" ")
        guesses.answers[f"{status} {reason[:48]}"] += 1
    except (asyncio.IncompleteReadError, ConnectionError):
        guesses.answers["closed"] += 1
    except TimeoutError:
        guesses.answers["no answer in time"] += 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def latencies(tally: Tally) -> str:
    ms = [percentile(tally.latencies, share) * 1000 for share in (0.5, 0.99)]
    worst = max(tally.latencies, default=float("nan")) * 1000
    return (f"{len(tally.latencies)} done, {tally.failures} failed; p50 {ms[0]:.0f} ms, "
            f"p99 {ms[1]:.0f} ms, max {worst:.0f} ms")


async def flood(server: RealServer, count: int, victims: int, addresses: int,
                seconds: float) -> int:
    front, waiter = server.ports["wtv-1800"], server.ports["wtv-head-waiter"]
    pid = server.process.pid
    units = [VICTIM_BASE + n for n in range(victims)]
    made = await run_logins(front, "password", 1, lambda w, k: ([HONEST] + units)[k],
                            victims + 1, 600, expect_registration=True)
    if made.failures:
        print(f"sign-ups failed: {made.errors}", file=sys.stderr)
        return 1
    quiet = Tally()
    for _ in range(5):
        await one_login(front, profile_for("password", HONEST), False, quiet)
    tickets = [await passwordPage(front, unit) for unit in units]

    gate, guesses = asyncio.Semaphore(CONNECTING), Guesses()
    busy0, cpu0, own0 = machine_busy(), server_cpu(pid), time.process_time()
    started = time.monotonic()
    attack = [asyncio.ensure_future(guess(
        waiter, attackerAddress(n % addresses), make_ssid(units[n % victims]),
        *tickets[n % victims], 1000 + n, f"guess{n}", gate, guesses, seconds + 70))
        for n in range(count)]
    while guesses.written < count and time.monotonic() < started + 60:
        await asyncio.sleep(0.05)
    sentIn = time.monotonic() - started
    during = Tally()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await one_login(front, profile_for("password", HONEST), False, during)
    await asyncio.gather(*attack)
    elapsed = time.monotonic() - started
    cpu, own = server_cpu(pid) - cpu0, time.process_time() - own0
    other = max(0.0, machine_busy() - busy0 - cpu - own)

    print(f"honest password logins, quiet:       {latencies(quiet)}")
    print(f"honest password logins, under flood: {latencies(during)}")
    for problem in during.errors:
        print(f"  failure: {problem}")
    print(f"{count} guesses at {victims} victims from {addresses} addresses, all sent in "
          f"{sentIn:.1f} s, answered:")
    for answer, number in guesses.answers.most_common():
        print(f"  {number:6d}  {answer}")
    print(f"the last guess was answered after {elapsed:.1f} s; server CPU {cpu:.1f} s; "
          f"server RSS {server_memory(pid, 'VmRSS'):.1f} MB "
          f"(peak {server_memory(pid, 'VmHWM'):.1f}); other CPU {other * 100 / elapsed:.0f}%")
    print(f"tracebacks in the server log: {server.log.count('Traceback')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--guesses", type=int, default=2400)
    options.add_argument("--victims", type=int, default=24, help="accounts guessed at")
    options.add_argument("--addresses", type=int, default=75,
                         help="attacking loopback addresses (at most 32 connections each)")
    options.add_argument("--seconds", type=float, default=20,
                         help="how long the honest box logs in during the flood")
    options.add_argument("--checkout", type=Path, default=REPOSITORY,
                         help="the checkout whose server to run (default: this one)")
    arguments = options.parse_args(argv)
    if not (1 <= arguments.guesses <= 10_000 and 1 <= arguments.victims <= 100
            and 1 <= arguments.addresses <= 1000 and 1 <= arguments.seconds <= 600):
        options.error("--guesses 1..10000, --victims 1..100, --addresses 1..1000, "
                      "--seconds 1..600")
    print(f"{machine()}; open files limit {raise_fd_limit()}")
    with tempfile.TemporaryDirectory(prefix="wtvserv-flood-") as base:
        server = RealServer(Path(base) / "data", config=CONFIG,
                            checkout=arguments.checkout.resolve()).start()
        try:
            return asyncio.run(flood(server, arguments.guesses, arguments.victims,
                                     arguments.addresses, arguments.seconds))
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
