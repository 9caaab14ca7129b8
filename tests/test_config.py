"""
Tests for L{wtvserv.config} and the C{twistd wtvserv} options.
"""

from pathlib import Path

import pytest
from twisted.python.usage import UsageError

from tests.realserver import REPOSITORY
from wtvserv.config import ConfigError, loadConfig
from wtvserv.tap import Options


def test_the_example_configuration_loads():
    config = loadConfig(REPOSITORY / "examples" / "wtvserv.toml")
    assert config.ticketLifetime == 86400
    assert config.service("wtv-log").port == 1609


def test_no_file_gives_loopback_defaults():
    config = loadConfig(None)
    assert (config.host, config.interface) == ("127.0.0.1", "127.0.0.1")


@pytest.mark.parametrize("text", [
    "[server]\nhost = 5\n",
    "[tickets]\nlifetime = -1\n",
    "[nonsense]\nx = 1\n",
    "[services.wtv-log]\nport = 'many'\n",
    "not toml at all [",
])
def test_bad_files_raise_a_config_error_saying_why(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        loadConfig(path)


def test_options_override_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nhost = "10.1.1.1"\ndata = "x"\n')
    options = Options()
    options.parseOptions(["--config", str(path), "--host", "192.0.2.7", "--data", str(tmp_path / "d"),
                          "--listen", "wtv-log=tcp:11609:interface=127.0.0.1",
                          "--disable", "wtv-home"])
    config = options.config
    assert config.host == "192.0.2.7"
    assert config.dataDir == Path(tmp_path / "d")
    assert config.service("wtv-log").endpoint == "tcp:11609:interface=127.0.0.1"
    assert config.service("wtv-home").enabled is False


@pytest.mark.parametrize("argv", [
    ["--listen", "wtv-log"],
    ["--listen", "nope=tcp:1"],
    ["--listen", "wtv-nothing=tcp:1"],
    ["--run", "wtv-nothing"],
])
def test_bad_options_are_usage_errors(argv):
    with pytest.raises(UsageError):
        Options().parseOptions(argv)
