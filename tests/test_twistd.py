"""
The real C{twistd -n wtvserv} process: it starts on free loopback ports with
a temporary data directory and answers WTVP on each port.
"""

import re
import socket
import subprocess
import sys

import pytest
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins

from tests.realserver import REPOSITORY, TWISTD, RealServer, exchange

STATUS_LINE = re.compile(rb"^\d{3} [^\n]+\nConnection: (Keep-Alive|close)\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("twistd") / "data") as running:
        yield running


def test_the_twistd_dropin_is_discoverable():
    assert "wtvserv" in {maker.tapname for maker in getPlugins(IServiceMaker)}


def test_every_port_answers_a_plain_get_with_well_formed_wtvp(server):
    for name, port in server.ports.items():
        answer = exchange(port, f"GET {name}:/no-such-page\r\n\r\n".encode())
        assert STATUS_LINE.match(answer), (name, answer)
        head, _, body = answer.partition(b"\n\n")
        assert int(re.search(rb"Content-length: (\d+)", head).group(1)) == len(body)
        assert b"HTTP/" not in head and b"\r" not in head


def test_a_request_for_another_service_on_a_port_gets_a_clear_error(server):
    answer = exchange(server.ports["wtv-log"], b"GET wtv-home:/home\r\n\r\n")
    assert answer.startswith(b"400 wtv-log cannot serve that address.\n")


def test_the_error_for_another_service_repeats_none_of_the_request(server):
    """Not even a service name: a box's bytes never come back as text."""
    answer = exchange(server.ports["wtv-register"], "GET wtv-\xe4zq\xeewaiter:/login\r\n\r\n"
                      .encode("latin-1"))
    head = answer.partition(b"\n\n")[0]
    assert head.startswith(b"400 wtv-register cannot serve that address.\n")
    assert b"zq" not in answer and b"\xe4" not in answer


def test_garbage_gets_an_error_and_the_process_keeps_serving(server):
    answer = exchange(server.ports["wtv-head-waiter"], bytes(range(256)) + b"\r\n\r\n")
    assert answer.startswith(b"400 ")
    answer = exchange(server.ports["wtv-1800"],
                      b"GET wtv-1800:/preregister\r\nwtv-client-serial-number: 8112345600B0026b\r\n\r\n")
    assert answer.startswith(b"200 OK\n")
    assert b"wtv-initial-key: " in answer


def test_the_ticket_secret_is_readable_only_by_its_owner(server):
    assert (server.dataDir / "ticket-secret").stat().st_mode & 0o077 == 0


def test_a_busy_port_fails_the_start_with_a_clear_message(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    try:
        server = RealServer(tmp_path / "data")
        server.ports["wtv-log"] = busy
        with pytest.raises(RuntimeError) as caught:
            server.start(timeout=15)
        assert f"wtv-log cannot listen on tcp:{busy}" in str(caught.value)
        assert "Traceback" not in str(caught.value)
    finally:
        holder.close()


def test_help_lists_the_options_and_the_discovered_services(tmp_path):
    output = subprocess.run([sys.executable, "-c", TWISTD, "wtvserv", "--help"],
                            capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": "."}, cwd=REPOSITORY).stdout
    for text in ("--data", "--config", "--listen", "--host", "wtv-head-waiter", "wtv-1800"):
        assert text in output

