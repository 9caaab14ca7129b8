"""
New virtual environments built with no network, for tests that install
wtvserv and plugins as an operator would.

The new environment has no pip or setuptools of its own: a path file lends
it this environment's installed packages (pip, setuptools, Twisted ...),
after its own site-packages, and pip installs the projects with no index,
no build isolation and no dependency resolution, so nothing is fetched and
nothing installed here is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.realserver import REPOSITORY

BORROWED = "borrowed-from-the-test-environment.pth"


def sourceCopy(source: Path, target: Path) -> Path:
    """
    @return: a copy of a source tree without anything built, to install
        from (pip builds in the tree it is given, leaving C{build/} behind).
    """
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "*.so", "__pycache__", ".hypothesis",
        ".pytest_cache", "wtvserv-data", "_trial_temp"))
    return target


def copyOfTheCheckout(target: Path) -> Path:
    """@return: a copy of this checkout's source, without anything built."""
    return sourceCopy(REPOSITORY, target)


def offlineEnvironment(base: Path, *projects: Path, env: dict | None = None,
                       verbose: bool = False) -> tuple[str, str]:
    """
    Make C{base/venv} and pip-install C{projects} (source folders, which pip
    builds in: give it copies, L{sourceCopy}) into it.

    @param env: the environment pip runs in (C{PYTHONPATH} is dropped).
    @return: the new environment's python, and pip's output.
    """
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    Path(own, BORROWED).write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-m", "pip", "install", "--isolated", "--no-index", "--no-build-isolation",
         "--no-deps", "-v" if verbose else "-q", *map(str, projects)],
        capture_output=True, text=True, timeout=600, env=env, cwd=base)
    assert result.returncode == 0, result.stdout + result.stderr
    return python, result.stdout + result.stderr
