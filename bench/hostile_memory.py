"""
Server memory under three attacks of issue 12 (not a test), against the
real C{twistd -n wtvserv} on loopback, each on a fresh server:

 - unread: 4 connections pipeline C{GET wtv-1800:/preregister} (about 1 KB
   of answer per 130-byte request) and never read an answer;
 - busy: a logged-in box posts its password while 16 others keep the
   password-hashing queue full, and sends junk behind it;
 - stalled: 96 connections, each from its own address, announce a body
   and send all of it but the last byte, then wait.

Run from the repository root, and again with C{--checkout} naming a
worktree of the commit to compare with (its code runs, this script and
the box simulator stay)::

    python bench/hostile_memory.py
    git worktree add ../base <commit> && python bench/hostile_memory.py --checkout ../base

Each attack is bounded in time (C{--seconds}) and bytes; the table gives
the server's RSS (C{VmRSS}) before and at the end of the attack (its
sockets still open), its peak (C{VmHWM}), what was sent and what the
server did about it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import (  # noqa: E402
    PASSWORD,
    REPOSITORY,
    RealServer,
    machine,
    machine_busy,
    profile_for,
    raise_fd_limit,
    server_memory,
    table,
)

from wtvserv.box import Box  # noqa: E402
from wtvserv.crypto.rc4 import BoxStreams  # noqa: E402

#: Only the boxes logging in share an exempt address; attackers get the defaults.
CONFIG = '[limits]\nexempt_addresses = ["127.0.0.1/32"]\n'
COLUMNS = ("attack", "sent MB", "RSS before MB", "RSS under attack MB", "growth MB",
           "peak RSS MB", "what the server did")
UNIT = 0x310000


def rss(server: RealServer) -> tuple[float, float]:
    pid = server.process.pid
    return server_memory(pid, "VmRSS"), server_memory(pid, "VmHWM")


def flood(sock: socket.socket, data: bytes, limit: int, seconds: float) -> int:
    """Send C{data} over and over without reading, until C{limit} bytes or C{seconds}."""
    sock.setblocking(False)
    sent, deadline = 0, time.monotonic() + seconds
    while sent < limit and time.monotonic() < deadline:
        try:
            sent += sock.send(data)
        except BlockingIOError:
            time.sleep(0.005)
        except OSError:
            break
    return sent


def attackUnread(server: RealServer, seconds: float) -> tuple[int, str]:
    port = server.ports["wtv-1800"]
    request = (f"GET wtv-1800:/preregister\r\nwtv-client-serial-number: "
               f"{profile_for('registered', UNIT).ssid}\r\n\r\n").encode()
    sockets, results = [], []
    for n in range(4):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.bind((f"127.30.0.{n + 1}", 0))
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    threads = [threading.Thread(target=lambda s=s: results.append(
        flood(s, request * 500, 25 * 1024 * 1024, seconds))) for s in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(1)
    answered = server.log.count("GET wtv-1800:/preregister 200")
    server.held = rss(server)[0]
    for sock in sockets:
        sock.close()
    return sum(results), f"{answered} of {sum(results) // len(request)} requests answered"


def secureSocket(port: int, box: Box, incarnation: int) -> tuple[socket.socket, BoxStreams]:
    streams = BoxStreams(*box.session_keys, incarnation)
    block = (f"SECURE ON\r\nwtv-client-serial-number: {box.profile.ssid}\r\n"
             f"wtv-ticket: {box.ticket}\r\nwtv-encryption: true\r\n"
             f"wtv-incarnation: {incarnation}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(block)
    return sock, streams


def passwordPost() -> bytes:
    form = f"user_id=0&password={PASSWORD}".encode()
    return (b"POST wtv-head-waiter:/ValidateLogin\r\nContent-type: "
            b"application/x-www-form-urlencoded\r\nContent-length: "
            + str(len(form)).encode() + b"\r\n\r\n" + form)


def attackBusy(server: RealServer, seconds: float) -> tuple[int, str]:
    port = server.ports["wtv-head-waiter"]
    boxes = server.boxes
    stop = time.monotonic() + seconds
    checks = []

    def keepHashing(box: Box, number: int) -> None:
        incarnation = 100 + number * 1000
        while time.monotonic() < stop:
            incarnation += 1
            sock, streams = secureSocket(port, box, incarnation)
            with sock:
                sock.sendall(streams.encrypt(passwordPost()))
                checks.append(sock.recv(100)[:3])

    flooders = [threading.Thread(target=keepHashing, args=(box, n))
                for n, box in enumerate(boxes[1:])]
    for thread in flooders:
        thread.start()
    time.sleep(0.5)                                    # the queue fills
    sock, streams = secureSocket(port, boxes[0], 77)
    sock.sendall(streams.encrypt(passwordPost()))
    junk = streams.encrypt(b"A" * (1 << 20))
    sent = flood(sock, junk, 200 * 1024 * 1024, seconds - 1)
    time.sleep(0.5)
    server.held = rss(server)[0]
    sock.close()
    for thread in flooders:
        thread.join()
    return sent, f"{len(checks)} password checks answered meanwhile"


def attackStalled(server: RealServer, seconds: float, length: int) -> tuple[int, str]:
    port = server.ports["wtv-log"]
    head = (f"POST wtv-log:/log\r\nwtv-client-serial-number: "
            f"{profile_for('registered', UNIT).ssid}\r\nContent-length: {length}\r\n\r\n").encode()
    sockets, sent, refused = [], 0, 0
    for n in range(96):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                        source_address=(f"127.31.{n // 200}.{n % 200 + 1}", 0))
        sockets.append(sock)
        sock.sendall(head)
        sent += len(head) + flood(sock, b"x" * (length - 1), length - 1, 5)
    time.sleep(min(seconds, 5))
    server.held = rss(server)[0]
    for sock in sockets:
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            refused += sock.recv(3).isdigit()
        sock.close()
    return sent, f"{refused} of 96 refused ({length:,}-byte bodies)"


def measure(checkout: Path, name: str, attack, base: Path) -> dict:
    with RealServer(base / name / "data", config=CONFIG, checkout=checkout) as server:
        if name == "busy":
            server.boxes = asyncio.run(_register(server, 17))
        time.sleep(0.5)
        before, _ = rss(server)
        sent, outcome = attack(server)
        after, peak = server.held, rss(server)[1]
        alive = server.process.poll() is None
    return dict(zip(COLUMNS, (name, f"{sent / 1e6:.1f}", f"{before:.1f}", f"{after:.1f}",
                              f"{after - before:+.1f}", f"{peak:.1f}",
                              outcome + ("" if alive else "; DIED"))))


async def _register(server: RealServer, count: int) -> list[Box]:
    """
    Boxes of the busy attack: each signs up with a password through the
    server and logs in, so it holds a ticket and session keys.
    """
    boxes = []
    for n in range(count):
        box = Box("127.0.0.1", server.ports["wtv-1800"], profile_for("password", UNIT + n),
                  log=lambda line: None)
        try:
            await box.power_on()
        finally:
            await box.close()
        boxes.append(box)
    return boxes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=REPOSITORY,
                        help="the source tree whose server runs (default: this one)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each attack")
    parser.add_argument("--attack", action="append",
                        choices=("unread", "busy", "stalled", "stalled-64k"))
    arguments = parser.parse_args(argv)
    raise_fd_limit()
    seconds = arguments.seconds
    attacks = {"unread": lambda s: attackUnread(s, seconds),
               "busy": lambda s: attackBusy(s, seconds),
               "stalled": lambda s: attackStalled(s, seconds, 1_000_000),
               "stalled-64k": lambda s: attackStalled(s, seconds, 65_536)}
    chosen = arguments.attack or list(attacks)
    print(f"# {machine()}; server code from {arguments.checkout}")
    rows = []
    busyBefore, started = machine_busy(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wtvserv-hostile-") as base:
        for name in chosen:
            rows.append(measure(arguments.checkout, name, attacks[name], Path(base)))
    print(table(COLUMNS, rows))
    # Server and attackers both run here, so this is not "other" CPU: it
    # shows how busy the machine was in all, out of 100 % per core.
    print(f"machine CPU during the run: "
          f"{100 * (machine_busy() - busyBefore) / (time.monotonic() - started):.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
