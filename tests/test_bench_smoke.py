"""
The load generator (C{bench/loadgen.py}) runs end to end on a tiny load and
prints its tables. Nothing here is timed: the figures are only checked to be
there, and the failures to be zero.
"""

import subprocess
import sys

from tests.realserver import REPOSITORY

MODES = ("fresh", "registered", "password")
COLUMNS = ("mode", "boxes", "logins", "failures", "seconds", "logins/s", "WTVP req/s",
           "p50 ms", "p95 ms", "p99 ms", "server CPU ms/login",
           "server CPU %", "server peak RSS MB", "generator CPU ms/login",
           "generator CPU %", "other CPU %")
IDLE_COLUMNS = ("idle boxes", "connected", "server RSS MB", "note")


def tables(output: str) -> list[list[dict[str, str]]]:
    """@return: each Markdown table of C{output} as a list of rows."""
    found, block = [], []
    for line in output.splitlines() + [""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip("|").split("|")])
        elif block:
            header, _, *rows = block
            found.append([dict(zip(header, row)) for row in rows])
            block = []
    return found


def runBench(script: str, *args: str) -> str:
    """Run C{bench/SCRIPT ARGS} from the repository root; @return: what it printed."""
    result = subprocess.run([sys.executable, str(REPOSITORY / "bench" / script), *args],
                            capture_output=True, text=True, timeout=120, cwd=REPOSITORY)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_loadgen_runs_every_mode_and_the_idle_measurement():
    output = runBench("loadgen.py", "--all", "--boxes", "3", "--logins", "6", "--idle", "20",
                      "--seconds", "30")
    logins, idle = tables(output)

    assert [row["mode"] for row in logins] == list(MODES)
    for row in logins:
        assert set(COLUMNS) <= set(row), row
        assert row["failures"] == "0" and row["logins"] == "6", row
        assert all(row[column] for column in COLUMNS), row
    assert set(IDLE_COLUMNS) <= set(idle[-1])
    assert idle[-1]["idle boxes"] == "20" and idle[-1]["connected"] == "20"
    assert idle[-1]["note"] == "ok"


def test_loadgen_runs_two_processes_on_postgresql_and_reports_stalls():
    from tests.postgres import requireBinaries
    requireBinaries()
    output = runBench("loadgen.py", "--mode", "password", "--boxes", "4", "--logins", "8",
                      "--storage", "postgresql", "--processes", "2")
    [[row]] = tables(output)
    assert row["failures"] == "0" and row["logins"] == "8", row
    # A tiny run may use less than one clock tick of the database: only its presence is sure.
    assert float(row["longest stall ms"]) >= 0 and float(row["database CPU ms/login"]) >= 0, row
    assert "storage: postgresql, 2 server process(es)" in output


def test_burst_runs_for_each_backlog_and_counts_what_the_kernel_dropped():
    output = runBench("burst.py", "--boxes", "5", "--rounds", "2", "--backlog", "50",
                      "--backlog", "511")
    [rows] = tables(output)
    assert [row["backlog"] for row in rows] == ["50", "511"]
    for row in rows:
        assert row["failures"] == "0" and row["logins"] == "10", row
        assert row["listen overflows"].isdigit() and row["p99 ms"], row


def test_the_codec_crypto_and_login_benchmarks_run():
    """bench_lzpf, bench_crypto, login_python and bench_window run and print their figures."""
    for script, args, expected in (
            ("bench_lzpf.py", ["--runs", "1"], "LZPF ratio"),
            ("bench_crypto.py", [], "RC4 throughput"),
            ("login_python.py", ["--boxes", "3", "--repeat", "1"], "server Python per login"),
            ("bench_window.py", ["--events", "50"], "log reports in all, limit 10,000: check")):
        output = runBench(script, *args)
        assert expected in output, output


def test_password_flood_runs_and_the_honest_box_logs_in_meanwhile():
    output = runBench("password_flood.py", "--guesses", "20", "--victims", "2",
                      "--addresses", "2", "--seconds", "1")
    assert "honest password logins, under flood: " in output
    assert ", 0 failed;" in output.split("under flood: ")[1].split("\n")[0]
    assert "20 guesses at 2 victims from 2 addresses" in output
    assert "tracebacks in the server log: 0" in output


def test_the_console_benchmark_runs_with_and_without_a_watcher():
    output = runBench("console_watch.py", "--boxes", "2", "--logins", "20", "--every", "0.05")
    runs, = tables(output)
    assert [row["run"] for row in runs] == ["nobody watching", "console watched"]
    assert all(row["failures"] == "0" and row["logins"] == "20" for row in runs), runs
    assert "server CPU per console page" in output and "logins/s watched / alone" in output


def test_the_shared_state_costs_are_measured():
    from tests.postgres import requireBinaries
    requireBinaries()
    output = runBench("shared_costs.py", "--events", "2000", "--keys", "200")
    assert "SharedWindow" in output and "5000 keys counted" in output, output
    assert "challenge answered (per login)" in output and "other CPU %" in output, output


def test_interleave_compares_checkouts_round_by_round(tmp_path):
    """A link to this checkout stands in for another one: each runs loadgen in turn."""
    other = tmp_path / "other"
    other.symlink_to(REPOSITORY)
    output = runBench("interleave.py", str(other), "--rounds", "2",
                      "--", "--mode", "registered", "--boxes", "2", "--logins", "40")

    runs = [line for line in output.splitlines() if line.startswith("round ")]
    assert [line.split(" ms ")[0].rsplit(":", 1)[0] for line in runs] == [
        f"round 1 {REPOSITORY.name} registered", "round 1 other registered",
        f"round 2 {REPOSITORY.name} registered", "round 2 other registered"]
    assert all("(failures 0," in line for line in runs), runs
    [comparison] = tables(output)
    assert [row["checkout"] for row in comparison] == [REPOSITORY.name, "other"]
    for row in comparison:
        figures = [float(figure) for figure in row["server CPU ms/login"].split(", ")]
        assert len(figures) == 2 and all(figure > 0 for figure in figures), row
        assert float(row["median"]) > 0
    assert comparison[0][f"median / {REPOSITORY.name}'s"] == "1.00"
