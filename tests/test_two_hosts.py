"""
A deployment split over two hosts sharing one PostgreSQL (issue 15 item 4):
two real twistd processes on two loopback addresses, each with its own
empty data directory and the same configuration file, which names every
service's advertised host. 127.0.0.2 runs wtv-1800, wtv-head-waiter and
wtv-register; 127.0.0.3 runs wtv-home and wtv-log. The faithful box
simulator signs up through the first and is sent to the second over
SECURE ON: only the shared database (accounts, ticket secret, bans) lets
the second host know the box.
"""

from __future__ import annotations

import asyncio
import time

from tests.realserver import SERVICES, RealServer, freePorts
from wtvserv.accounts import SCHEMA as ACCOUNT_SCHEMA, AccountStore
from wtvserv.box import Box, BoxError, make_profile, make_ssid
from wtvserv.cli.main import main as wtvserv
from wtvserv.store.postgresql import PostgreSQLPool

FIRST, SECOND = "127.0.0.2", "127.0.0.3"
ON_FIRST = ("wtv-1800", "wtv-head-waiter", "wtv-register")
ON_SECOND = ("wtv-home", "wtv-log")


def hosts(tmp_path, url: str):
    ports = dict(zip(SERVICES, freePorts(len(SERVICES))))
    advertised = {name: FIRST if name in ON_FIRST else SECOND for name in SERVICES}
    config = (f'[storage]\nurl = "{url}"\n[bans]\ncheck_interval = 1\n'
              '[limits]\nexempt_addresses = ["127.0.0.0/8"]\n')
    return [RealServer(tmp_path / name / "data", ports=ports, listening=listening,
                       interface=address, hosts=advertised, config=config)
            for name, address, listening in (("first", FIRST, ON_FIRST),
                                             ("second", SECOND, ON_SECOND))]


async def powerOn(ssid: str, port: int):
    box = Box(FIRST, port, make_profile("plus", ssid=ssid), log=lambda line: None)
    try:
        home = await box.power_on()
    finally:
        await box.close()
    return box, home


def test_a_box_signs_up_on_one_host_and_is_served_by_the_other(tmp_path, postgresURL):
    first, second = hosts(tmp_path, postgresURL)
    ssid = make_ssid(0x715)
    with first, second:
        box, home = asyncio.run(powerOn(ssid, first.ports["wtv-1800"]))
        urls = [response.url for response in box.history]
        assert home.status == 200 and home.url.startswith("wtv-home:/home"), urls
        assert any(url.startswith("wtv-register:") for url in urls)
        assert home.encrypted                       # SECURE ON, keyed from the first's ticket
        assert "GET wtv-home:/home" in second.log and "GET wtv-home:" not in first.log

        # Returning: the account is found in the shared database, no sign-up.
        again, home = asyncio.run(powerOn(ssid, first.ports["wtv-1800"]))
        assert home.status == 200
        assert not any(r.url.startswith("wtv-register:") for r in again.history)

        # A ban made (here, with the command) applies on both hosts within seconds.
        config = str(first.configPath)
        assert wtvserv(["ban", "--config", config, "--data", str(first.dataDir),
                        "add", "ssid", ssid]) == 0
        deadline = time.monotonic() + 10
        while True:
            refused = asyncio.run(homeRefused(again))
            if refused or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert refused, second.log[-2000:]
        try:
            asyncio.run(powerOn(ssid, first.ports["wtv-1800"]))
        except BoxError:
            pass
        else:
            raise AssertionError("the banned box was let in on the first host")
        for server in (first, second):
            assert "Traceback" not in server.log

    pool = PostgreSQLPool(postgresURL)
    try:
        assert AccountStore(pool.database(ACCOUNT_SCHEMA)).accountFor(ssid) is not None
        assert not (first.dataDir / "accounts.sqlite3").exists()
        assert not (second.dataDir / "ticket-secret").exists()
    finally:
        pool.close()


async def homeRefused(box: Box) -> bool:
    """The box asks the second host for its home page on a fresh connection."""
    try:
        answer = await box.get("wtv-home:/home")
    except BoxError:
        return True
    finally:
        await box.close()
    return answer.status == 403
