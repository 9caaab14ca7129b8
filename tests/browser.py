"""
A real headless Chromium for the console's browser tests: Debian's
C{chromium} package driven through Playwright's sync API (the Python
package brings its driver; no browser is downloaded), and a real twistd
with its console on a port of its own and a password set, against SQLite
or a throwaway PostgreSQL.

Without Playwright or a C{chromium} on C{PATH} (or at C{WTVSERV_CHROMIUM})
the browser tests skip, saying why, unless C{WTVSERV_REQUIRE_BROWSER} is set
(as C{.ci/run} sets it): then they fail.

Playwright's sync API keeps an event loop of its own on the test's
thread, so the box simulator (asyncio) runs on another thread: L{BoxLoop}.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:     # chromium() says so, skipping or failing the test
    expect = None

from tests.realserver import LOOPBACK_EXEMPT, RealServer
from tests.test_cli import runCommand
from wtvserv.box import Box, make_profile

PASSWORD = "console pass phrase"
VIEWPORT = {"width": 1280, "height": 800}
#: Without these Chromium reaches out to Google's services, which this
#: closed network refuses, many connections at a time.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
#: Milliseconds a page action or an C{expect} may wait: the machine is shared.
PAGE_TIMEOUT = 15_000


if expect is not None:
    expect.set_options(timeout=PAGE_TIMEOUT)


def findChromium() -> tuple[str | None, str | None]:
    """@return: the Chromium to drive, or L{None} and why there is none."""
    found = os.environ.get("WTVSERV_CHROMIUM") or shutil.which("chromium")
    if expect is None:
        return None, "Playwright is not installed (pip install -e '.[test]')"
    if not found:
        return None, "no chromium on PATH (apt-get install chromium, or set WTVSERV_CHROMIUM)"
    return found, None


def chromium() -> str:
    """@return: the Chromium to drive; skip (fail when required) without one."""
    found, problem = findChromium()
    if problem:
        if os.environ.get("WTVSERV_REQUIRE_BROWSER"):
            pytest.fail(problem)
        pytest.skip(problem)
    return found


def launch(playwright, executable: str):
    """@return: a headless Chromium at C{executable}, launched through C{playwright}."""
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))


def newPage(browser):
    """@return: a page in a context of its own (no cookies of another), desktop-sized."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT)
    return context.new_page()


@pytest.fixture(scope="module")
def browser():
    """
    One Chromium for the module, with a fresh empty profile of its own.
    Not for the session: Playwright's loop, running on the test's thread
    while it lasts, would refuse the other modules' C{asyncio.run}.
    """
    executable = chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = launch(playwright, executable)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    """A page in a context of its own: no cookies from another test."""
    opened = newPage(browser)
    try:
        yield opened
    finally:
        opened.context.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request) -> str:
    """The C{[storage]} configuration of each backend."""
    if request.param == "sqlite":
        return ""
    return f'[storage]\nurl = "{request.getfixturevalue("postgresURL")}"\n'


@pytest.fixture
def startConsole(tmp_path, storage):
    """
    Start a twistd whose console has L{PASSWORD} set, on C{storage}; the
    C{config} given is added to the test servers' usual configuration.
    Every server started is stopped after the test.
    """
    started = []

    def start(config: str = "", name: str = "console", password: bool = True) -> RealServer:
        server = consoleServer(tmp_path / name / "data", storage + config, password)
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def console(startConsole) -> RealServer:
    """A running server with its console, bans read every second."""
    return startConsole()


def consoleServer(dataDir: Path, config: str = "", password: bool = True) -> RealServer:
    """
    @return: a server, not started, whose console password is L{PASSWORD}
        (set as an operator does, with C{wtvserv console set-password})
        unless not C{password}, loopback exempt from the per-address caps,
        bans re-read every second, and C{config} besides.
    """
    config = LOOPBACK_EXEMPT + "[bans]\ncheck_interval = 1\n" + config
    server = RealServer(dataDir, config=config)
    server.dataDir.mkdir(parents=True, exist_ok=True)
    if not password:
        return server
    result = runCommand("console", "set-password", "--data", str(server.dataDir),
                        "--config", str(server.configPath), input=PASSWORD + "\n")
    if result.returncode != 0:
        raise RuntimeError(f"wtvserv console set-password failed: {result.stderr}")
    return server


class BoxLoop:
    """
    An event loop on a thread of its own for the box simulator, kept
    between calls so that a box stays connected while the page is driven.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 60.0):
        """@return: what C{coroutine} returns, run on the loop (or raise what it raises)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def boxes():
    """A L{BoxLoop}; close the boxes on it before the test ends."""
    running = BoxLoop()
    yield running
    running.close()


def newBox(server: RealServer, ssid: str, **profile) -> Box:
    """The faithful simulator, as a C{plus} box with SSID C{ssid}."""
    return Box("127.0.0.1", server.ports["wtv-1800"], make_profile("plus", ssid=ssid, **profile),
               log=lambda line: None)


def signIn(page, server: RealServer, password: str = PASSWORD):
    """Sign in on the sign-in form, as an operator types it; @return: the response."""
    page.goto(server.consoleURL + "/signin")
    page.get_by_label("Password").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    return navigation.value


def reloadUntil(page, selector: str, text: str, exact: bool = False,
                seconds: float = 10.0) -> None:
    """
    Reload C{page}, as an operator would, until the element at C{selector}
    shows C{text} (among other text, unless C{exact}).
    """
    deadline = time.monotonic() + seconds
    while True:
        page.reload()
        shown = page.locator(selector).inner_text()
        if shown.strip() == text if exact else text in shown:
            return
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}: {shown!r}"
        time.sleep(0.3)
