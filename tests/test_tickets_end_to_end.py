"""
Tickets that last, end to end: the real twistd with a two-second ticket
lifetime, and the faithful box simulator. A box browsing for three
lifetimes keeps its login; one left idle past its ticket's life, and one
holding another server's ticket, get in again after one detour through
wtv-1800, with no dialog.
"""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from tests.realserver import LOOPBACK_EXEMPT, RealServer
from wtvserv.accounts import ACCOUNT_DB_NAME
from wtvserv.box import RELOGIN_URL, Box, make_profile, make_ssid

LIFETIME = 2
CONFIG = LOOPBACK_EXEMPT + f"[tickets]\nlifetime = {LIFETIME}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("lifetime") / "data", config=CONFIG) as running:
        yield running


def makeBox(server, unit: int, username: str) -> Box:
    return Box("127.0.0.1", server.ports["wtv-1800"],
               make_profile("plus", ssid=make_ssid(unit), username=username),
               log=lambda line: None)


def detours(box: Box, since: int) -> int:
    return sum(response.url == RELOGIN_URL for response in box.history[since:])


def test_a_box_browsing_for_three_ticket_lifetimes_keeps_its_login(server):
    async def scenario():
        async with makeBox(server, 60, "stayer") as box:
            await box.power_on()
            before, tickets = len(box.history), {box.ticket}
            deadline = time.monotonic() + 3 * LIFETIME
            pages = 0
            while time.monotonic() < deadline:
                await asyncio.sleep(LIFETIME / 5)
                if pages % 3 == 2:
                    await box.close()       # the next page comes on a new SECURE ON
                page = await box.get("wtv-home:/home")
                assert page.status == 200 and "Hello" in page.text, page.summary()
                tickets.add(box.ticket)
                pages += 1
            assert detours(box, before) == 0
            assert all(r.url == "wtv-home:/home" for r in box.history[before:])
            return pages, len(tickets)
    pages, tickets = asyncio.run(scenario())
    assert pages >= 10 and tickets >= 4, (pages, tickets)


def test_a_box_left_idle_past_its_ticket_gets_in_after_one_detour(server):
    async def scenario():
        async with makeBox(server, 61, "sleeper") as box:
            await box.power_on()
            await asyncio.sleep(LIFETIME + 1.2)
            before = len(box.history)
            home = await box.follow("wtv-home:/home")
            assert "Hello" in home.text
            assert detours(box, before) == 1
            assert box.history[before].status == 200 and not box.history[before].body
    asyncio.run(scenario())


def test_a_box_with_another_servers_ticket_gets_in_after_one_detour(tmp_path):
    """
    The box logs in on one server; the operator moves the accounts to a new
    server (same address, a new ticket secret). The box, still on, holds a
    ticket and keys the new server cannot read.
    """
    first = RealServer(tmp_path / "old", config=CONFIG).start()
    try:
        box = makeBox(first, 62, "mover")

        async def logIn():
            async with box:
                await box.power_on()
        asyncio.run(logIn())
    finally:
        first.stop()
    (tmp_path / "new").mkdir(mode=0o700)
    shutil.copy(tmp_path / "old" / ACCOUNT_DB_NAME, tmp_path / "new" / ACCOUNT_DB_NAME)
    second = RealServer(tmp_path / "new", config=CONFIG, ports=first.ports).start()
    try:
        async def scenario():
            async with box:
                before = len(box.history)
                home = await box.follow("wtv-home:/home")
                assert "Hello" in home.text
                assert detours(box, before) == 1
                assert not [r.url for r in box.history[before:]
                            if r.headers.get("wtv-encrypted") == "true" and r.wire_length
                            and not r.encrypted], "a page sent in clear"
        asyncio.run(scenario())
    finally:
        second.stop()
    assert "Traceback" not in second.log
