"""
Memory, connections and addresses against the real C{twistd -n wtvserv}
over loopback TCP (issue 12): a box that never reads its answers, hundreds
of requests in one segment, a low open files limit, and a dual-stack
listener whose IPv4 clients arrive IPv4-mapped.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import pytest

from tests.realserver import RealServer
from tests.test_hostile_boxes import powerOn, readAll, waitFor
from wtvserv.box import make_ssid

QUICK_WRITES = ('[limits]\nwrite_timeout = 2\nmin_body_rate = 100000\n'
                'exempt_addresses = ["127.0.0.1/32"]\n')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("limits") / "data", config=QUICK_WRITES) as running:
        yield running


def preregister(ssid: str) -> bytes:
    return f"GET wtv-1800:/preregister\r\nwtv-client-serial-number: {ssid}\r\n\r\n".encode()


def test_a_box_that_never_reads_stops_being_answered_and_is_aborted(server):
    ssid = make_ssid(0x4001)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    sock.connect(("127.0.0.1", server.ports["wtv-1800"]))
    sock.setblocking(False)
    request, sent, deadline = preregister(ssid), 0, time.monotonic() + 4
    pending = request * 1000
    while sent < 20_000 * len(request) and time.monotonic() < deadline:
        try:
            sent += sock.send(pending)
        except BlockingIOError:
            time.sleep(0.01)
    try:
        asyncio.run(powerOn(server, 0x4002))       # the server serves others meanwhile
        assert waitFor(lambda: "did not take its answers in time" in server.log, 10)
        answered = server.log.count(" GET wtv-1800:/preregister 200 ")
        assert answered < sent // len(request) // 2, (answered, sent // len(request))
    finally:
        sock.close()


def test_hundreds_of_requests_in_one_segment_are_all_answered_in_order(server):
    ssid = make_ssid(0x4003)
    urls = [f"wtv-1800:/preregister?n={n}" for n in range(400)]
    data = b"".join(f"GET {url}\r\nwtv-client-serial-number: {ssid}\r\n\r\n".encode()
                    for url in urls)
    answers = b""
    with socket.create_connection(("127.0.0.1", server.ports["wtv-1800"]), timeout=10) as sock:
        sock.sendall(data)
        while answers.count(b"\n\n") < 400 and (chunk := sock.recv(65536)):
            answers += chunk
    assert answers.startswith(b"200 OK\n") and answers.count(b"\n\n200 OK\n") == 399
    logged = [line.split(" GET ")[1].split(" ")[0] for line in server.log.splitlines()
              if " GET wtv-1800:/preregister?n=" in line]
    assert logged == urls
    assert "Traceback" not in server.log and "RecursionError" not in server.log


def test_connections_stay_below_a_low_open_files_limit(tmp_path):
    with RealServer(tmp_path / "data", openFiles=200) as server:
        assert "open files: soft limit 200, hard limit 200; max_connections 136" in server.log
        assert "max_connections lowered from 10000 to 136" in server.log
        port = server.ports["wtv-log"]
        held, answers = [], []
        try:
            for n in range(160):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                                source_address=(f"127.8.{n // 100}.{n % 100 + 1}", 0))
                held.append(sock)
            for sock in held[136:]:
                answers.append(readAll(sock))
        finally:
            for sock in held:
                sock.close()
        assert all(answer.startswith(b"503 The service is busy.") for answer in answers)
        asyncio.run(powerOn(server, 0x4004))
        assert "Too many open files" not in server.log


def dualStack() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0))
        return True
    except OSError as error:
        return error.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


@pytest.mark.skipif(not dualStack(), reason="no dual-stack IPv6 on this machine")
def test_a_dual_stack_listener_maps_ipv4_back_and_applies_ipv4_bans(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "bans.txt").write_text("address 127.9.0.0/16\n")
    with RealServer(data, interface="::", config="") as server:
        port = server.ports["wtv-1800"]
        ssid = make_ssid(0x4005)
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=("127.9.0.1", 0)) as banned:
            assert banned.recv(200).startswith(b"403 This service is not available to you.")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
            plain.sendall(preregister(ssid))
            assert plain.recv(200).startswith(b"200 OK")
        with socket.create_connection(("::1", port), timeout=5) as six:
            six.sendall(preregister(ssid))
            assert six.recv(200).startswith(b"200 OK")
        assert waitFor(lambda: "wtv-1800 ::1 " in server.log)
        assert "wtv-1800 127.0.0.1 " in server.log and "::ffff:" not in server.log
