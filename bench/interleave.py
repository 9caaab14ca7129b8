"""
Two or more versions of the server compared under load: L{loadgen} run in
each checkout in turn, round after round, its server CPU per login
gathered per mode (not a test).

On a shared VM the same code gives CPU figures 15 % apart from one minute
to the next, as the host's load changes, which is more than most changes
save. Runs taken in turns share the machine's good and bad minutes, so
their medians compare where single runs do not. Run from the repository
root, giving the other checkouts (git worktrees, say) to set against this
one::

    python bench/interleave.py ../wt-before --rounds 3
    python bench/interleave.py ../wt-before ../wt-last -- --mode registered --logins 4000

Each checkout runs its own C{bench/loadgen.py} with its own
C{.venv/bin/python} when it has one (so with its own built accelerators),
else with this interpreter. Arguments after C{--} go to every loadgen run
(C{--mode registered --mode fresh} unless given). It prints each run as it
ends, then per mode and checkout the runs, their median and the median's
ratio to this checkout's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CPU = "server CPU ms/login"
DEFAULT_LOADGEN = ["--mode", "registered", "--mode", "fresh"]


def interpreter(checkout: Path) -> str:
    own = checkout / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def rows(output: str) -> list[dict[str, str]]:
    """The rows of the first table in loadgen's C{output}, by column name."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    if len(lines) < 3:
        raise SystemExit(f"interleave: no table in loadgen's output:\n{output[-2000:]}")
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    names = cells[0]
    return [dict(zip(names, row)) for row in cells[2:] if len(row) == len(names)]


def run(checkout: Path, loadgenArguments: list[str]) -> list[dict[str, str]]:
    done = subprocess.run([interpreter(checkout), "bench/loadgen.py", *loadgenArguments],
                          cwd=checkout, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"interleave: loadgen failed in {checkout}:\n{done.stderr[-2000:]}")
    return rows(done.stdout)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ours, loadgenArguments = argv, []
    if "--" in argv:
        split = argv.index("--")
        ours, loadgenArguments = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("others", nargs="+", type=Path, help="checkouts to compare with this one")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(ours)
    checkouts = [REPOSITORY] + [other.absolute() for other in options.others]
    for checkout in checkouts:
        if not (checkout / "bench" / "loadgen.py").is_file():
            raise SystemExit(f"interleave: {checkout} has no bench/loadgen.py")
    figures: dict[tuple[str, Path], list[float]] = {}
    for number in range(1, options.rounds + 1):
        for checkout in checkouts:
            for row in run(checkout, loadgenArguments or DEFAULT_LOADGEN):
                figures.setdefault((row["mode"], checkout), []).append(float(row[CPU]))
                print(f"round {number} {checkout.name} {row['mode']}: {row[CPU]} ms "
                      f"(failures {row['failures']}, other CPU {row.get('other CPU %', '?')} %)",
                      flush=True)
    print(f"\n| mode | checkout | {CPU} | median | median / {REPOSITORY.name}'s |")
    print("|---|---|---|---|---|")
    for mode in dict.fromkeys(mode for mode, _ in figures):
        base = statistics.median(figures[mode, REPOSITORY])
        for checkout in checkouts:
            runs = figures.get((mode, checkout), [])
            if runs:
                median = statistics.median(runs)
                print(f"| {mode} | {checkout.name} | {', '.join(f'{r:.2f}' for r in runs)} "
                      f"| {median:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
