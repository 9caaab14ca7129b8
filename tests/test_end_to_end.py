"""
End to end: the real C{twistd -n wtvserv} process on loopback, driven over
TCP by the project's box simulator and by raw sockets for the lies a box can
tell.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys

import pytest

from tests.realserver import RealServer, exchange, secureExchange
from wtvserv.accounts import ACCOUNT_DB_NAME, AccountStore
from wtvserv.box import Box, BoxError, make_profile, make_ssid
from wtvserv.logstore import LOG_DB_NAME, LogStore


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with RealServer(tmp_path_factory.mktemp("e2e") / "data") as running:
        yield running


def run(coroutine):
    return asyncio.run(coroutine)


async def powerOn(server, unit, kind="plus", **profile):
    """A box with SSID C{unit} boots until home; returns the box and the page."""
    box = Box("127.0.0.1", server.ports["wtv-1800"],
              make_profile(kind, ssid=make_ssid(unit), **profile), log=lambda line: None)
    try:
        home = await box.power_on()
    except BaseException:
        await box.close()
        raise
    return box, home


def visited(box) -> list[str]:
    return [response.url for response in box.history]


def sentInClear(box) -> list[str]:
    """URLs whose page came under wtv-encrypted: true on a plain connection."""
    return [r.url for r in box.history
            if r.headers.get("wtv-encrypted") == "true" and r.wire_length and not r.encrypted]


def logs(server):
    store = LogStore(server.dataDir / LOG_DB_NAME)
    try:
        return store.list(limit=10_000)
    finally:
        store.close()


def test_a_fresh_box_registers_reaches_an_encrypted_home_and_posts_a_log(server):
    async def scenario():
        box, home = await powerOn(server, 1, username="freshbox", human_name="Fresh Box")
        async with box:
            assert any(url.startswith("wtv-register:") for url in visited(box))
            assert home.status == 200 and home.encrypted
            assert "Hello, Fresh Box!" in home.text
            posted = await box.post("wtv-log:/log?type=e2e", b"power-on report")
            assert posted.status == 200 and posted.encrypted
        return box.profile.ssid

    ssid = run(scenario())
    [entry] = [e for e in logs(server) if e.ssid == ssid]
    assert entry.kind == "e2e"
    listed = subprocess.run([sys.executable, "-m", "wtvserv.cli", "logs", "--data", str(server.dataDir),
                             "show", str(entry.id)], capture_output=True, text=True, timeout=60)
    assert "power-on report" in listed.stdout


def test_a_returning_box_logs_in_without_registering(server):
    async def scenario():
        first, _ = await powerOn(server, 2, username="returner")
        await first.close()
        again, home = await powerOn(server, 2, username="returner")
        async with again:
            assert not any(url.startswith("wtv-register:") for url in visited(again))
            assert "returner" in home.text
    run(scenario())


def test_a_password_user_gets_in_with_the_right_password_only(server):
    async def scenario():
        box, _ = await powerOn(server, 3, username="locked", password="open-sesame")
        await box.close()
        with pytest.raises(BoxError, match="incorrect"):
            wrong, _ = await powerOn(server, 3, username="locked", password="open-sesame",
                                     login_password="guess")
        right, home = await powerOn(server, 3, username="locked", password="open-sesame")
        async with right:
            [asked] = [r for r in right.history if b'name="password"' in r.body]
            assert asked.encrypted and asked.headers.get("wtv-encrypted") == "true"
            assert sentInClear(right) == []
            assert "locked" in home.text
        return right.ticket
    ticket = run(scenario())
    assert "open-sesame" not in server.log and "guess" not in server.log
    assert ticket[:40] not in server.log
    stored = b"".join(path.read_bytes() for path in server.dataDir.glob("accounts.sqlite3*"))
    assert b"locked" in stored and b"open-sesame" not in stored and b"scrypt$" in stored


def test_two_users_on_one_box_choose_who_logs_in(server):
    async def scenario():
        box, _ = await powerOn(server, 4, username="parent", human_name="Parent")
        await box.close()
        accounts = AccountStore(server.dataDir / ACCOUNT_DB_NAME)
        accounts.addUser(make_ssid(4), "Kid", "kiddo", None)
        accounts.close()
        kid, home = await powerOn(server, 4, username="parent", choose_user="kiddo")
        async with kid:
            assert "Hello, Kid!" in home.text
            [chooser] = [r for r in kid.history if b"user_id=1" in r.body]
            assert chooser.encrypted and sentInClear(kid) == []
    run(scenario())


def test_relogin_and_reconnect(server):
    async def scenario():
        box, _ = await powerOn(server, 5, username="roamer")
        async with box:
            reconnect = await box.get("wtv-head-waiter:/reconnect")
            assert reconnect.status == 200 and reconnect.headers.get("wtv-visit") is None
            relogin = await box.get("wtv-head-waiter:/relogin?relogin=true")
            assert relogin.headers.get("wtv-visit") == "wtv-1800:/preregister?relogin=true"
            home = await box.power_on()
            assert "roamer" in home.text
    run(scenario())


def test_a_classic_box_gets_lzpf_and_a_new_box_deflate(server):
    async def scenario():
        for unit, kind, expected in [(6, "classic", "lzpf"), (7, "new", "deflate")]:
            box, home = await powerOn(server, unit, kind, username=f"comp{kind}")
            async with box:
                compressed = [r for r in box.history if r.compression]
                assert compressed and {r.compression for r in compressed} == {expected}
                assert all(r.encrypted for r in compressed)
                page = await box.get("wtv-register:/splash?")  # an error page is not compressed
                assert page.status == 403 and page.compression is None
    run(scenario())


def test_the_session_survives_a_server_restart(tmp_path):
    server = RealServer(tmp_path / "data").start()

    async def scenario():
        box, _ = await powerOn(server, 8, username="survivor")
        async with box:
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            before = len(box.history)
            home = await box.get("wtv-home:/home")
            assert home.status == 200 and home.encrypted and "survivor" in home.text
            assert len(box.history) == before + 1  # no new login on the way
    try:
        run(scenario())
    finally:
        server.stop()


# The lies a box can tell


SSID_A, SSID_B = make_ssid(20), make_ssid(21)


def secureOn(ssid: str, ticket: str, incarnation: int = 9) -> bytes:
    return (f"SECURE ON\r\nwtv-client-serial-number: {ssid}\r\nwtv-ticket: {ticket}\r\n"
            f"wtv-incarnation: {incarnation}\r\n\r\n").encode()


def test_a_wrong_challenge_response_is_refused_and_another_challenge_sent(server):
    headers = f"wtv-client-serial-number: {SSID_A}\r\nwtv-incarnation: 1\r\n"
    exchange(server.ports["wtv-1800"], f"GET wtv-1800:/preregister\r\n{headers}\r\n".encode())
    login = exchange(server.ports["wtv-head-waiter"], f"GET wtv-head-waiter:/login?\r\n{headers}\r\n".encode())
    stageTwo = login.split(b"wtv-visit: ")[1].split(b"\n")[0].decode()
    wrong = exchange(server.ports["wtv-head-waiter"], (
        f"GET {stageTwo}\r\n{headers}wtv-challenge-response: {'QUFB' * 24}\r\n\r\n").encode())
    assert wrong.startswith(b"403 ")
    assert b"\nwtv-challenge: " in wrong and b"wtv-ticket" not in wrong


@pytest.fixture(scope="module")
def realTicket(server):
    async def scenario():
        box, _ = await powerOn(server, 22, username="ticketed")
        await box.close()
        return box.ticket
    return run(scenario()), make_ssid(22)


def _altered(ticket: str) -> str:
    raw = bytearray(base64.b64decode(ticket))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("lie", ["forged", "altered", "other-ssid"])
def test_a_lying_ticket_is_refused_nothing_is_stored_and_others_are_served(server, realTicket, lie):
    """
    A ticket that is not this box's, or not ours, keys nothing: what follows
    it is not read, and the box is only sent back through login.
    """
    ticket, ssid = realTicket
    if lie == "forged":
        ticket = base64.b64encode(b"\x01" + bytes(range(90))).decode()
    elif lie == "altered":
        ticket = _altered(ticket)
    else:
        ssid = SSID_B
    before = len(logs(server))
    answer = exchange(server.ports["wtv-log"], secureOn(ssid, ticket) + b"\x99" * 40)
    head, _, body = answer.partition(b"\n\n")
    assert head.startswith(b"200 OK\nConnection: close\nwtv-encrypted: true\n") and body == b""
    assert b"\nwtv-service: reset\nwtv-service: name=wtv-1800 " in head
    assert head.endswith(b"\nwtv-visit: wtv-1800:/preregister?relogin=true"
                         b"\nContent-type: text/html\nContent-length: 0")
    assert b"wtv-ticket" not in head
    assert len(logs(server)) == before

    async def others():
        box, home = await powerOn(server, 23, username="bystander")
        await box.close()
        assert home.status == 200
    run(others())


def test_services_split_across_two_processes_share_one_login(tmp_path):
    """
    Two twistd processes on one data directory (so one ticket secret and one
    account store): the box logs in on the first and is served by the second.
    """
    from tests.realserver import SERVICES, freePorts
    ports = dict(zip(SERVICES, freePorts(len(SERVICES))))
    first = RealServer(tmp_path / "data", ports=ports,
                       listening=("wtv-1800", "wtv-head-waiter"))
    second = RealServer(tmp_path / "data", ports=ports,
                        listening=("wtv-register", "wtv-log", "wtv-home"))
    second.logPath = tmp_path / "second-twistd.log"
    first.start()
    second.start()
    try:
        async def scenario():
            box, home = await powerOn(first, 30, username="splitter")
            async with box:
                assert "splitter" in home.text
                assert (await box.post("wtv-log:/log?type=split", b"x")).status == 200
        run(scenario())
    finally:
        first.stop()
        second.stop()
    assert "wtv-home starting on" not in first.log
    assert "wtv-head-waiter starting on" not in second.log


# One box per connection: a ticket never speaks for another box

CROSS_ROUTES = [("wtv-home", "GET", "wtv-home:/home", b""),
                ("wtv-head-waiter", "GET", "wtv-head-waiter:/reconnect", b""),
                ("wtv-head-waiter", "GET", "wtv-head-waiter:/relogin?relogin=true", b""),
                ("wtv-head-waiter", "GET", "wtv-head-waiter:/login-stage-two?", b""),
                ("wtv-register", "GET", "wtv-register:/register?", b""),
                ("wtv-log", "POST", "wtv-log:/log?type=cross", b"forged report")]


def asBox(ssid: str, method: str, url: str, body: bytes) -> bytes:
    """An inner request naming C{ssid}, as an attacker would write it."""
    lengths = f"Content-type: text/plain\r\nContent-length: {len(body)}\r\n" if body else ""
    return (f"{method} {url}\r\nwtv-request-type: primary\r\n"
            f"wtv-client-serial-number: {ssid}\r\n{lengths}\r\n").encode() + body


def test_a_ticket_holder_naming_another_box_gets_400_and_a_closed_connection(server):
    async def scenario():
        victim, _ = await powerOn(server, 40, username="victim", password="vics-secret")
        attacker, _ = await powerOn(server, 41, username="attacker")
        await attacker.close()
        before = len(logs(server))
        async with victim:
            for service, method, url, body in CROSS_ROUTES:
                head, page, closed = await asyncio.to_thread(
                    secureExchange, server.ports[service], attacker.profile.ssid,
                    attacker.ticket, attacker.session_keys,
                    asBox(victim.profile.ssid, method, url, body))
                assert head.startswith(b"400 "), (url, head)
                assert closed, url
                assert b"victim" not in page
            assert len(logs(server)) == before
            home = await victim.get("wtv-home:/home")
            assert home.status == 200 and "victim" in home.text, "the victim stays logged in"
    run(scenario())
    assert "on a connection of" in server.log


def test_a_plain_connection_naming_a_second_box_is_closed(server):
    first, second = make_ssid(42), make_ssid(43)
    with socket.create_connection(("127.0.0.1", server.ports["wtv-1800"]), timeout=5) as sock:
        sock.sendall(f"GET wtv-1800:/preregister\r\nwtv-client-serial-number: {first}\r\n\r\n"
                     f"GET wtv-1800:/preregister\r\nwtv-client-serial-number: {second}\r\n\r\n"
                     .encode())
        received = b""
        while chunk := sock.recv(65536):     # ends when the server closes
            received += chunk
    head, _, rest = received.partition(b"\n\n")
    assert head.startswith(b"200 OK")
    length = int(head.split(b"Content-length: ")[1].split(b"\n")[0])
    assert rest[length:].startswith(b"400 ")


def _header(answer: bytes, name: str) -> str:
    for line in answer.partition(b"\n\n")[0].decode("latin-1").split("\n"):
        if line.lower().startswith(name.lower() + ": "):
            return line.partition(": ")[2]
    raise AssertionError(f"no {name} in {answer[:200]!r}")


def test_a_ticket_alone_logs_nobody_in(server):
    """
    Issue 12, item 15: a ticket travels in clear in every SECURE ON block;
    alone, in a plain request or on a connection keyed otherwise, it is no
    login. The box that holds its keys keeps working.
    """
    from wtvserv.crypto.challenge import answer_challenge
    ssid = make_ssid(30)

    async def victim():
        box, home = await powerOn(server, 30, username="copied", password="open-sesame")
        await box.close()
        return box
    box = run(victim())
    ticket = box.ticket
    plain = f"wtv-client-serial-number: {ssid}\r\nwtv-ticket: {ticket}\r\nwtv-incarnation: 3\r\n"
    copied = exchange(server.ports["wtv-home"], f"GET wtv-home:/home\r\n{plain}\r\n".encode())
    assert copied.startswith(b"300 ") and b"copied" not in copied

    # A stranger asks for a challenge of its own, so it knows that challenge's
    # keys, and encrypts with them while presenting the copied ticket.
    exchange(server.ports["wtv-1800"], f"GET wtv-1800:/preregister\r\n{plain}\r\n".encode())
    preregistered = exchange(server.ports["wtv-1800"],
                             f"GET wtv-1800:/preregister\r\n{plain}\r\n".encode())
    key = base64.b64decode(_header(preregistered, "wtv-initial-key"))
    login = exchange(server.ports["wtv-head-waiter"],
                     f"GET wtv-head-waiter:/login?\r\n{plain}\r\n".encode())
    theirs = answer_challenge(key, _header(login, "wtv-challenge"))
    head, body, _ = secureExchange(server.ports["wtv-home"], ssid, ticket,
                                   (theirs.key1, theirs.key2), b"GET wtv-home:/home\r\n\r\n")
    assert head.startswith(b"300 ") and b"copied" not in body

    async def owner():
        async with box:
            home = await box.get("wtv-home:/home")
            assert home.status == 200 and "copied" in home.text
    run(owner())


def test_a_ticket_of_a_deleted_account_does_not_log_in_its_successor(server):
    """Issue 12, item 15: an old ticket logged in as the new user 0 of a re-registered SSID."""
    async def first():
        box, home = await powerOn(server, 31, username="firstowner")
        await box.close()
        return box
    box = run(first())
    accounts = AccountStore(server.dataDir / ACCOUNT_DB_NAME)
    try:
        accounts.deleteAccount(make_ssid(31))
        accounts.createAccount(make_ssid(31), "Next Owner", "nextowner", None)
    finally:
        accounts.close()

    async def stale():
        async with box:
            return await box.get("wtv-home:/home")
    home = run(stale())
    assert home.status == 300 and "Next Owner" not in home.text
