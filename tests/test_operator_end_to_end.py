"""
The operator's commands against the real twistd, as issue 14 asks: a box
registered by the simulator is listed, has its password cleared, is
transferred to another SSID and is deleted, its live session ending each
time; and both switches take effect within five seconds.
"""

import asyncio
import time

import pytest

from tests.realserver import RealServer
from tests.test_cli import runCommand
from wtvserv.box import Box, BoxError, make_profile, make_ssid

HOME = "wtv-home:/home"
SWITCH_DEADLINE = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("operator") / "data") as running:
        yield running


def wtvserv(server, *args, input=None):
    result = runCommand(args[0], "--data", str(server.dataDir), *args[1:], input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


def newBox(server, ssid, **profile):
    return Box("127.0.0.1", server.ports["wtv-1800"], make_profile("plus", ssid=ssid, **profile),
               log=lambda line: None)


async def sessionEnded(box) -> bool:
    """Whether the box, logged in a moment ago, is now sent back to log in."""
    answer = await box.get(HOME)
    return answer.status == 300 and answer.headers.get("Location") == "client:relogin"


def test_a_registered_box_is_listed_repaired_moved_and_deleted(server):
    ssid, replacement = make_ssid(140), make_ssid(141)

    async def scenario():
        async with newBox(server, ssid, username="opsbox", password="secret1") as box:
            await box.power_on()
            listed = await asyncio.to_thread(wtvserv, server, "accounts", "list")
            assert f"{ssid}  " in listed and "0:opsbox*" in listed
            await asyncio.to_thread(wtvserv, server, "accounts", "clear-password", ssid, "0")
            assert await sessionEnded(box)
        async with newBox(server, ssid, username="opsbox", password="") as box:
            await box.power_on()          # no password page now
            assert (await box.get(HOME)).status == 200
            await asyncio.to_thread(wtvserv, server, "accounts", "transfer", ssid, replacement)
            assert await sessionEnded(box)
        async with newBox(server, replacement, username="other") as box:
            home = await box.power_on()   # the replacement box is opsbox, no sign-up
            assert "opsbox" in home.text
            await asyncio.to_thread(wtvserv, server, "accounts", "delete", replacement, "--yes")
            assert await sessionEnded(box)
        async with newBox(server, replacement, username="freshuser") as box:
            await box.power_on()          # signs up afresh
            shown = await asyncio.to_thread(wtvserv, server, "accounts", "show", replacement)
            assert "freshuser" in shown and "opsbox" not in shown
    asyncio.run(scenario())


async def waitFor(check) -> float:
    """@return: seconds until C{await check()} was true (fails after the deadline)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < SWITCH_DEADLINE, "the switch took too long"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def test_maintenance_and_registration_take_effect_within_five_seconds(server):
    async def scenario():
        async with newBox(server, make_ssid(142), username="switchbox") as box:
            await box.power_on()

            async def closed():
                answer = await box.get(HOME)
                return answer.status == 503 and answer.reason == "Back at six."
            wtvserv(server, "switch", "maintenance", "on", "--message", "Back at six.")
            await waitFor(closed)
            report = await box.post("wtv-log:/log?type=test", b"still reporting")
            assert report.status == 200, "wtv-log keeps working"
            with pytest.raises(BoxError, match="503 Back at six"):
                async with newBox(server, make_ssid(143), username="arriving") as arriving:
                    await arriving.power_on()
            wtvserv(server, "switch", "maintenance", "off")

            async def open():
                return (await box.get(HOME)).status == 200
            await waitFor(open)

        wtvserv(server, "switch", "registration", "closed")
        units = iter(range(150, 200))

        async def refused():
            """A new box each time: one that got in before the switch has an account."""
            unit = next(units)
            try:
                async with newBox(server, make_ssid(unit), username=f"late{unit}") as late:
                    await late.power_on()
            except BoxError as error:
                return "503 Sign-ups are closed" in str(error)
            return False
        await waitFor(refused)
        wtvserv(server, "switch", "registration", "open")
    asyncio.run(scenario())
