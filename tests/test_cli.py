"""
The C{wtvserv} command as a whole: its subcommands and old names, its
version, and where it looks for the data directory (which it never creates).
"""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPOSITORY
from wtvserv import __version__
from wtvserv.cli.aliases import ban
from wtvserv.cli.main import main


def runCommand(*args, cwd=None, input=None):
    """C{python -m wtvserv.cli ARGS} from this checkout, as an operator runs it."""
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    return subprocess.run([sys.executable, "-m", "wtvserv.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, input=input, timeout=60)


def test_wtvserv_version_prints_wtvservs_version():
    result = runCommand("--version")
    assert result.returncode == 0 and result.stdout == f"wtvserv {__version__}\n"


def test_the_old_command_names_are_the_new_subcommands(tmp_path, capsys):
    assert ban(["--data", str(tmp_path), "add", "address", "192.0.2.9"]) == 0
    assert main(["ban", "--data", str(tmp_path), "list"]) == 0
    assert main(["--data", str(tmp_path), "ban", "list"]) == 0
    assert capsys.readouterr().out.splitlines().count("address 192.0.2.9") == 2


@pytest.mark.parametrize("command", [
    ["ban", "add", "address", "192.0.2.1"], ["ban", "list"], ["logs", "list"],
    ["switch", "maintenance", "on"], ["switch", "show"], ["status"], ["accounts", "list"],
])
def test_a_data_directory_that_does_not_exist_is_refused_and_not_created(tmp_path, command):
    missing = tmp_path / "nonexistent"
    result = runCommand(command[0], "--data", str(missing), *command[1:])
    assert result.returncode == 1
    assert result.stderr == f"wtvserv: no data directory at {missing} " \
                            "(name the server's with --data DIR)\n"
    assert not missing.exists()


def test_the_data_directory_defaults_to_the_servers_default(tmp_path):
    (tmp_path / "wtvserv-data").mkdir()
    result = runCommand("ban", "add", "ssid", "8112345600B0026b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "wtvserv-data" / "bans.txt").read_text() == "ssid 8112345600b0026b\n"


def test_without_a_subcommand_the_usage_is_shown_and_the_exit_is_2():
    result = runCommand()
    assert result.returncode == 2 and "usage: wtvserv" in result.stderr


def test_the_box_fetches_a_url_after_logging_in_and_prints_its_body(tmp_path):
    from tests.realserver import RealServer

    with RealServer(tmp_path / "data") as server:
        result = runCommand("box", f"127.0.0.1:{server.ports['wtv-1800']}", "--username",
                            "fetcher", "--get", "wtv-home:/home")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<html>") and "fetcher" in result.stdout
    assert "home reached after" in result.stderr, "the steps go to stderr"
