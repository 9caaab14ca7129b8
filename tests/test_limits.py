"""
Limits set per service and per process (issue 12, items 4 to 6): body
limits each service declares, echoed form values, compression off the
reactor, the open files limit, and listening on an IPv6 interface.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from tests.harness import TestBox, inProcessServer
from tests.test_encoding import CLASSIC, classicRequest
from wtvserv import tap
from wtvserv.config import loadConfig
from wtvserv.crypto import lzpf
from wtvserv.encoding import INLINE_LIMIT, MAX_COMPRESSED, BodyEncoder
from wtvserv.fdlimit import KEPT_FREE, connectionsThatFit
from wtvserv.server import endpointFor
from wtvserv.wire import Request, Response


def post(box: TestBox, url: str, size: int) -> int:
    return box.request(url, body=b"x" * size).status


def test_each_service_takes_the_bodies_it_declares(tmp_path):
    with inProcessServer(tmp_path) as server:
        limits = {name: factory.limits.body for name, factory in server.factories.items()}
        assert limits["wtv-log"] == 64 * 1024
        assert limits["wtv-head-waiter"] == limits["wtv-1800"] == 4096
        assert limits["wtv-register"] == 8192
        box = TestBox(server)
        assert post(box, "wtv-log:/log?type=t", 64 * 1024) == 200
        assert post(box, "wtv-log:/log?type=t", 64 * 1024 + 1) == 413
        assert post(TestBox(server), "wtv-head-waiter:/ValidateLogin", 4097) == 413


def test_the_configuration_overrides_a_service_body_limit(tmp_path):
    path = tmp_path / "wtvserv.toml"
    path.write_text("[services.wtv-log]\nmax_body = 1000\n[limits]\nmax_body = 5000\n")
    config = loadConfig(path)
    config.dataDir = tmp_path / "data"
    options = tap.Options()
    options.config = config
    options["run"] = set()
    server = tap.makeService(options, reactor=MemoryReactorClock())
    try:
        assert server.factories["wtv-log"].limits.body == 1000
        assert server.factories["wtv-home"].limits.body == 4096, "declared by the plugin"
    finally:
        server.stopService()


def test_echoed_sign_up_values_are_cut_to_the_field_length(tmp_path):
    with inProcessServer(tmp_path) as server:
        box = TestBox(server)
        box.login()
        body = b"subscriber_name=" + b"%22" * 1500 + b"&subscriber_username=" + b"a" * 2000
        answer = box.request("wtv-register:/ValidateRegistration", secure=True, body=body)
        assert answer.status == 200
        assert answer.body.count(b"&quot;") == 32
        assert b"a" * 16 in answer.body and b"a" * 17 not in answer.body
        assert len(answer.body) < 4096


class Threads:
    """Stands in for the worker pool: records what it was given, runs it when told."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Deferred, object, tuple]] = []

    def __call__(self, function, *args) -> Deferred:
        waiting = Deferred()
        self.jobs.append((waiting, function, args))
        return waiting

    def runAll(self) -> None:
        for waiting, function, args in self.jobs:
            waiting.callback(function(*args))


def page(size: int) -> bytes:
    return (b"<p>WebTV page text, mostly the same. " * (size // 36 + 1))[:size]


def test_large_bodies_are_compressed_in_a_worker_thread_small_ones_at_once():
    threads = Threads()
    encoder = BodyEncoder(inThread=threads)
    small = encoder.encode(classicRequest(), Response(body=page(INLINE_LIMIT)))
    assert isinstance(small, Response) and ("wtv-lzpf", "0") in small.headers
    body = page(INLINE_LIMIT + 1)
    large = encoder.encode(classicRequest(), Response(body=body, cacheKey=("big", 1)))
    assert isinstance(large, Deferred) and len(threads.jobs) == 1
    threads.runAll()
    encoded = large.result
    assert lzpf.decompress(encoded.body, len(body)) == body
    again = encoder.encode(classicRequest(), Response(body=body, cacheKey=("big", 1)))
    assert isinstance(again, Response) and again.body == encoded.body, "cached"
    huge = encoder.encode(classicRequest(), Response(body=page(MAX_COMPRESSED + 1)))
    assert isinstance(huge, Response) and huge.headers == [], "too large to compress"


def test_an_answer_compressed_in_a_thread_keeps_its_place_in_line(tmp_path):
    from tests.test_protocol import RecordingService, connect, readResponses
    threads = Threads()
    big = page(INLINE_LIMIT * 2)
    service = RecordingService([Response(body=big)])
    protocol, transport, _ = connect(service, encode=BodyEncoder(inThread=threads).encode)
    head = ("wtv-capability-flags: 1009c93bef\r\nwtv-system-version: 7181\r\n"
            "wtv-client-rom-type: US-LC2-disk-0MB-8MB\r\n")     # deflate, whose length is sent
    protocol.dataReceived(f"GET wtv-test:/big\r\n{head}\r\nGET wtv-test:/next\r\n\r\n".encode())
    assert transport.value() == b"" and len(service.requests) == 1
    threads.runAll()
    (firstHead, first), (_, second) = readResponses(transport.value())
    assert "Content-Encoding: deflate" in firstHead and zlib.decompress(first) == big
    assert second == b"<html>/next</html>"


def test_connections_are_kept_below_the_open_files_limit():
    assert connectionsThatFit(10_000, 1024) == 1024 - KEPT_FREE
    assert connectionsThatFit(100, 1024) == 100
    assert connectionsThatFit(10_000, resource.RLIM_INFINITY) == 10_000


def test_the_soft_open_files_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 300:
        pytest.skip(f"needs a finite hard limit of at least 300 open files, not {hard}")
    code = ("import resource\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit("
            "resource.RLIMIT_NOFILE)[1]))\n"
            "from wtvserv.fdlimit import raiseOpenFileLimit\n"
            "print(*raiseOpenFileLimit())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.split() == [str(hard), str(hard)]


def test_an_ipv6_interface_is_escaped_in_the_endpoint(tmp_path):
    options = tap.Options()
    options.parseOptions(["--data", str(tmp_path / "d"), "--interface", "::", "--console="])
    plugin = next(p for p in options.plugins if p.name == "wtv-1800")
    assert endpointFor(options.config, plugin) == r"tcp:1615:interface=\:\::backlog=511"
    reactor = MemoryReactorClock()
    server = tap.makeService(options, reactor=reactor)
    server.privilegedStartService()
    try:
        assert {interface for *_, interface in reactor.tcpServers} == {"::"}
    finally:
        server.stopService()


def test_request_addresses_carry_the_client_key(tmp_path):
    with inProcessServer(tmp_path) as server:
        box = TestBox(server, address="::ffff:192.0.2.44")
        box.request("wtv-1800:/preregister")
        assert server.sessions.currentKey(box.ssid, "192.0.2.44") == box.key
    assert Request("GET", "wtv-x:/", CLASSIC).address == ""
