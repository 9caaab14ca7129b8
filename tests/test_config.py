"""
Tests for L{wtvserv.config} and the C{twistd wtvserv} options.
"""

from pathlib import Path

import pytest

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
    "[services.wtv-log]\nmax_body = 0\n",
    "[services.wtv-log]\nmax_body = \"big\"\n",
    "[limits]\nipv6_prefix = 129\n",
    "[storage]\nurl = \"mysql://nope\"\n",
    "[storage]\npool_size = 0\n",
    "[storage]\nconnection_timeout = 0\n",
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
def test_bad_options_end_the_start_with_one_line(argv):
    with pytest.raises(SystemExit) as exited:
        Options().parseOptions(argv)
    message = str(exited.value)
    assert message.startswith("wtvserv: ") and "\n" not in message


def test_limits_ssid_and_ban_settings_are_read(tmp_path):
    path = tmp_path / "limits.toml"
    path.write_text('[limits]\nheader_timeout = 10\nmin_body_rate = 250\n'
                    'connections_per_address = 8\nexempt_addresses = ["10.0.0.0/8"]\n'
                    '[login]\nfailures_per_address = 7\nwindow = 300\n'
                    '[register]\nper_address = 3\n[logs]\nper_address = 9\nfull_ssids = true\n'
                    '[ssids]\nvalidate = false\nexempt_prefixes = ["EMU"]\n'
                    '[bans]\nfile = "/etc/wtvserv/bans"\n')
    config = loadConfig(path)
    assert (config.headerTimeout, config.minBodyRate, config.connectionsPerAddress) == (10, 250, 8)
    assert config.exemptAddresses == ["10.0.0.0/8"]
    assert (config.loginFailuresPerAddress, config.loginWindow) == (7, 300)
    assert (config.registrationsPerAddress, config.logsPerAddress) == (3, 9)
    assert config.logFullSSIDs is True and config.validateSSIDs is False
    assert config.exemptSSIDPrefixes == ["EMU"]
    assert config.banFile == Path("/etc/wtvserv/bans")


@pytest.mark.parametrize("text", [
    "[limits]\nexempt_addresses = ['not an address']\n",
    "[limits]\nexempt_addresses = '10.0.0.0/8'\n",
    "[ssids]\nvalidate = 'no'\n",
    "[limits]\nidle_timeout = 0\n",
    "[limits]\nmax_connections = true\n",
    "[login]\nname_server = 'dns.example'\n",
    "[login]\nname_server = '::1'\n",
])
def test_bad_limit_settings_are_refused(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        loadConfig(path)


def test_a_name_server_is_read(tmp_path):
    path = tmp_path / "wtvserv.toml"
    path.write_text("[login]\nname_server = '10.0.0.53'\n")
    assert loadConfig(path).nameServer == "10.0.0.53"
    assert loadConfig(None).nameServer is None


class _Plugin:
    name, defaultPort = "wtv-log", 1609


@pytest.mark.parametrize("endpoint, expected", [
    (None, "tcp:1609:interface=127.0.0.1:backlog=511"),
    ("tcp:2000:interface=0.0.0.0", "tcp:2000:interface=0.0.0.0:backlog=511"),
    ("tcp:2000:backlog=64", "tcp:2000:backlog=64"),
    ("unix:/run/wtv.sock", "unix:/run/wtv.sock:backlog=511"),
])
def test_listeners_get_a_backlog_a_burst_of_boxes_fits_in(endpoint, expected):
    """The kernel's default of 50 overflows when 100 boxes power on at once."""
    from wtvserv.server import endpointFor
    config = loadConfig(None)
    config.service("wtv-log").endpoint = endpoint
    assert endpointFor(config, _Plugin) == expected


def test_the_backlog_is_configurable(tmp_path):
    path = tmp_path / "wtvserv.toml"
    path.write_text("[server]\nlisten_backlog = 1024\n")
    from wtvserv.server import endpointFor
    assert endpointFor(loadConfig(path), _Plugin).endswith(":backlog=1024")


def test_an_unreachable_database_stops_the_start_with_one_line(tmp_path):
    """An operator's wrong [storage] url: one line, a non-zero exit, no traceback."""
    import subprocess
    import sys
    config = tmp_path / "c.toml"
    config.write_text(
        '[storage]\nurl = "postgresql://ann:sekrit@127.0.0.1:1/x?connect_timeout=1"\n'
        'connection_timeout = 1\n')
    result = subprocess.run(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "wtvserv", "--config", str(config), "--data", str(tmp_path / "d"),
         "--console="],
        capture_output=True, text=True, timeout=60, cwd=REPOSITORY)
    assert result.returncode != 0
    assert "wtvserv: cannot reach the database postgresql://ann:***@127.0.0.1:1/x" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "sekrit" not in result.stdout + result.stderr
