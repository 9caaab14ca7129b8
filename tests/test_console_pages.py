"""
The console's pages and changes over real TCP against the real twistd, on
SQLite and on PostgreSQL: a box registered by the simulator shows on the
dashboard, its account is repaired, moved and deleted, its address
banned, maintenance switched; box reports are listed, filtered and read,
and what boxes sent is escaped.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from tests.console_client import ConsoleClient, setConsolePassword
from tests.realserver import LOOPBACK_EXEMPT, RealServer
from tests.test_cli import runCommand
from wtvserv.box import Box, make_profile, make_ssid
from wtvserv.config import Config
from wtvserv.store.stores import openStores

PASSWORD = "console secret"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    url = request.getfixturevalue("postgresURL") if request.param == "postgresql" else None
    config = LOOPBACK_EXEMPT + (f'[storage]\nurl = "{url}"\n[bans]\ncheck_interval = 1\n'
                                if url else "")
    dataDir = tmp_path / "data"
    setConsolePassword(dataDir, PASSWORD)
    stores = openStores(Config(dataDir=dataDir, storageURL=url))
    try:
        stores.logs.add(EVIL[:60], "crash-log", {"reason": EVIL}, EVIL.encode() + b"\n")
        stores.logs.add(make_ssid(201), "phone-log", {}, b"dialled", "192.0.2.5")
        stores.accounts.createAccount(EVIL, "Eve", "evelyn", None)
    finally:
        stores.close()
    with RealServer(dataDir, config=config) as running:
        yield running


def signedIn(server) -> ConsoleClient:
    client = ConsoleClient(server.consoleURL)
    assert client.signIn(PASSWORD).status == 303
    return client


def register(server, ssid: str, username: str) -> None:
    async def powerOn():
        profile = make_profile("plus", ssid=ssid, username=username, password="secret1")
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile,
                       log=lambda line: None) as box:
            await box.power_on()
    asyncio.run(powerOn())


def notice(answer) -> str:
    match = re.search(r'<p id="notice" class="notice">(.*?)</p>', answer.body)
    return html.unescape(match.group(1)) if match else ""


def followed(client, answer):
    assert answer.status == 303, answer.body
    return client.get(answer.location)


def test_a_registered_box_is_shown_repaired_moved_and_deleted(server):
    ssid, replacement = make_ssid(202), make_ssid(203)
    register(server, ssid, "consolebox")
    client = signedIn(server)
    dashboard = client.get("/")
    assert f'<a href="/accounts/{ssid}">{ssid}</a>' in dashboard.body
    assert "127.0.0.1" in dashboard.body.split('id="recent-logins"')[1]

    found = client.get("/accounts?q=CONSOLEBOX")
    assert f'href="/accounts/{ssid}"' in found.body
    assert ssid not in client.get("/accounts?q=nobody").body
    page = client.get(f"/accounts/{ssid}")
    assert "consolebox" in page.body and "Clear password" in page.body
    assert "Remove user" not in page.body, "the subscriber is not removed, only deleted"

    cleared = followed(client, client.post(f"/accounts/{ssid}/clear-password",
                                           csrf=page.csrf(), user="0"))
    assert notice(cleared) == f"Password cleared for user 0 of {ssid}."
    assert "Clear password" not in cleared.body
    masked = f"{ssid[:4]}********{ssid[-4:]}"
    assert (f"console: operator from 127.0.0.1 cleared the password of user 0 of {masked}"
            in server.log)
    assert notice(client.get(f"/accounts/{ssid}")) == "", "a notice shows once"

    added = runCommand("accounts", "--config", str(server.configPath), "--data",
                       str(server.dataDir), "add-user", ssid, "kiddo")
    assert added.returncode == 0, added.stderr
    page = client.get(f"/accounts/{ssid}")
    assert 'id="user-1"' in page.body and "Remove user" in page.body
    removed = followed(client, client.post(f"/accounts/{ssid}/remove-user", csrf=page.csrf(),
                                           user="1"))
    assert notice(removed) == f"Removed user 1 of {ssid}." and "kiddo" not in removed.body
    refused = followed(client, client.post(f"/accounts/{ssid}/remove-user", csrf=page.csrf(),
                                           user="0"))
    assert notice(refused) == "user 0 is the subscriber; delete the account instead"

    moved = followed(client, client.change(f"/accounts/{ssid}", f"/accounts/{ssid}/transfer",
                                           new=replacement))
    assert notice(moved) == f"Moved the account of {ssid} to {replacement}."
    assert client.get(f"/accounts/{ssid}").status == 404
    refused = followed(client, client.change(f"/accounts/{replacement}",
                                             f"/accounts/{replacement}/transfer", new="nope"))
    assert "is not a serial number the server accepts" in notice(refused)

    kept = followed(client, client.change(f"/accounts/{replacement}",
                                          f"/accounts/{replacement}/delete"))
    assert "Tick the box" in notice(kept) and "consolebox" in kept.body
    gone = followed(client, client.change(f"/accounts/{replacement}",
                                          f"/accounts/{replacement}/delete", confirm="yes"))
    assert notice(gone) == f"Deleted the account of {replacement}."
    assert client.get(f"/accounts/{replacement}").status == 404
    assert "deleted the account of" in server.log


def test_an_address_is_banned_and_the_ban_lifted(server):
    client = signedIn(server)
    added = followed(client, client.change("/bans", "/bans/add", address=" 203.0.113.7 ",
                                           reason=EVIL))
    assert notice(added) == "Banned 203.0.113.7."
    row = added.body.split('id="bans"')[1]
    assert "203.0.113.7" in row and html.escape(EVIL) in row and EVIL not in row
    again = followed(client, client.change("/bans", "/bans/add", address="203.0.113.7"))
    assert notice(again) == "203.0.113.7 is already banned."
    bad = followed(client, client.change("/bans", "/bans/add", address="not an address"))
    assert "is not an address or CIDR range" in notice(bad)
    assert "console: operator from 127.0.0.1 banned address 203.0.113.7" in server.log
    lifted = followed(client, client.change("/bans", "/bans/remove", kind="address",
                                            value="203.0.113.7"))
    assert notice(lifted) == "Lifted the ban on 203.0.113.7."
    assert "203.0.113.7" not in lifted.body.split('id="bans"')[1]


def test_maintenance_is_switched_on_and_off(server):
    client = signedIn(server)
    assert "Maintenance on" in client.get("/").body
    on = followed(client, client.change("/", "/switches", name="maintenance", state="on"))
    assert notice(on) == "Maintenance is on."
    assert "Maintenance off" in on.body, "the dashboard shows the switch as it is now"
    assert 'id="maintenance-banner"' in on.body, "impossible to miss while it is on"
    inDatabase = "[storage]" in server.configPath.read_text()
    assert (server.dataDir / "switches.txt").is_file() != inDatabase
    nonsense = followed(client, client.change("/", "/switches", name="maintenance",
                                              state="sideways"))
    assert "is no switch setting" in notice(nonsense)
    off = followed(client, client.change("/", "/switches", name="maintenance", state="off"))
    assert "Maintenance on" in off.body
    assert 'id="maintenance-banner"' not in off.body
    assert "console: operator from 127.0.0.1 set maintenance on" in server.log


def test_reports_are_listed_filtered_read_and_escaped(server):
    client = signedIn(server)
    listing = client.get("/reports")
    assert listing.status == 200 and EVIL not in listing.body
    assert html.escape(EVIL[:60]) in listing.body and make_ssid(201) in listing.body
    phone = client.get("/reports?kind=phone-log")
    assert make_ssid(201) in phone.body and html.escape(EVIL[:60]) not in phone.body
    assert make_ssid(201) not in client.get(f"/reports?ssid={make_ssid(202)}").body
    number = re.search(r'href="/reports/(\d+)">\1</a></td><td>[^<]*</td>\s*<td>&lt;',
                       listing.body).group(1)
    report = client.get(f"/reports/{number}")
    assert report.status == 200 and EVIL not in report.body
    assert report.body.count(html.escape(EVIL)) >= 2, "the field and the body, escaped"
    assert client.get("/reports/999999").status == 404


def test_an_ssid_with_markup_shows_as_text_and_links_safely(server):
    client = signedIn(server)
    listing = client.get("/accounts?q=evelyn")
    assert EVIL not in listing.body and html.escape(EVIL) in listing.body
    assert 'href="/accounts/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in listing.body
    page = client.get("/accounts/%3Cscript%3Ealert%281%29%3C%2Fscript%3E")
    assert page.status == 200 and "evelyn" in page.body and EVIL not in page.body
    missing = client.get("/accounts/%3Cb%3Enone")
    assert missing.status == 404 and "&lt;b&gt;none" in missing.body


def test_the_dashboard_counts_a_box_connected_and_logged_in(server):
    ssid = make_ssid(205)
    client = signedIn(server)

    async def scenario():
        profile = make_profile("plus", ssid=ssid, username="countbox", password="secret1")
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile,
                       log=lambda line: None) as box:
            await box.power_on()
            await box.get("wtv-home:/home")
            return await asyncio.to_thread(client.get, "/")
    dashboard = asyncio.run(scenario())
    assert re.search(r'id="connected" class="number">1<', dashboard.body)
    assert re.search(r'id="logged-in" class="number">1<', dashboard.body)


def test_the_log_page_shows_recent_lines_with_serial_numbers_masked(server):
    ssid = make_ssid(204)
    register(server, ssid, "logbox")
    client = signedIn(server)
    page = client.get("/log")
    assert page.status == 200 and "serving" in page.body
    assert f"{ssid[:4]}********{ssid[-4:]}" in page.body and ssid not in page.body
