"""
Run the real C{twistd -n wtvserv} process on free loopback ports, for
end-to-end tests, the load generator and benchmarks.
"""

from __future__ import annotations

import errno
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SERVICES = ("wtv-1800", "wtv-head-waiter", "wtv-register", "wtv-log", "wtv-home", "wtv-star")
TWISTD = "from twisted.scripts.twistd import run; run()"
#: Every test box connects from 127.0.0.1, so by default the per-address
#: caps and rates do not apply to loopback; tests of those limits pass
#: their own configuration.
LOOPBACK_EXEMPT = '[limits]\nexempt_addresses = ["127.0.0.0/8", "::1"]\n'


#: Where test servers listen: below the kernel's ephemeral range (32768 and
#: up on Linux), from which every outgoing connection takes its local port.
#: A port handed out there and closed again could be taken by one of those
#: (the start-up checks below connect to the ports) before twistd binds it.
_ALL_TEST_PORTS = range(20_000, 32_000)


def _workersPorts(ports: range, environ=os.environ) -> range:
    """
    The share of C{ports} of this pytest-xdist worker (all of them outside
    xdist): each worker remembers only the ports it handed out itself, so
    two workers must never pick from the same ones.
    """
    worker, count = environ.get("PYTEST_XDIST_WORKER"), environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count:
        return ports
    index, size = int(worker.removeprefix("gw")), len(ports) // int(count)
    return ports[index * size:(index + 1) * size]


_TEST_PORTS = _workersPorts(_ALL_TEST_PORTS)


#: The ports handed out lately, in this process: a server made but not yet
#: started holds none of its ports, so the next one made must not get them.
#: At most half of this worker's share, so that some are always left.
_handedOut: deque[int] = deque(maxlen=min(2_000, len(_TEST_PORTS) // 2))


def freePorts(count: int) -> list[int]:
    """
    Ports no socket of this machine holds now, on any address, IPv4 or
    IPv6, and none of the last ones handed out here.
    """
    ports: list[int] = []
    while len(ports) < count:
        port = random.choice(_TEST_PORTS)
        if port not in ports and port not in _handedOut and _bindable(port):
            ports.append(port)
    _handedOut.extend(ports)
    return ports


def _bindable(port: int) -> bool:
    """Whether C{port} is free on every IPv4 and IPv6 address (IPv6 where there is any)."""
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
    return True


class RealServer:
    """
    One C{twistd -n wtvserv} process. C{ports} maps service names to the
    loopback ports it listens on; C{log} is everything it printed.
    """

    def __init__(self, dataDir: Path, services=SERVICES, extraArgs=(), env=None,
                 ports: dict[str, int] | None = None, python: str = sys.executable,
                 fromCheckout: bool = True, listening: tuple[str, ...] | None = None,
                 config: str | None = LOOPBACK_EXEMPT, interface: str | None = None,
                 openFiles: int | None = None, checkout: Path = REPOSITORY,
                 hosts: dict[str, str] | None = None) -> None:
        """
        @param listening: the services this process runs (C{--run}); the
            others are only advertised. L{None}: all of them.
        @param python: the interpreter to run twistd with.
        @param fromCheckout: put C{checkout} (this one by default) first on
            C{PYTHONPATH}; when false, the process runs from the data
            directory's parent and sees only what is installed for C{python}.
        @param config: TOML written beside the data directory and passed
            with C{--config}; L{None} for none. Ignored when C{extraArgs}
            name a configuration file.
        @param interface: listen there, given with C{--interface} and the
            ports in the configuration, rather than one C{--listen} per
            service on 127.0.0.1.
        @param openFiles: the soft and hard C{RLIMIT_NOFILE} the process
            starts with, when not the test's own.
        @param checkout: the source tree run with C{fromCheckout} (another
            commit's worktree, for a benchmark comparing the two).
        @param hosts: with C{interface}: the address each service named
            here is advertised at (C{[services.NAME] host}), as in a
            deployment over several hosts.
        """
        self.checkout = Path(checkout)
        self.interface = interface
        self.openFiles = openFiles
        self.python = python
        self.fromCheckout = fromCheckout
        self.checkout = Path(checkout)
        self.dataDir = Path(dataDir)
        self.services = tuple(services)
        self.ports = ports or dict(zip(self.services, freePorts(len(self.services))))
        self.consolePort = freePorts(1)[0]
        self.extraArgs = list(extraArgs)
        self.listening = tuple(self.ports) if listening is None else listening
        for name in () if listening is None else listening:
            self.extraArgs += ["--run", name]
        self.env = env
        self.process: subprocess.Popen | None = None
        self.logPath = self.dataDir.parent / f"{self.dataDir.name}-twistd.log"
        if interface is not None:
            self.extraArgs += ["--interface", interface]
            config = (config or "") + "".join(
                f"[services.{name}]\nport = {port}\n"
                + (f'host = "{hosts[name]}"\n' if name in (hosts or {}) else "")
                for name, port in self.ports.items())
        if config is not None and "--config" not in self.extraArgs:
            self.configPath = self.dataDir.parent / f"{self.dataDir.name}.toml"
            self.dataDir.parent.mkdir(parents=True, exist_ok=True)
            self.configPath.write_text(config)
            self.extraArgs += ["--config", str(self.configPath)]

    @property
    def consoleURL(self) -> str:
        """Where this process's web console is (when it serves one)."""
        return f"http://127.0.0.1:{self.consolePort}"

    def consoleSignInLink(self) -> str:
        """The one-time sign-in link the server wrote, while no console password is set."""
        from wtvserv.console.access import LINK_FILE
        return (self.dataDir / LINK_FILE).read_text().strip()

    @property
    def address(self) -> str:
        """Where a client reaches this process's services."""
        if self.interface in (None, "0.0.0.0", "::", ""):
            return "127.0.0.1"
        return self.interface

    def command(self) -> list[str]:
        args = [self.python, "-c", TWISTD, "-n", "--pidfile=", "wtvserv",
                "--data", str(self.dataDir), "--host", "127.0.0.1",
                f"--console=tcp:{self.consolePort}:interface=127.0.0.1"]
        if self.interface is None:
            for name, port in self.ports.items():
                args += ["--listen", f"{name}=tcp:{port}:interface=127.0.0.1"]
        return args + self.extraArgs

    def _workingDirectory(self) -> Path | None:
        """Where twistd runs: C{python -c} imports from there first."""
        if not self.fromCheckout:
            return self.dataDir.parent
        return None if self.checkout == REPOSITORY else self.checkout

    def _limitOpenFiles(self) -> None:
        """In the child, before twistd runs: start with C{openFiles} open files at most."""
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.openFiles, self.openFiles))

    def start(self, timeout: float = 20.0) -> RealServer:
        env = dict(os.environ if self.env is None else self.env)
        if self.fromCheckout:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(self.checkout), env.get("PYTHONPATH")]))
        else:
            env.pop("PYTHONPATH", None)
        self.dataDir.parent.mkdir(parents=True, exist_ok=True)
        self._logFile = open(self.logPath, "ab")
        logStart = self._logFile.tell()
        self.process = subprocess.Popen(self.command(), stdout=self._logFile,
                                        stderr=subprocess.STDOUT, env=env,
                                        cwd=self._workingDirectory(),
                                        preexec_fn=self._limitOpenFiles if self.openFiles else None)
        deadline = time.monotonic() + timeout
        waiting = {self.ports[name] for name in self.listening}
        # Another commit's worktree (a benchmark's) may log no start line.
        startLine = self.checkout == REPOSITORY
        while waiting or (startLine and not self._saidServing(logStart)):
            if self.process.poll() is not None:
                raise RuntimeError(f"twistd exited with {self.process.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"twistd did not start in time:\n{self.log}")
            for port in list(waiting):
                try:
                    socket.create_connection((self.address, port), timeout=0.2).close()
                    waiting.discard(port)
                except OSError:
                    pass
            time.sleep(0.05)
        return self

    def _saidServing(self, logStart: int) -> bool:
        """
        Whether this start logged its start line: the reactor runs, with
        twistd's signal handlers (listening comes before).
        """
        with open(self.logPath, "rb") as logFile:
            logFile.seek(logStart)
            return b" serving " in logFile.read()

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._logFile.close()
        code, self.process = self.process.returncode, None
        return code

    @property
    def log(self) -> str:
        try:
            return self.logPath.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> RealServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def kill(self, timeout: float = 10.0) -> int | None:
        """
        Crash the process: SIGKILL (no shutdown code runs, nothing is
        flushed or closed), then reap it.

        @return: its exit status (C{-9} when the signal killed it), or
            L{None} when it was not running.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout)
        self._logFile.close()
        code, self.process = self.process.returncode, None
        return code


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send C{data}, read one response (headers and Content-length bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while b"\n\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
        head, _, body = received.partition(b"\n\n")
        length = int(head.split(b"Content-length: ")[1].split(b"\n")[0])
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\n\n" + body


def secureExchange(port: int, ssid: str, ticket: str, keys: tuple[bytes, bytes],
                   request: bytes, incarnation: int = 77,
                   timeout: float = 5.0) -> tuple[bytes, bytes, bool]:
    """
    Open a SECURE ON connection as box C{ssid} with its C{ticket} and
    session C{keys}, send the encrypted C{request}, and read the answer.

    @return: the response head, its decrypted body, and whether the server
        closed the connection after it.
    """
    from wtvserv.crypto.rc4 import BoxStreams
    streams = BoxStreams(*keys, incarnation)
    block = (f"SECURE ON\r\nwtv-client-serial-number: {ssid}\r\nwtv-ticket: {ticket}\r\n"
             f"wtv-encryption: true\r\nwtv-incarnation: {incarnation}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(block + streams.encrypt(request))
        received = b""
        while b"\n\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\n\n")
        length = int(head.split(b"Content-length: ")[1].split(b"\n")[0]) if head else 0
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        return head, streams.decrypt(body), closed
