"""
Every mistake in starting C{twistd wtvserv} is one line and a non-zero
exit: bad options, endpoints, configurations and addresses, a taken port
in the foreground and daemonized, a broken plugin (one line, the rest
run). The start line says where each service listens and what it
advertises, with a warning when the two cannot meet.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from twisted.internet import reactor as globalReactor

from tests.harness import ImmediateThreads
from tests.realserver import REPOSITORY, SERVICES, TWISTD, RealServer, freePorts
from wtvserv import __version__
from wtvserv.config import Config, ServiceConfig
from wtvserv.discovery import discoverPlugins
from wtvserv.server import StartError, WTVServer


def twistd(*args, daemon: tuple[str, ...] = (), cwd=None, timeout=30):
    """
    Run C{twistd -n wtvserv ARGS} from this checkout, every service on a free
    port; with C{daemon}, C{twistd DAEMON wtvserv ARGS} (daemonizing).
    """
    *ports, console = freePorts(len(SERVICES) + 1)
    listen = [f"--listen={name}=tcp:{port}:interface=127.0.0.1"
              for name, port in zip(SERVICES, ports, strict=True)]
    listen.append(f"--console=tcp:{console}:interface=127.0.0.1")
    head = list(daemon) if daemon else ["-n", "--pidfile="]
    command = [sys.executable, "-c", TWISTD, *head, "wtvserv", *listen, *args]
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def oneLine(result) -> str:
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output and output.count("\n") == 1, output
    return output.strip()


@pytest.fixture
def data(tmp_path):
    return ["--data", str(tmp_path / "data")]


@pytest.mark.parametrize("args, says", [
    (["--listen", "wtv-log=tcp:notaport"], "wtv-log cannot listen on tcp:notaport: not an "
                                           "endpoint description"),
    (["--listen", "wtv-log=bogus:1"], "wtv-log cannot listen on bogus:1: not an endpoint "
                                      "description (Unknown endpoint type: 'bogus')"),
    (["--listen", "wtv-log=tcp:99999"], "wtv-log cannot listen on tcp:99999: port 99999 is "
                                        "not 0 to 65535"),
    (["--listen", "wtv-log=tcp:1:interfce=127.0.0.1"], "not an endpoint description"),
    (["--lisen", "wtv-log=tcp:1"], "option --lisen not recognized"),
    (["--listen", "wtv-hom=tcp:1"], "unknown service 'wtv-hom'; found: wtv-1800,"),
    (["--config", "/nonexistent/wtvserv.toml"], "cannot read /nonexistent/wtvserv.toml: No "
                                                "such file or directory"),
    (["--host", "box.example"], "--host: 'box.example' is not an IPv4 address"),
    (["--host", "0.0.0.0"], "--host: 0.0.0.0 is not an address a box can connect to"),
    (["--interface", "everywhere"], "--interface: 'everywhere' is not an IP address"),
])
def test_each_mistake_is_one_line(data, args, says):
    assert says in oneLine(twistd(*data, *args))


@pytest.mark.parametrize("text, says", [
    ("[server\nhost = 1", "is not valid TOML: Expected ']'"),
    ("[services.wtv-hom]\nport = 1612\n", "unknown service 'wtv-hom' in [services.wtv-hom] of"),
    ('[server]\nhost = "localhost"\n', "[server] host: 'localhost' is not an IPv4 address"),
    ("[limits]\nidle_timout = 3\n", "unknown setting [limits] idle_timout"),
])
def test_each_configuration_mistake_is_one_line(data, tmp_path, text, says):
    config = tmp_path / "wtvserv.toml"
    config.write_text(text)
    assert says in oneLine(twistd(*data, "--config", str(config)))


@pytest.mark.parametrize("file, content, says", [
    ("accounts.sqlite3", b"not a database, just bytes" * 100, "file is not a database"),
    ("ticket-secret", b"short", "ticket-secret must hold exactly 32 bytes"),
])
def test_a_damaged_data_directory_is_one_line(tmp_path, file, content, says):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / file).write_bytes(content)
    (data / file).chmod(0o600)
    assert says in oneLine(twistd("--data", str(data)))


def test_a_database_from_a_newer_wtvserv_is_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    connection = sqlite3.connect(data / "accounts.sqlite3")
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    assert "schema version 99" in oneLine(twistd("--data", str(data)))


def test_twistd_wtvserv_version_prints_wtvservs_version():
    result = twistd("--version")
    assert (result.returncode, result.stdout) == (0, f"wtvserv {__version__}\n")


@pytest.fixture
def busyPort():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


def test_a_taken_port_stops_a_daemonized_start_at_once_with_one_line(tmp_path, busyPort):
    """Before: twistd without -n never returned (sys.exit inside privilegedStartService)."""
    pidfile, logfile = tmp_path / "twistd.pid", tmp_path / "twistd.log"
    started = time.monotonic()
    result = twistd("--data", str(tmp_path / "data"),
                    f"--listen=wtv-log=tcp:{busyPort}:interface=127.0.0.1",
                    daemon=(f"--pidfile={pidfile}", f"--logfile={logfile}"), timeout=20)
    assert time.monotonic() - started < 20
    assert oneLine(result) == (f"wtvserv: wtv-log cannot listen on tcp:{busyPort}:"
                               "interface=127.0.0.1: Address already in use")
    assert not pidfile.exists(), "no daemon was left running"


def test_a_daemonized_start_runs_in_the_background_and_stops_on_sigterm(tmp_path):
    """
    A SIGTERM as soon as the start line is logged stops the daemon cleanly.
    Before: the line came before twistd installed its signal handlers, and
    a SIGTERM in between killed the daemon with its pid file left behind.
    """
    pidfile, logfile = tmp_path / "twistd.pid", tmp_path / "twistd.log"
    result = twistd("--data", str(tmp_path / "data"),
                    daemon=(f"--pidfile={pidfile}", f"--logfile={logfile}"))
    assert result.returncode == 0 and result.stdout + result.stderr == ""
    pid = int(pidfile.read_text())
    try:
        deadline = time.monotonic() + 15
        while "serving" not in logfile.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert f"wtvserv {__version__} serving" in logfile.read_text()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pidfile.exists(), f"the daemon stopped and removed its pid file:\n" \
                                     f"{logfile.read_text()}"
        assert "Received SIGTERM, shutting down." in logfile.read_text()
    finally:
        _killIfRunning(pid)


def _killIfRunning(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_port_taken_after_the_check_raises_for_twistd_to_report(tmp_path, busyPort):
    """Daemonized, twistd's parent hears of exceptions only (it waited forever on an exit)."""
    services = {"wtv-log": ServiceConfig(endpoint=f"tcp:{busyPort}:interface=127.0.0.1")}
    config = Config(dataDir=tmp_path / "data", services=services)
    server = WTVServer(config, globalReactor, discoverPlugins()[0], runHere={"wtv-log"},
                       workers=ImmediateThreads())
    server.exitOnStartError = False
    try:
        with pytest.raises(StartError, match=f"wtv-log cannot listen on tcp:{busyPort}"):
            server.privilegedStartService()
    finally:
        server.stopService()


def test_a_broken_plugin_is_one_line_and_the_other_services_run(tmp_path):
    plugins = tmp_path / "broken" / "wtvserv" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "acme_broken_dropin.py").write_text("import acme_not_installed\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "broken"))
    with RealServer(tmp_path / "data", env=env) as server:
        log = server.log
    assert "Traceback" not in log
    problems = [line for line in log.splitlines() if "acme_broken_dropin" in line]
    assert len(problems) == 1 and "No module named 'acme_not_installed'" in problems[0]


def test_the_start_line_says_where_each_service_listens_and_what_it_advertises(tmp_path):
    with RealServer(tmp_path / "data", interface="0.0.0.0") as server:
        log = server.log
    [start] = [line for line in log.splitlines() if f"wtvserv {__version__} serving" in line]
    port = server.ports["wtv-1800"]
    assert f"wtv-1800 on tcp:{port}:interface=0.0.0.0 as 127.0.0.1:{port}" in start
    warnings = [line for line in log.splitlines() if "listens on every address but tells "
                "boxes to connect to 127.0.0.1" in line]
    assert len(warnings) == len(SERVICES)


def test_relative_paths_in_the_configuration_are_relative_to_its_file(tmp_path):
    folder, elsewhere = tmp_path / "etc", tmp_path / "cwd"
    folder.mkdir()
    elsewhere.mkdir()
    ports = dict(zip(SERVICES, freePorts(len(SERVICES)), strict=True))
    (folder / "wtvserv.toml").write_text(
        '[server]\ndata = "state"\n[bans]\nfile = "bans.txt"\n'
        f'[console]\nlisten = "tcp:{freePorts(1)[0]}:interface=127.0.0.1"\n'
        + "".join(f"[services.{name}]\nport = {port}\n" for name, port in ports.items()))
    (folder / "bans.txt").write_text("ssid 8112345600B0026b\n")
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    process = subprocess.Popen([sys.executable, "-c", TWISTD, "-n", "--pidfile=", "wtvserv",
                                "--config", "../etc/wtvserv.toml"], cwd=elsewhere, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (folder / "state" / "control.sock").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        banned = socket.create_connection(("127.0.0.1", ports["wtv-1800"]), timeout=5)
        with banned:
            banned.sendall(b"GET wtv-1800:/preregister\r\n"
                           b"wtv-client-serial-number: 8112345600B0026b\r\n\r\n")
            assert banned.recv(100).startswith(b"403 ")
    finally:
        process.terminate()
        process.communicate(timeout=15)
    assert (folder / "state" / "accounts.sqlite3").is_file()
    assert not (elsewhere / "state").exists()


def test_a_second_whole_server_on_one_data_directory_is_one_line(tmp_path):
    """Its control socket is taken: say so, and how to run several processes."""
    with RealServer(tmp_path / "data"):
        result = twistd("--data", str(tmp_path / "data"))
    assert "another wtvserv is running on the data directory" in oneLine(result)
    assert "--run" in result.stdout + result.stderr
