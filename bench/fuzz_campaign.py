"""
Run the fuzz properties of the test suite far longer than the suite does.

    python bench/fuzz_campaign.py                      # 10,000 cases per property
    python bench/fuzz_campaign.py --examples 500       # a quick pass
    python bench/fuzz_campaign.py --only secure --only ticket --seed 7
    python bench/fuzz_campaign.py --list

The properties are the hypothesis tests of C{tests/test_fuzz_*.py} and
C{tests/test_protocol_fuzz.py}, imported and called as they are, with
C{WTVSERV_FUZZ_EXAMPLES} set so that their settings ask for C{--examples}
cases each (see C{tests/fuzzing.py}). A case is one call of a property's
body: each is counted by wrapping the body hypothesis calls
(C{test.hypothesis.inner_test}), so the table shows what actually ran,
including the calls made while shrinking a failure, and not the draws
hypothesis threw away as invalid (shown apart). A failing property stops at
its first failure, as in the suite; its minimal example is printed after the
table and saved in C{.hypothesis/}, where the next suite run replays it.

The campaign explores: it skips the explicit C{@example}s (reproducers of
known bugs, which the suite runs) and the replay of failures already saved,
unless C{--replay} is given, so every property spends its cases on new input.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
MODULES = ("tests.test_fuzz_wire", "tests.test_fuzz_forms", "tests.test_fuzz_secure",
           "tests.test_protocol_fuzz", "tests.test_fuzz_tickets", "tests.test_fuzz_challenge")


@dataclass
class Run:
    name: str
    cases: int = 0
    failing: int = 0
    invalid: int = 0
    seconds: float = 0.0
    error: BaseException | None = field(default=None, repr=False)


def properties(only: list[str]):
    """@return: C{(module.name, test)} for every hypothesis test whose name matches."""
    found = []
    for moduleName in MODULES:
        module = importlib.import_module(moduleName)
        for name, test in vars(module).items():
            if not (name.startswith("test_") and hasattr(test, "hypothesis")):
                continue
            short = moduleName.rpartition(".")[2].replace("test_", "").replace("fuzz_", "")
            qualified = f"{short.replace('_fuzz', '')}.{name.removeprefix('test_')}"
            if not only or any(word in qualified for word in only):
                found.append((qualified, test))
    return found


def counted(test, run: Run):
    """Have C{test}'s body count the cases it runs into C{run}."""
    from hypothesis.errors import StopTest, UnsatisfiedAssumption

    body = test.hypothesis.inner_test

    @functools.wraps(body)
    def countingBody(*args, **kwargs):
        try:
            result = body(*args, **kwargs)
        except (StopTest, UnsatisfiedAssumption):
            run.invalid += 1
            raise
        except BaseException:
            run.cases += 1
            run.failing += 1
            raise
        run.cases += 1
        return result

    test.hypothesis.inner_test = countingBody


def runProperty(name: str, test, seed: int | None) -> Run:
    from hypothesis import seed as withSeed

    run = Run(name)
    counted(test, run)
    if seed is not None:
        test = withSeed(seed)(test)
    started = time.perf_counter()
    try:
        test()
    except Exception as error:
        run.error = error
    run.seconds = time.perf_counter() - started
    return run


def table(runs: list[Run]) -> str:
    width = max(len("property"), *(len(run.name) for run in runs))
    lines = [f"{'property':<{width}}  {'cases':>8}  {'failing':>7}  {'invalid':>7}  "
             f"{'seconds':>8}  result",
             "-" * (width + 50)]
    for run in runs:
        result = "ok" if run.error is None else f"FAILED: {type(run.error).__name__}"
        lines.append(f"{run.name:<{width}}  {run.cases:>8,}  {run.failing:>7,}  "
                     f"{run.invalid:>7,}  {run.seconds:>8.1f}  {result}")
    lines.append("-" * (width + 50))
    failed = sum(run.error is not None for run in runs)
    lines.append(f"{f'total ({len(runs)} properties, {failed} failed)':<{width}}  "
                 f"{sum(r.cases for r in runs):>8,}  {sum(r.failing for r in runs):>7,}  "
                 f"{sum(r.invalid for r in runs):>7,}  {sum(r.seconds for r in runs):>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--examples", type=int, default=10_000,
                        help="cases per property (default: 10000)")
    parser.add_argument("--only", action="append", default=[], metavar="WORD",
                        help="run only properties whose module.name contains WORD (repeatable)")
    parser.add_argument("--seed", type=int, help="seed every property's random generation")
    parser.add_argument("--replay", action="store_true",
                        help="also run the explicit examples and the saved failures first")
    parser.add_argument("--list", action="store_true", help="list the properties and exit")
    parser.add_argument("--log", action="store_true",
                        help="let the server's log (tracebacks of failing handlers) through")
    options = parser.parse_args(argv)

    # Read by tests/fuzzing.py when the test modules are imported, so first.
    from tests.fuzzing import EXAMPLES_VARIABLE, EXPLORE_VARIABLE
    os.environ[EXAMPLES_VARIABLE] = str(options.examples)
    if not options.replay:
        os.environ[EXPLORE_VARIABLE] = "1"
    if not options.log:
        from twisted.logger import globalLogBeginner
        globalLogBeginner.beginLoggingTo([], redirectStandardIO=False)

    found = properties(options.only)
    if options.list:
        print("\n".join(name for name, _ in found))
        return 0
    if not found:
        print("no property matches", file=sys.stderr)
        return 2
    print(f"{len(found)} properties, {options.examples:,} cases each\n", flush=True)
    runs = []
    for name, test in found:
        run = runProperty(name, test, options.seed)
        runs.append(run)
        status = "ok" if run.error is None else "FAILED"
        print(f"  {name}: {run.cases:,} cases in {run.seconds:.1f} s, {status}", flush=True)
    print()
    print(table(runs))
    for run in runs:
        if run.error is not None:
            print(f"\n=== {run.name}")
            print("".join(traceback.format_exception_only(run.error)).rstrip())
    return 1 if any(run.error is not None for run in runs) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPOSITORY))
    sys.exit(main())
