"""
What packing a TellyScript costs: compiling a source (preprocess,
variables, strict tokenizer), the anchor-exact LZSS encoder, and reading
the file back, for the example scripts and for a generated source whose
token stream is as long as minisrv's LC2 scripts (about 14 KB).

Scripts are packed once when the server starts, never per request, so this
is start-up time. Prints one row per script and what other processes used
of the machine meanwhile ("other CPU %"); repeat it when that is high.

    python bench/bench_tellyscript.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from wtvserv.tellyscript.lzss import compress
from wtvserv.tellyscript.packfile import pack, unpack
from wtvserv.tellyscript.source import compileSource

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "tellyscripts"
VARIABLES = {"ServiceName": "Bench", "DialinNumber": "18005551234", "PPPUser": "user",
             "PPPPassword": "secret", "DNSIP1": "10.0.0.50", "DNSIP2": "10.0.0.51"}
#: One generated function; repeated with new names until the tokens are long enough.
_FUNCTION = """
int Step{n}(int attempt)
{{
\tint answer;
\tsetprogresstext("Step {n}: calling %ServiceName%");
\tsendstr("ATDT%DialinNumber%\\r");
\tanswer = waitfor("CONNECT", 7, 3600 + attempt * {n});
\tif (answer == 0 && attempt < 3) {{
\t\treturn Step{n}(attempt + 1);
\t}}
\treturn answer;
}}
"""


def generated(tokenBytes: int) -> str:
    text, n = "", 0
    while len(compileSource(text, VARIABLES)) < tokenBytes:
        text += "".join(_FUNCTION.format(n=n + i) for i in range(20))
        n += 20
    return text


def busyTicks() -> int:
    """@return: jiffies all CPUs spent busy since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]          # minus idle and iowait


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    repeat = parser.parse_args().repeat
    sources = {path.name: path.read_text() for path in sorted(EXAMPLES.glob("*.tsf"))}
    sources["generated (minisrv LC2 size)"] = generated(13652)
    ticks, ownStart, wallStart = busyTicks(), sum(os.times()[:2]), time.monotonic()
    print(f"{'script':<30} {'tokens B':>9} {'packed B':>9} {'ratio':>6} {'compile ms':>11} "
          f"{'LZSS ms':>8} {'unpack ms':>10}")
    for name, text in sources.items():
        tokens = compileSource(text, VARIABLES)
        packed = pack(tokens, 1, 2)
        print(f"{name:<30} {len(tokens):>9} {len(packed):>9} {len(packed) / len(tokens):>6.2f} "
              f"{best(lambda: compileSource(text, VARIABLES), repeat) * 1000:>11.1f} "
              f"{best(lambda: compress(tokens), repeat) * 1000:>8.1f} "
              f"{best(lambda: unpack(packed), repeat) * 1000:>10.1f}")
    wall = time.monotonic() - wallStart
    own = sum(os.times()[:2]) - ownStart
    other = (busyTicks() - ticks) / os.sysconf("SC_CLK_TCK") - own
    print(f"\nother CPU %: {max(0.0, other) * 100 / wall:.0f} (of {os.cpu_count()} cores x 100)")


if __name__ == "__main__":
    main()
