"""
Hostile clients against the real C{twistd -n wtvserv} over loopback TCP:
slowloris sockets from many addresses while an honest box logs in, the
per-address connection cap, and bans changed with C{wtvserv-ban} while the
server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time

import pytest

from tests.realserver import RealServer
from wtvserv.box import Box, make_profile, make_ssid

SHORT_LIMITS = ('[limits]\nheader_timeout = 2\nbody_timeout = 2\nconnections_per_address = 4\n'
                'exempt_addresses = ["127.0.0.1/32"]\n[bans]\ncheck_interval = 0.2\n')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("hostile") / "data", config=SHORT_LIMITS) as running:
        yield running


async def powerOn(server, unit):
    profile = make_profile("plus", ssid=make_ssid(unit), username=f"hostile{unit:x}")
    box = Box("127.0.0.1", server.ports["wtv-1800"], profile, log=lambda line: None)
    try:
        await box.power_on()
    finally:
        await box.close()


def slowSocket(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.sendall(b"GET wtv-1800:/preregister\r\nwtv-client-serial-number: 8112")
    return sock


def readAll(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_slow_sockets_from_many_addresses_are_cut_off_while_a_box_logs_in(server):
    sockets = [slowSocket(server.ports["wtv-1800"], f"127.3.0.{n + 1}") for n in range(60)]
    try:
        started = time.monotonic()
        asyncio.run(powerOn(server, 0x3001))
        assert time.monotonic() - started < 2, "the honest box was not held up"
        answers = [readAll(sock) for sock in sockets]
        assert all(answer.startswith(b"408 The request took too long to arrive.")
                   for answer in answers), answers[:3]
        assert time.monotonic() - started < 8
    finally:
        for sock in sockets:
            sock.close()
    assert "request head too slow" in server.log


def test_one_address_holds_no_more_than_its_cap(server):
    port = server.ports["wtv-log"]
    held = [socket.create_connection(("127.0.0.1", port), source_address=("127.4.0.1", 0))
            for _ in range(4)]
    try:
        extra = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=("127.4.0.1", 0))
        assert readAll(extra).startswith(b"503 Too many connections from your address.")
        other = socket.create_connection(("127.0.0.1", port), timeout=1,
                                         source_address=("127.4.0.2", 0))
        other.settimeout(0.5)
        with pytest.raises(socket.timeout):
            other.recv(10)       # admitted: the server waits for its request
        other.close()
    finally:
        for sock in held:
            sock.close()


def ban(server, *args) -> None:
    subprocess.run([sys.executable, "-m", "wtvserv.cli", "ban", "--data", str(server.dataDir),
                    *args], check=True, capture_output=True)


def request(server, source: str, ssid: str) -> bytes:
    with socket.create_connection(("127.0.0.1", server.ports["wtv-1800"]), timeout=5,
                                  source_address=(source, 0)) as sock:
        sock.sendall(f"GET wtv-1800:/preregister\r\nwtv-client-serial-number: {ssid}\r\n\r\n"
                     .encode())
        return sock.recv(200)


def waitFor(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_bans_take_effect_and_lift_while_the_server_runs(server):
    ssid = make_ssid(0x3002)
    assert request(server, "127.5.0.1", ssid).startswith(b"200 OK")
    ban(server, "add", "ssid", ssid, "--why", "test")
    assert waitFor(lambda: request(server, "127.5.0.1", ssid).startswith(b"403 "))
    assert request(server, "127.5.0.1", make_ssid(0x3003)).startswith(b"200 OK")
    ban(server, "add", "address", "127.6.0.0/16")
    assert waitFor(lambda: request(server, "127.6.3.4", make_ssid(0x3003))
                   .startswith(b"403 This service is not available to you."))
    ban(server, "remove", "ssid", ssid)
    ban(server, "remove", "address", "127.6.0.0/16")
    assert waitFor(lambda: request(server, "127.6.3.4", ssid).startswith(b"200 OK"))
    assert "ban list loaded" in server.log


def test_garbage_on_every_port_gets_statuses_and_the_process_keeps_serving(server):
    import random
    chooser = random.Random(7)
    samples = [b"GET wtv-1800:/preregister\r\n", b"SECURE ON\r\n", b"POST wtv-log:/log\r\n",
               b"Content-length: 99999999999\r\n", b"wtv-ticket: AAAA\r\n", b"\r\n\r\n"]
    answers = []
    for n in range(150):
        port = chooser.choice(list(server.ports.values()))
        junk = b"".join(chooser.choice([chooser.randbytes(chooser.randrange(1, 300)),
                                        chooser.choice(samples)])
                        for _ in range(chooser.randrange(1, 8)))
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=(f"127.7.0.{n % 200 + 1}", 0)) as sock:
            sock.sendall(junk + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            answers.append(readAll(sock))
    assert all(a == b"" or a[:3].isdigit() for a in answers), [a[:40] for a in answers][:5]
    assert sum(a[:1] in b"45" and a != b"" for a in answers) > 100
    assert server.process.poll() is None
    asyncio.run(powerOn(server, 0x3004))
    assert "Traceback" not in server.log
