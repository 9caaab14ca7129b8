"""
The server's own Python CPU per login, without the reactor or TCP (not a
test).

Run from the repository root (or point it at another checkout to compare)::

    python bench/login_python.py            # this checkout
    python bench/login_python.py --repeat 6 ../other-checkout

It builds the real L{WTVServer} with real SQLite stores in a temporary
directory, registers C{--boxes} accounts, then logs each box in with the
L{tests.harness.TestBox} flow (preregister, challenge, stage two, the page
over SECURE ON) on in-memory transports. Only the server's handling of the
bytes is timed (C{time.process_time} around C{WTVPProtocol.dataReceived}
and the connection's set-up; store calls run at once on the same thread), so the figure leaves out the box's side,
Twisted's reactor and the kernel, and with them most of the noise of a
shared machine: use it to compare versions of the request path, and
C{loadgen.py} for what a login really costs. The access log goes to
C{/dev/null} through the text observer C{twistd wtvserv} writes with.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(boxes: int, repeat: int) -> list[float]:
    """@return: milliseconds of server CPU per login, one figure per round."""
    from twisted.internet import epollreactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from tests.harness import ImmediateThreads, TestBox
    from wtvserv import protocol
    from wtvserv.box import make_ssid
    from wtvserv.config import Config
    from wtvserv.discovery import discoverPlugins
    from wtvserv.server import WTVServer

    try:            # how twistd wtvserv writes its log, since issue 16
        from wtvserv.textlog import textObserver
    except ImportError:
        textObserver = textFileLogObserver
    globalLogBeginner.beginLoggingTo([textObserver(open(os.devnull, "w"))],
                                     redirectStandardIO=False)
    spent = [0.0]

    def timed(function):
        def wrapper(*args):
            started = time.process_time()
            try:
                return function(*args)
            finally:
                spent[0] += time.process_time() - started
        return wrapper

    protocol.WTVPProtocol.dataReceived = timed(protocol.WTVPProtocol.dataReceived)
    TestBox.connect = timed(TestBox.connect)
    figures = []
    with tempfile.TemporaryDirectory(prefix="wtvserv-login-python-") as base:
        config = Config(dataDir=Path(base) / "data", exemptAddresses=["127.0.0.0/8"])
        plugins, _ = discoverPlugins()
        # A real reactor as the clock (timers cost what they cost), never
        # run: store results, made at once on this thread, are delivered at once.
        class Reactor(epollreactor.EPollReactor):
            def callFromThread(self, function, *args, **kwargs):
                function(*args, **kwargs)

        server = WTVServer(config, Reactor(), plugins,
                           workers=ImmediateThreads(), storeThreads=ImmediateThreads())
        try:
            ssids = [make_ssid(0x100000 + n) for n in range(boxes)]
            for ssid in ssids:
                server.accounts.createAccount(ssid, "Load Box", f"u{ssid[2:8]}{ssid[-2:]}", None)
            for _ in range(repeat):
                spent[0] = 0.0
                for ssid in ssids:
                    if TestBox(server, ssid=ssid).login().head.split(" ")[0] != "200":
                        raise RuntimeError(f"{ssid}: the login did not end in 200")
                figures.append(spent[0] / boxes * 1000)
        finally:
            server.accounts.close()
            server.logs.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", type=Path,
                        default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--boxes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    if not (0 < options.boxes <= 100_000 and 0 < options.repeat <= 100):
        parser.error("boxes must be 1..100000 and repeat 1..100")
    if not (options.checkout / "wtvserv" / "server.py").is_file():
        parser.error(f"{options.checkout} is not a wtvserv checkout")
    sys.path.insert(0, str(options.checkout.resolve()))
    figures = measure(options.boxes, options.repeat)
    print(f"{options.checkout.resolve().name}: server Python per login "
          f"min {min(figures):.3f} ms, median {statistics.median(figures):.3f} ms "
          f"({options.repeat} rounds of {options.boxes} logins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
