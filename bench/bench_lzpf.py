"""
Throughput of the LZPF codecs, C accelerator and pure Python (not a test).

Run from the repository root::

    python bench/bench_lzpf.py            # MB/s, speed-up and ratios
    python bench/bench_lzpf.py --profile  # plus cProfile of pure compression

It times the 64 KiB HTML case of C{tests/data/lzpf.json} and a
~4 KiB page built here, best of several runs on one core, with zlib level 9
beside it for scale. Without a built accelerator only the pure codec is
timed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
import zlib
from base64 import b64decode
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from wtvserv.crypto import _lzpf_python  # noqa: E402
from wtvserv.crypto import lzpf  # noqa: E402

CODECS = {"python": _lzpf_python}
if lzpf.IMPLEMENTATION == "c":
    CODECS["c"] = sys.modules["wtvserv.crypto._lzpf_c"]

VECTORS = REPOSITORY / "tests" / "data" / "lzpf.json"


def vector_html() -> bytes:
    """@return: the input of the C{html-64KiB} case."""
    [case] = [case for case in json.loads(VECTORS.read_text())["cases"]
              if case["name"] == "html-64KiB"]
    return b64decode(case["input_b64"])


def small_page() -> bytes:
    """@return: a ~4 KiB home page: a header, a few link rows, a footer."""
    rows = "".join(
        f'<tr><td width=40><img src="wtv-home:/ROMCache/icon{n}.gif">\n'
        f'<td><a href="wtv-home:/section?id={n * 37}">{title}</a>\n'
        f"<td align=right><font size=-1>{n * 13 % 60} new</font>\n"
        for n, title in enumerate([
            "Mail", "Favorites", "Search", "Around Town", "Community",
            "Explore", "Entertainment", "Money", "News", "Sports",
            "Weather", "Shopping", "Games", "Kids", "Travel", "Help",
            "Settings", "Chat", "Discuss", "Page Builder", "Music",
            "Maps"]))
    page = (
        "<html>\n<head>\n<title>Home</title>\n"
        "<display nooptions noscroll>\n</head>\n"
        '<body bgcolor="#191919" text="#44cc55" link="#36d5ff" vlink="#36d5ff">\n'
        '<table cellspacing=0 cellpadding=0 width=560>\n'
        '<tr><td colspan=3 height=40 valign=top>'
        '<img src="wtv-home:/ROMCache/WebTVLogoJewel.gif" width=87 height=67>\n'
        f"{rows}</table>\n"
        "<p>Welcome back! You have 3 new messages waiting in your mailbox. "
        "Today's tip: press Options, then Find, to search this page.\n"
        "<p><b>Headlines</b><ul>\n"
        "<li>Local weather: clear skies tonight, a chance of rain tomorrow.\n"
        "<li>Sports: the home team wins again in extra innings.\n"
        "<li>Money: markets close higher after a quiet week of trading.\n"
        "<li>Entertainment: this weekend's new movies, reviewed.\n"
        "</ul>\n"
        "</body>\n</html>\n")
    return page.encode()


def best_seconds(function, runs: int) -> float:
    """@return: the fastest of C{runs} timings of C{function()}."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def throughput(codec, data: bytes, runs: int) -> tuple[float, float]:
    """@return: MB/s compressing and decompressing C{data} with C{codec}."""
    stream = codec.compress(data)
    assert codec.decompress(stream, len(data)) == data
    # Repeat inputs so each timing lasts a few (C: tens of) milliseconds.
    repeat = max(1, (200_000 if codec is _lzpf_python else 20_000_000) // len(data))
    megabytes = len(data) * repeat / 1e6
    packed = best_seconds(lambda: [codec.compress(data) for _ in range(repeat)], runs)
    unpacked = best_seconds(
        lambda: [codec.decompress(stream, len(data)) for _ in range(repeat)], runs)
    return megabytes / packed, megabytes / unpacked


def report(name: str, data: bytes, runs: int) -> None:
    """Print throughput of each codec and the ratio of LZPF (and zlib 9)."""
    streams = {codec.compress(data) for codec in CODECS.values()}
    assert len(streams) == 1, "the codecs disagree"
    stream = streams.pop()
    print(f"{name}: {len(data)} bytes")
    speeds = {label: throughput(codec, data, runs) for label, codec in CODECS.items()}
    for label, (packing, unpacking) in speeds.items():
        print(f"  {label:6} compress   {packing:8.2f} MB/s   decompress {unpacking:8.2f} MB/s")
    if "c" in speeds:
        (py_pack, py_unpack), (c_pack, c_unpack) = speeds["python"], speeds["c"]
        print(f"  c / python       x{c_pack / py_pack:6.1f}                   "
              f"x{c_unpack / py_unpack:6.1f}")
    deflated = zlib.compress(data, 9)
    print(f"  LZPF ratio       {len(data) / len(stream):7.2f} ({len(stream)} bytes)")
    print(f"  zlib-9 ratio     {len(data) / len(deflated):7.2f} ({len(deflated)} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="also profile compression of the largest input")
    options = parser.parse_args()
    print(f"LZPF codec in use: {lzpf.IMPLEMENTATION}"
          + (f" ({lzpf.FALLBACK_REASON})" if lzpf.FALLBACK_REASON else ""))
    inputs = [("vectors html-64KiB", vector_html()), ("~4 KiB page", small_page())]
    for name, data in inputs:
        report(name, data, options.runs)
    if options.profile:
        data = inputs[0][1]
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [_lzpf_python.compress(data) for _ in range(10)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


if __name__ == "__main__":
    main()
