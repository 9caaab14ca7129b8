"""
A deployment split over hosts sharing one PostgreSQL (issue 15 item 4):
real twistd processes on loopback addresses, each with its own empty data
directory, configured as the shared file says. 127.0.0.2 runs wtv-1800,
wtv-head-waiter and wtv-register; 127.0.0.3 runs wtv-home and wtv-log. The
faithful box simulator signs up through the first and is sent to the
second over SECURE ON: only the shared database (accounts, ticket secret)
lets the second host know the box.

The processes run under libfaketime, reading their clock's offset from one
file, so "the next day" is a real jump of every host's clock at once
(PostgreSQL's is not moved: the hosts pass their own times to it). Only the
wall clock jumps, as on a real host whose clock is set: the monotonic clock
that timeouts count on (psycopg's pool waiting for a connection, for one)
goes on as it was. Faked too, it made the pool give up on a connection
"after 10 s" within milliseconds of the jump, a 500 in the test alone.

The prescribed split has one headwaiter. To show that a lockout, and a
login challenge, is not tied to the headwaiter that made it, a third
process on 127.0.0.4 runs a second wtv-1800 and wtv-head-waiter, advertised
there: a second way in, as a second dial-in number or a balancer's second
backend would be. Its configuration differs from the shared one only in
where those two services are.
"""

from __future__ import annotations

import asyncio
import glob
import os
import time
from dataclasses import replace

import pytest

from tests.realserver import SERVICES, RealServer, freePorts
from wtvserv.accounts import SCHEMA as ACCOUNT_SCHEMA, AccountStore
from wtvserv.box import Box, BoxError, make_profile, make_ssid
from wtvserv.cli.main import main as wtvserv
from wtvserv.store.postgresql import PostgreSQLPool

FIRST, SECOND, THIRD = "127.0.0.2", "127.0.0.3", "127.0.0.4"
ON_FIRST = ("wtv-1800", "wtv-head-waiter", "wtv-register")
ON_SECOND = ("wtv-home", "wtv-log")
ON_THIRD = ("wtv-1800", "wtv-head-waiter")
PASSWORD = "secret1"
ATTEMPTS = 2
LOCKED = "Too many failed login attempts"
PREREGISTER = "wtv-1800:/preregister?scriptless-visit-reason=10&0"


def fakeTime() -> str:
    """@return: libfaketime's library (Debian's faketime package), or skip/fail without it."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        message = "libfaketime not found (apt-get install faketime); the two-host test needs it"
        if os.environ.get("WTVSERV_REQUIRE_POSTGRESQL"):
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


def hosts(tmp_path, url: str):
    """The three processes, and the file that sets their clocks' offset."""
    clock = tmp_path / "clock-offset"
    clock.write_text("+0\n")
    env = {**os.environ, "LD_PRELOAD": fakeTime(), "FAKETIME_TIMESTAMP_FILE": str(clock),
           "FAKETIME_NO_CACHE": "1", "DONT_FAKE_MONOTONIC": "1"}
    ports = dict(zip(SERVICES, freePorts(len(SERVICES))))
    thirdPorts = {**ports, **dict(zip(ON_THIRD, freePorts(len(ON_THIRD))))}
    shared = {name: FIRST if name in ON_FIRST else SECOND for name in SERVICES}
    config = (f'[storage]\nurl = "{url}"\n[bans]\ncheck_interval = 1\n'
              f'[login]\nattempts = {ATTEMPTS}\n'
              '[limits]\nexempt_addresses = ["127.0.0.0/8"]\n')
    servers = [RealServer(tmp_path / name / "data", ports=ports, listening=listening,
                          interface=address, hosts=shared, config=config, env=env)
               for name, address, listening in (("first", FIRST, ON_FIRST),
                                                ("second", SECOND, ON_SECOND))]
    servers.append(RealServer(tmp_path / "third" / "data", ports=thirdPorts, listening=ON_THIRD,
                              interface=THIRD, config=config, env=env,
                              hosts={**shared, **{name: THIRD for name in ON_THIRD}}))
    return servers, clock


def profile(ssid: str, typed: str = PASSWORD):
    return make_profile("plus", ssid=ssid, password=PASSWORD, login_password=typed)


async def powerOn(box: Box):
    try:
        return await box.power_on()
    finally:
        await box.close()


async def fromHome(box: Box):
    """The box, its ticket and keys kept, goes home on a fresh connection."""
    await box.close()
    try:
        return await box.follow("wtv-home:/home")
    finally:
        await box.close()


async def homeRefused(box: Box) -> bool:
    """The box asks the second host for its home page on a fresh connection."""
    try:
        answer = await box.get("wtv-home:/home")
    except BoxError:
        return True
    finally:
        await box.close()
    return answer.status == 403


async def answeredElsewhere(box: Box, headwaiter: RealServer):
    """
    Log in through the box's headwaiter, but send the answer to
    C{headwaiter}: its next connection to wtv-head-waiter lands there, as a
    balancer could send it.
    """
    await box.get(PREREGISTER)
    login = await box.get("wtv-head-waiter:/login?")
    entry = box.services["wtv-head-waiter"]
    box.services["wtv-head-waiter"] = replace(entry, host=headwaiter.address,
                                              port=headwaiter.ports["wtv-head-waiter"])
    try:
        return await box.follow(login.headers.get("wtv-visit"))
    finally:
        await box.close()


def within(seconds: float, check) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_box_signs_up_on_one_host_and_is_served_by_the_other(tmp_path, postgresURL):
    (first, second, third), clock = hosts(tmp_path, postgresURL)
    ssid = make_ssid(0x715)
    with first, second, third:
        box = Box(FIRST, first.ports["wtv-1800"], profile(ssid), log=lambda line: None)
        home = asyncio.run(powerOn(box))
        urls = [response.url for response in box.history]
        assert home.status == 200 and home.url.startswith("wtv-home:/home"), urls
        assert any(url.startswith("wtv-register:") for url in urls)
        assert home.encrypted                       # SECURE ON, keyed from the first's ticket
        # An answer can reach the box before the server's turn writes its log line.
        assert within(5, lambda: "GET wtv-home:/home" in second.log), second.log[-2000:]
        assert "GET wtv-home:" not in first.log

        # The next day: every host's clock jumps 25 hours, past the ticket's
        # 24. The box, its old ticket kept, is sent back through login and
        # comes home again; its account is found, no sign-up.
        clock.write_text("+25h\n")
        returning = len(box.history)
        home = asyncio.run(fromHome(box))
        urls = [response.url for response in box.history[returning:]]
        assert home.status == 200 and home.encrypted, urls
        assert any(url.startswith("wtv-head-waiter:") for url in urls), urls
        assert not any(url.startswith("wtv-register:") for url in urls), urls

        # The challenge the first host's headwaiter sent is answered on the third's.
        elsewhere = Box(FIRST, first.ports["wtv-1800"], profile(ssid), log=lambda line: None)
        home = asyncio.run(answeredElsewhere(elsewhere, third))
        assert home.status == 200 and home.encrypted
        assert within(5, lambda: "login-stage-two" in third.log), third.log[-2000:]
        assert "login-stage-two" not in first.log[first.log.rindex("GET wtv-head-waiter:/login?"):]

        # Wrong passwords through the first host's headwaiter lock the box
        # out on the third's, right password or not.
        for _ in range(ATTEMPTS):
            with pytest.raises(BoxError, match=f"incorrect|{LOCKED}"):
                asyncio.run(powerOn(Box(FIRST, first.ports["wtv-1800"], profile(ssid, "wrong1"),
                                        log=lambda line: None)))
        with pytest.raises(BoxError, match=LOCKED):
            asyncio.run(powerOn(Box(THIRD, third.ports["wtv-1800"], profile(ssid),
                                    log=lambda line: None)))
        assert within(5, lambda: LOCKED in third.log), third.log[-2000:]

        # A switch set through one host applies on all of them within seconds.
        config, data = str(first.configPath), str(first.dataDir)
        assert wtvserv(["switch", "--config", config, "--data", data, "maintenance", "on"]) == 0
        asked = [(Box(FIRST, first.ports["wtv-1800"], profile(ssid), log=lambda line: None),
                  PREREGISTER), (box, "wtv-home:/home"),
                 (Box(THIRD, third.ports["wtv-1800"], profile(ssid), log=lambda line: None),
                  PREREGISTER)]
        assert within(10, lambda: all(asyncio.run(maintenance(*each)) for each in asked)), \
            second.log[-2000:]
        assert wtvserv(["switch", "--config", config, "--data", data, "maintenance", "off"]) == 0
        assert within(10, lambda: not asyncio.run(maintenance(box, "wtv-home:/home")))

        # A ban made (here, with the command) applies on every host within seconds.
        assert wtvserv(["ban", "--config", config, "--data", data, "add", "ssid", ssid]) == 0
        assert within(10, lambda: asyncio.run(homeRefused(box))), second.log[-2000:]
        with pytest.raises(BoxError):
            asyncio.run(powerOn(Box(FIRST, first.ports["wtv-1800"], profile(ssid),
                                    log=lambda line: None)))
        for server in (first, second, third):
            assert "Traceback" not in server.log

    pool = PostgreSQLPool(postgresURL)
    try:
        assert AccountStore(pool.database(ACCOUNT_SCHEMA)).accountFor(ssid) is not None
        assert not (first.dataDir / "accounts.sqlite3").exists()
        assert not (second.dataDir / "ticket-secret").exists()
    finally:
        pool.close()


async def maintenance(box: Box, url: str) -> bool:
    """Whether C{url} answers C{box} with maintenance's 503, on a fresh connection."""
    try:
        return (await box.get(url)).status == 503
    finally:
        await box.close()
