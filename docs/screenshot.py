"""
Make docs/console-dashboard.png: the console's dashboard, as an operator
sees it at 1280x800 in headless Chromium, with real data in it.

It starts a real twistd on free loopback ports with a temporary data
directory (tests/realserver.py), sets the console password with
C{wtvserv console set-password}, and drives the project's box simulator:
over C{--minutes} minutes, boxes sign up and come back, one user types a
wrong password, a box reports to wtv-log and a client sends garbage, so
the chart, the tables and the recent errors have something to show. Some
boxes stay connected for the picture. Run from the repository root::

    python docs/screenshot.py              # about three minutes
    python docs/screenshot.py --minutes 1 --output dashboard.png
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.browser import (  # noqa: E402
    BoxLoop, consoleServer, findChromium, launch, newBox, newPage, signIn)
from wtvserv.box import BoxError, make_ssid  # noqa: E402

#: A user name for each box that signs up (names are unique on a service).
USERS = ("marge", "zed", "quincy", "lupe", "otto", "bea", "ivo", "nell", "ravi", "tess",
         "wendell", "hazel", "arlo", "june", "felix", "mabel")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="how long boxes come and go before the picture (default 3)")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "docs" / "console-dashboard.png")
    options = parser.parse_args(argv)
    executable, problem = findChromium()
    if problem:
        print(f"screenshot.py: {problem}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="wtvserv-screenshot-") as folder, \
            consoleServer(Path(folder) / "data") as server, sync_playwright() as playwright:
        boxes = BoxLoop()
        try:
            connected = drive(server, boxes, options.minutes)
            browser = launch(playwright, executable)
            page = newPage(browser)
            signIn(page, server)
            page.screenshot(path=str(options.output))
            browser.close()
            for box in connected:
                boxes.run(box.close())
        finally:
            boxes.close()
    print(f"wrote {options.output}")
    return 0


def drive(server, boxes: BoxLoop, minutes: float) -> list:
    """
    Boxes come and go for C{minutes}: each round a new one signs up and the
    two before it log in again. @return: the boxes left connected.
    """
    deadline = time.monotonic() + minutes * 60
    rounds = min(len(USERS), max(3, int(minutes * 4)))
    passwords: dict[str, str] = {}        # SSID: the password its user chose
    for round in range(rounds):
        ssid = make_ssid(0x900 + round)
        passwords[ssid] = "pass1234" if round == 1 else ""
        powerOn(server, boxes, ssid, USERS[round], passwords[ssid],
                report=round == 0)
        for again in list(passwords)[-3:-1]:
            powerOn(server, boxes, again, "returning", passwords[again])
        if round == 1:
            try:
                powerOn(server, boxes, ssid, "", passwords[ssid], login_password="guess")
            except BoxError:
                pass                      # the wrong password, refused
            sendGarbage(server.ports["wtv-1800"])
        time.sleep(max(0.0, (deadline - time.monotonic()) / (rounds - round)))
    return [powerOn(server, boxes, ssid, "", passwords[ssid], close=False)
            for ssid in list(passwords)[:3]]


def powerOn(server, boxes: BoxLoop, ssid: str, username: str, password: str,
            report: bool = False, close: bool = True, **profile):
    """One box boots until home (and reports a crash to wtv-log); @return: the box."""
    box = newBox(server, ssid, username=username, password=password, **profile)
    try:
        boxes.run(box.power_on())
        if report:
            boxes.run(box.post("wtv-log:/log?type=crash", b"panic at 0x8001a2f0: bus error"))
    finally:
        if close:
            boxes.run(box.close())
    return box


def sendGarbage(port: int) -> None:
    """What a stray client sends: not a WTVP request; read the error to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01 not a request\r\n\r\n")
        while sock.recv(65536):
            pass


if __name__ == "__main__":
    sys.exit(main())
