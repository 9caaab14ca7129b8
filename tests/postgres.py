"""
A throwaway PostgreSQL server for tests, as an operator would run one: the
installed server binaries (Debian's C{postgresql} package puts them in
C{/usr/lib/postgresql/VERSION/bin}; C{pg_config --bindir}, or C{PATH}),
C{initdb} into a temporary folder and C{pg_ctl start} on a free loopback
port, its socket in that folder. As root, which C{initdb} refuses, the
server runs as the C{postgres} user the package creates.

Without the binaries the tests using it skip, saying so, unless
C{WTVSERV_REQUIRE_POSTGRESQL} is set (as C{.ci/run} sets it): then they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.realserver import freePorts

SUPERUSER = "wtvserv"


def serverBinaries() -> Path | None:
    """@return: the folder holding C{initdb} and C{pg_ctl}, or L{None}."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def requireBinaries() -> Path:
    """@return: L{serverBinaries}, or skip (fail when they are required)."""
    binaries = serverBinaries()
    if binaries is None:
        message = ("PostgreSQL server binaries not found (apt-get install postgresql); "
                   "the PostgreSQL tests need them")
        if os.environ.get("WTVSERV_REQUIRE_POSTGRESQL"):
            pytest.fail(message)
        pytest.skip(message)
    return binaries


class PostgresServer:
    """One cluster in a temporary folder, trusting local connections."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="wtvserv-pg-"))
        self.port = freePorts(1)[0]
        self._runAs = None
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._runAs = "postgres"

    def _run(self, *command: str) -> None:
        if self._runAs:
            command = ("runuser", "-u", self._runAs, "--", *command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        data = self.folder / "data"
        self._run(str(self.binaries / "initdb"), "-D", str(data), "-U", SUPERUSER,
                  "-A", "trust", "--no-sync", "-E", "UTF8")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
                   " -c fsync=off -c max_connections=200")
        self._run(str(self.binaries / "pg_ctl"), "-D", str(data), "-l",
                  str(self.folder / "server.log"), "-o", options, "-w", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def newDatabase(self) -> str:
        """@return: the URL of a database just created, empty."""
        import psycopg
        name = "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def pids(self) -> list[int]:
        """@return: the server's processes: the postmaster and its children."""
        postmaster = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rpartition(")")[2].split()[1]) == postmaster:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        try:
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.folder / "data"),
                      "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
