"""
Tickets that last (in process, with the harness's clock): a box left on
keeps its login because its ticket is issued afresh past half its life,
and a box whose ticket no longer counts (expired, another server's) is sent
back through login with headers only, never an error it would show.
"""

import pytest

from tests.harness import SSID, TestBox, inProcessServer
from wtvserv.tickets import Ticket, TicketAuthority

HOUR = 3600
RELOGIN = "wtv-1800:/preregister?relogin=true"


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        server.accounts.createAccount(SSID, "Ann Box", "annbox", None)
        yield server


def loggedIn(server) -> TestBox:
    box = TestBox(server)
    final = box.login()
    assert final.get("wtv-user-name") == "annbox", final.head
    return box


def home(box: TestBox, fresh: bool = False):
    return box.request("wtv-home:/home", secure=True, fresh=fresh)


def assertSentThroughLogin(response) -> None:
    """Headers only, a fresh service list holding wtv-1800, and a visit there."""
    assert response.status == 200 and response.body == b""
    assert response.getAll("wtv-service")[0] == "reset"
    assert response.getAll("wtv-service")[1].startswith("name=wtv-1800 ")
    assert response.get("wtv-visit") == RELOGIN
    assert response.get("wtv-ticket") is None


def test_a_box_left_on_for_three_days_keeps_browsing(server):
    box = loggedIn(server)
    first = server.tickets.verify(box.ticket, SSID)
    tickets = {box.ticket}
    for hour in range(6, 73, 6):          # a page every six hours, for three days
        server.reactor.advance(6 * HOUR)
        page = home(box, fresh=hour % 12 == 0)   # a new connection now and then
        assert page.status == 200 and b"Hello, Ann Box!" in page.body, (hour, page.head)
        tickets.add(box.ticket)
    assert len(tickets) >= 6, "renewed at least every twelve hours"
    last = server.tickets.verify(box.ticket, SSID)
    assert last.expires > server.reactor.seconds() + 12 * HOUR
    unchanged = ("ssid", "key1", "key2", "des_key", "user_id", "password_ok")
    assert [getattr(last, f) for f in unchanged] == [getattr(first, f) for f in unchanged]


def test_a_ticket_is_renewed_only_past_half_its_life(server):
    box = loggedIn(server)
    server.reactor.advance(11 * HOUR)
    assert home(box).get("wtv-ticket") is None
    server.reactor.advance(1 * HOUR)
    renewed = home(box).get("wtv-ticket")
    assert renewed and server.tickets.verify(renewed, SSID).issued == server.reactor.seconds()


def test_a_ticket_replayed_in_clear_is_not_renewed(server):
    box = loggedIn(server)
    server.reactor.advance(13 * HOUR)
    plain = box.request("wtv-home:/home")
    assert plain.get("wtv-ticket") is None


def test_an_expired_ticket_is_sent_back_through_login_and_gets_in_again(server):
    box = loggedIn(server)
    server.reactor.advance(25 * HOUR)
    for answer in (home(box), home(box, fresh=True),
                   box.request("wtv-head-waiter:/reconnect", secure=True)):
        assertSentThroughLogin(answer)
    final = box.login()
    assert final.get("wtv-user-name") == "annbox"
    assert home(box).status == 200


def test_another_servers_ticket_is_sent_back_through_login_and_gets_in(server):
    """
    A box that was logged in elsewhere holds a ticket and keys no one here
    can read: its SECURE ON is answered with the detour, wtv-1800 tells it
    to log in in clear, and the ticket it gets there puts it back on
    encrypted connections.
    """
    stranger = TicketAuthority(b"another server's secret, 32 byte", server.reactor)
    box = TestBox(server)
    box.keys = (b"k" * 16, b"K" * 16)
    box.ticket = stranger.issue(Ticket(SSID, *box.keys, b"d" * 8, user_id=0, password_ok=True))
    assertSentThroughLogin(home(box))
    prereg = box.request(RELOGIN)
    headWaiter = [s for s in prereg.getAll("wtv-service") if s.startswith("name=wtv-head-waiter ")]
    assert headWaiter and headWaiter[0].endswith("flags=0x00000001 connections=1")
    login = box.request("wtv-head-waiter:/login?relogin=true")
    answered = box.request(login.get("wtv-visit"), box.answer())
    assert answered.get("Connection") == "close"
    assert any(s.startswith("name=wtv-head-waiter ") and "flags" not in s
               for s in answered.getAll("wtv-service"))
    final = box.request(answered.get("wtv-visit"), secure=True)
    assert final.get("wtv-user-name") == "annbox"
    assert b"Hello, Ann Box!" in home(box).body


def test_an_expired_ticket_keeps_the_head_waiter_encrypted(server):
    box = loggedIn(server)
    server.reactor.advance(25 * HOUR)
    prereg = box.request(RELOGIN, fresh=True)
    assert not any("flags" in s for s in prereg.getAll("wtv-service")
                   if s.startswith("name=wtv-head-waiter "))


def test_a_renewed_ticket_keeps_its_generation_and_a_stale_one_is_not_renewed(server):
    server.accounts.bumpGeneration(SSID)
    box = loggedIn(server)
    server.reactor.advance(13 * HOUR)
    renewed = server.tickets.verify(home(box).get("wtv-ticket"), SSID)
    assert renewed.generation == server.accounts.generationOf(SSID) > 0
    server.accounts.bumpGeneration(SSID)          # logged out elsewhere, say
    server.reactor.advance(13 * HOUR)
    stale = home(box, fresh=True)
    assert stale.get("wtv-ticket") is None and b"Hello" not in stale.body


def test_a_page_that_needs_no_account_still_renews_a_ticket_past_half_its_life(server):
    """check-tellyscript looks nothing up for itself, but a ticket due for renewal is renewed."""
    box = loggedIn(server)
    check = "wtv-head-waiter:/check-tellyscript?next-url=wtv-home:/home"
    server.reactor.advance(11 * HOUR)
    assert box.request(check, secure=True).get("wtv-ticket") is None
    server.reactor.advance(1 * HOUR)
    renewed = box.request(check, secure=True).get("wtv-ticket")
    assert renewed and server.tickets.verify(renewed, SSID).issued == server.reactor.seconds()
    server.accounts.bumpGeneration(SSID)           # logged out elsewhere: never renewed
    server.reactor.advance(12 * HOUR)
    assert box.request(check, secure=True).get("wtv-ticket") is None
