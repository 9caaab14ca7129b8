"""
Tests for the C{wtvserv-logs} command, L{wtvserv.cli.logs}.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wtvserv.cli.aliases import logs as main
from wtvserv.cli.logs import hex_dump, looks_like_text, render_body
from wtvserv.logstore import LOG_DB_NAME, LogStore

REPOSITORY = Path(__file__).resolve().parent.parent
SSID = "91a2b3c4d5e6f708"
OTHER_SSID = "81f00dfeedbeef01"
# 2023-11-14 22:13:20 UTC
START = 1_700_000_000


@pytest.fixture
def data(tmp_path):
    """A data directory holding three reports, ids 1 to 3."""
    times = iter([START, START + 60, START + 120])
    store = LogStore(tmp_path / LOG_DB_NAME, max_body=8,
                           clock=lambda: next(times))
    store.add(SSID, "log", {"type": "log", "note": "bell\x07"},
              b"line one\r\nline\ttwo \xff\x1b[2J\r\n")
    store.add(OTHER_SSID, "crash", {}, b"\x00\x01\x02binary\xfe\xff")
    store.add(SSID, "phone-log", {}, b"")
    store.close()
    return tmp_path


def test_list_prints_one_line_per_report_newest_first(data, capsys):
    assert main(["--data", str(data), "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"3  2023-11-14 22:15:20Z  {SSID}  phone-log  0 bytes",
        f"2  2023-11-14 22:14:20Z  {OTHER_SSID}  crash  11 bytes (truncated)",
        f"1  2023-11-14 22:13:20Z  {SSID}  log  26 bytes (truncated)",
    ]


def test_list_filters_by_ssid_and_limits(data, capsys):
    assert main(["--data", str(data), "list", "--ssid", SSID,
                 "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"3  2023-11-14 22:15:20Z  {SSID}  phone-log  0 bytes"]


def test_show_prints_fields_and_text_with_non_printables_escaped(
        tmp_path, capsys):
    store = LogStore(tmp_path / LOG_DB_NAME, clock=lambda: START)
    log_id = store.add(SSID, "log", {"type": "log", "note": "bell\x07"},
                       b"line one\r\nline\ttwo \xff\x1b[2J\r\n")
    store.close()

    assert main(["--data", str(tmp_path), "show", str(log_id)]) == 0
    assert capsys.readouterr().out == (
        f"1  2023-11-14 22:13:20Z  {SSID}  log  26 bytes\n"
        "type=log\n"
        "note=bell\\x07\n"
        "\n"
        "line one\n"
        "line\ttwo \\xff\\x1b[2J\n")


def test_show_prints_a_binary_body_as_a_hex_dump(data, capsys):
    assert main(["--data", str(data), "show", "2"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"2  2023-11-14 22:14:20Z  {OTHER_SSID}  crash  11 bytes (truncated)\n"
        "\n"
        "00000000  00 01 02 62 69 6e 61 72"
        + " " * 24 + "  |...binar|\n")


def test_show_of_an_unknown_id_exits_2(data, capsys):
    assert main(["--data", str(data), "show", "99"]) == 1
    assert "no report with id 99" in capsys.readouterr().err


def test_a_missing_data_directory_exits_2(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["--data", str(missing), "list"]) == 1
    assert "no data directory" in capsys.readouterr().err
    assert not missing.exists()


def test_a_data_directory_without_a_log_database_exits_2_untouched(
        tmp_path, capsys):
    """The command never creates the database (which could then belong to
    the wrong user)."""
    assert main(["--data", str(tmp_path), "list"]) == 1
    assert "no log database" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_command_is_a_usage_error(data, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--data", str(data)])
    assert raised.value.code == 2


def test_text_detection():
    assert looks_like_text(b"plain text\r\n")
    assert looks_like_text(b"")
    assert looks_like_text(b"mostly text with one odd byte \xff")
    assert not looks_like_text(b"text with a NUL\x00")
    assert not looks_like_text(bytes(range(0x80, 0xA0)))


def test_a_hex_dump_has_offsets_hex_and_ascii():
    assert hex_dump(bytes(range(0x41, 0x52))) == (
        "00000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50"
        "  |ABCDEFGHIJKLMNOP|\n"
        "00000010  51" + " " * 45 + "  |Q|\n")


def test_an_empty_body_renders_as_nothing():
    assert render_body(b"") == ""


def test_the_module_runs_as_a_program(data):
    """C{python -m wtvserv.cli logs} lists the reports."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "wtvserv.cli", "logs", "--data", str(data), "list"],
        capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert result.stdout.startswith("3  2023-11-14 22:15:20Z")
