"""
Speed of WTVP framing, C accelerator and pure Python (not a test).

Run from the repository root::

    python bench/bench_wire.py            # best of 7 runs of 2000 calls
    python bench/bench_wire.py --runs 3 --calls 500

It times, per request, the parser's work on heads the box simulator
sends (L{wtvserv.box.headers}): a box's first request on a plain
connection (its identity headers with it, about 20), a later request (6
headers) and a C{SECURE ON} block; and L{wtvserv.wire.serializeHead} on a
login's response and on a small page's. Best of several runs, in
microseconds, for each implementation and their ratio. Without a built
accelerator only the pure code is timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wtvserv import wire  # noqa: E402
from wtvserv.box import make_profile, make_ssid  # noqa: E402
from wtvserv.box.headers import request_headers, secure_on_headers  # noqa: E402
from wtvserv.box.messages import format_request  # noqa: E402
from wtvserv.wire import RequestParser, Response, serializeHead  # noqa: E402

IMPLEMENTATIONS = {"python": (wire._readHeadPython, wire._formatHeadPython)}
if wire.IMPLEMENTATION == "c":
    IMPLEMENTATIONS["c"] = (wire._wire_c.readHead, wire._wire_c.formatHead)


@contextmanager
def using(name: str):
    """Make wtvserv.wire read and write heads with implementation C{name}."""
    saved = wire._readHead, wire._formatHead
    wire._readHead, wire._formatHead = IMPLEMENTATIONS[name]
    try:
        yield
    finally:
        wire._readHead, wire._formatHead = saved


def requests() -> dict[str, bytes]:
    """@return: heads as the simulator sends them, by a short description."""
    profile = make_profile("classic", ssid=make_ssid(7))
    ticket = "AQID" * 40
    return {
        "first request (identity, 20 headers)": format_request(
            "GET", "wtv-head-waiter:/login?", request_headers(
                profile, 3, ticket=ticket, with_identity=True)),
        "later request (6 headers)": format_request(
            "GET", "wtv-head-waiter:/login-stage-two?", request_headers(profile, 3)),
        "SECURE ON block": format_request("SECURE ON", "", secure_on_headers(profile, ticket, 4)),
    }


def responses() -> dict[str, tuple[Response, list[tuple[str, str]]]]:
    """@return: responses and the connection's headers, by a short description."""
    login = Response(headers=[("wtv-service", f"name=wtv-{n} host=10.0.0.1 port=1615")
                              for n in range(8)]
                     + [("wtv-visit", "wtv-home:/home"), ("wtv-expire-all", "wtv-"),
                        ("wtv-user-name", "someone")], body=b"x" * 900)
    page = Response(headers=[("wtv-noback-all", "wtv-register:")], body=b"x" * 3000)
    core = [("wtv-encrypted", "true"), ("wtv-ticket", "AQID" * 40)]
    return {"login response (13 headers)": (login, core), "page (2 headers)": (page, core[:1])}


def best(function, runs: int, count: int) -> float:
    """@return: the least microseconds one call of C{function} took."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(count):
            function()
        times.append((time.perf_counter() - started) / count * 1e6)
    return min(times)


def parseOnce(data: bytes):
    def parse():
        parser = RequestParser()
        parser.feed(data)
        parser.next()
    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    options = parser.parse_args()
    if not (0 < options.runs <= 100 and 0 < options.calls <= 1_000_000):
        parser.error("runs must be 1..100 and calls 1..1000000")
    cases = [(f"parse {name}", parseOnce(data)) for name, data in requests().items()]
    cases += [(f"serialize {name}", lambda r=response, c=core: serializeHead(r, c))
              for name, (response, core) in responses().items()]
    names = list(IMPLEMENTATIONS)
    print(f"wtvserv.wire in use: {wire.IMPLEMENTATION}"
          + (f" ({wire.FALLBACK_REASON})" if wire.FALLBACK_REASON else ""))
    print(f"{'µs per call':44}" + "".join(f"{name:>9}" for name in names)
          + ("    ratio" if len(names) == 2 else ""))
    for label, function in cases:
        figures = []
        for name in names:
            with using(name):
                figures.append(best(function, options.runs, options.calls))
        ratio = f"{figures[0] / figures[1]:8.1f}x" if len(figures) == 2 else ""
        print(f"{label:44}" + "".join(f"{figure:9.2f}" for figure in figures) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
