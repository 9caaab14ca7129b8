"""
One box per connection (PROTOCOL.md 11.1): a box names itself once per
connection, later requests are answered for it, and a request naming
another box is refused with the connection closed.
"""

import pytest
from twisted.logger import formatEvent

from tests.harness import IDENTITY, SSID, TestBox, inProcessServer
from wtvserv.connection import BoxConnection
from wtvserv.passwords import hash_password
from wtvserv.tickets import Ticket
from wtvserv.web import Box
from wtvserv.wire import Headers, Request, Response

VICTIM = "8100000100B0029b"


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        yield server


def identityLines(ssid=SSID) -> bytes:
    values = {**IDENTITY, "wtv-client-serial-number": ssid}
    return "".join(f"{k}: {v}\r\n" for k, v in values.items()).encode()


def lastResponse(transport, start: int = 0) -> bytes:
    return transport.value()[start:]


def loggedIn(server, ssid=SSID, address="127.0.0.1") -> TestBox:
    box = TestBox(server, ssid, address)
    box.login()
    return box


# The box's identity belongs to the connection

def test_stage_two_on_the_login_connection_carries_no_identity_and_is_answered(server):
    """The seed's second request: no SSID, no ROM type, no capability flags."""
    TestBox(server).request("wtv-1800:/preregister")
    box = TestBox(server)
    box.key = server.sessions.currentKey(SSID, box.address)
    protocol, transport = box.connect("wtv-head-waiter")
    protocol.dataReceived(b"GET wtv-head-waiter:/login?\r\nwtv-incarnation: 4\r\n"
                          + identityLines() + b"\r\n")
    login = box._read(transport.value(), None)
    seen = len(transport.value())
    protocol.dataReceived(f"GET {login.get('wtv-visit')}\r\nReferer: wtv-head-waiter:/login?\r\n"
                          f"wtv-request-type: primary\r\nwtv-incarnation: 4\r\n"
                          f"wtv-challenge-response: {box.pendingResponse}\r\n"
                          "wtv-client-address: 0.0.0.0\r\n\r\n".encode())
    answer = box._read(lastResponse(transport, seen), None)
    assert (answer.status, answer.get("wtv-visit")) == (200, "wtv-register:/splash?")
    assert answer.get("wtv-ticket") and not transport.disconnecting


def test_the_minisrv_flow_answers_validatelogin_on_the_login_connection(server):
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    box.request("wtv-head-waiter:/login?")
    validated = box.request("wtv-head-waiter:/ValidateLogin?initial_login=true", box.answer())
    assert validated.status == 200 and validated.get("wtv-ticket")
    assert validated.get("Connection") == "close"


def test_a_later_request_keeps_the_identity_but_not_the_first_requests_own_headers(server):
    connection = BoxConnection(server.tickets, server.sessions, server.ssidPolicy)
    connection.receive(b"GET wtv-1800:/a\r\nContent-length: 0\r\nwtv-challenge-response: x\r\n"
                       b"Referer: wtv-1800:/\r\n" + identityLines() + b"\r\n"
                       b"GET wtv-1800:/b\r\nwtv-capability-flags: 8\r\n\r\n")
    first, second = connection.nextRequest(), connection.nextRequest()
    assert first.ssid == second.ssid == SSID
    assert second.headers.get("wtv-client-rom-type") == IDENTITY["wtv-client-rom-type"]
    assert second.headers.get("wtv-capability-flags") == "8", "a request's own header wins"
    for own in ("wtv-challenge-response", "Referer", "Content-length"):
        assert second.headers.get(own) is None, own


def test_a_connection_is_bound_to_the_first_ssid_it_hears(server):
    connection = BoxConnection(server.tickets, server.sessions, server.ssidPolicy)
    connection.receive(b"GET wtv-1800:/a\r\n\r\nGET wtv-1800:/b\r\n" + identityLines() + b"\r\n"
                       b"GET wtv-1800:/c\r\n\r\n")
    assert connection.nextRequest().ssid is None
    assert connection.nextRequest().ssid == connection.nextRequest().ssid == SSID


# A connection never serves another box

def test_a_plain_request_naming_another_ssid_is_refused_and_the_connection_closed(server, events):
    box = loggedIn(server)
    answer = box.request("wtv-head-waiter:/reconnect", fresh=True)
    assert answer.status == 200
    connection = box._connections["wtv-head-waiter"]
    refused = box.request("wtv-head-waiter:/reconnect", {"wtv-client-serial-number": VICTIM})
    assert refused.status == 400 and refused.get("Connection") == "close"
    assert connection.transport.disconnecting
    assert any("on a connection of" in str(e.get("reason")) for e in events)


@pytest.mark.parametrize("url", ["wtv-home:/home", "wtv-head-waiter:/reconnect",
                                 "wtv-head-waiter:/relogin?relogin=true",
                                 "wtv-head-waiter:/login-stage-two?", "wtv-log:/log"])
def test_a_ticket_holder_cannot_speak_for_another_box_over_secure_on(server, url):
    victim = loggedIn(server, VICTIM)
    server.accounts.createAccount(VICTIM, "Vic", "victim", hash_password("vics-secret"))
    server.accounts.createAccount(SSID, "Att", "attacker", None)
    attacker = loggedIn(server)
    attacker.request("wtv-home:/home", secure=True)
    victimKeys = server.sessions.sessionKeys(VICTIM)
    body = b"report" if url == "wtv-log:/log" else b""
    refused = attacker.request(url, {"wtv-client-serial-number": VICTIM}, body=body, secure=True)
    assert refused.status == 400 and refused.get("Connection") == "close"
    assert attacker._connections[url.partition(":")[0]].transport.disconnecting
    assert server.sessions.sessionKeys(VICTIM) == victimKeys, "the victim stays logged in"
    assert server.logs.list(VICTIM) == []
    assert victim.ticket


def test_a_second_secure_on_naming_another_box_is_refused(server):
    box = loggedIn(server)
    box.request("wtv-home:/home", secure=True)
    connection = box._connections["wtv-home"]
    block = b"SECURE ON\r\n" + identityLines(VICTIM) + b"wtv-incarnation: 9\r\n\r\n"
    connection.protocol.dataReceived(connection.streams.encrypt(block))
    assert connection.received().startswith(b"400 ")
    assert connection.transport.disconnecting


def test_a_ticket_for_another_ssid_is_no_ticket_to_a_handler(server):
    ticket = Ticket(ssid=SSID, key1=bytes(16), key2=bytes(16), des_key=bytes(8),
                    user_id=0, password_ok=True)
    request = Request("GET", "wtv-home:/home",
                      Headers([("wtv-client-serial-number", VICTIM)]), ticket=ticket)
    box = Box(request, server.context)
    assert box.ticket is None and box.user is None and not box.loggedIn


# No body in clear under wtv-encrypted: true

def test_a_password_page_never_goes_in_clear_after_a_plaintext_stage_two(server):
    server.accounts.createAccount(SSID, "Ann", "annpw", hash_password("secret1"))
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    answered = box.request(login.get("wtv-visit"), box.answer())
    assert answered.status == 200 and answered.body == b""
    assert answered.get("wtv-encrypted") == "true" and answered.get("wtv-ticket")
    assert answered.get("Connection") == "close"
    assert answered.get("wtv-visit") == "wtv-head-waiter:/login-stage-two?"
    page = box.request(answered.get("wtv-visit"), secure=True)
    assert page.get("wtv-encrypted") == "true" and b'name="password"' in page.body
    wire = box._connections["wtv-head-waiter"].transport.value()
    assert b'name="password"' not in wire


def test_a_choose_user_page_never_goes_in_clear_after_a_plaintext_stage_two(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    server.accounts.addUser(SSID, "Bob", "bob", None)
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    answered = box.request(login.get("wtv-visit"), box.answer())
    assert answered.body == b"" and answered.get("Connection") == "close"
    page = box.request(answered.get("wtv-visit"), secure=True)
    assert b"user_id=1" in page.body
    assert b"user_id=1" not in box._connections["wtv-head-waiter"].transport.value()


def test_the_connection_refuses_to_send_a_body_in_clear_under_wtv_encrypted(server, events):
    connection = BoxConnection(server.tickets, server.sessions, server.ssidPolicy)
    data = connection.frame(Response(headers=[("wtv-encrypted", "true")], body=b"secret page"))
    assert data.startswith(b"500 ") and b"secret page" not in data
    assert any("plain connection was not sent" in formatEvent(e) for e in events)


def test_a_secure_connection_sends_no_page_in_clear(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    box = loggedIn(server)
    home = box.request("wtv-home:/home", secure=True)
    assert b"Hello, Ann" in home.body
    assert b"Hello" not in box._connections["wtv-home"].transport.value()


def test_a_refused_secure_on_still_says_wtv_encrypted_and_sends_no_body_in_clear(server):
    """PROTOCOL.md 2.5: every response after SECURE ON carries the flag."""
    box = TestBox(server, VICTIM)
    protocol, transport = box.connect("wtv-home")
    protocol.dataReceived(b"SECURE ON\r\n" + identityLines(VICTIM) + b"wtv-incarnation: 3\r\n\r\n"
                          + b"\x17" * 8)
    head, _, body = transport.value().partition(b"\n\n")
    assert head.startswith(b"403 ") and b"\nwtv-encrypted: true\n" in head + b"\n"
    assert body == b"" and b"Content-length: 0" in head
    assert transport.disconnecting


def test_the_same_incarnation_text_rekeys_again_after_secure_on_rekeyed():
    """
    The incarnation a request names is read once per text, but compared
    with the streams' every time: after a SECURE ON went back to 1, a
    request naming 9 again re-keys to 9 again.
    """
    from tests.test_protocol import (
        K1, K2, BoxStreams, RecordingService, connect, readResponses, rememberKeys, secureOn)
    service = RecordingService()
    protocol, transport, _ = connect(service)
    rememberKeys(protocol.factory.sessions)
    box = BoxStreams(K1, K2, 1)
    protocol.dataReceived(secureOn(1) + box.encrypt(b"GET wtv-test:/a\r\nwtv-incarnation: 9\r\n\r\n"))
    box = BoxStreams(K1, K2, 9)
    readResponses(transport.value(), box)
    transport.clear()
    protocol.dataReceived(box.encrypt(secureOn(1)))
    box = BoxStreams(K1, K2, 1)
    protocol.dataReceived(box.encrypt(b"GET wtv-test:/b\r\nwtv-incarnation: 9\r\n\r\n"))
    [(_, body)] = readResponses(transport.value(), BoxStreams(K1, K2, 9))
    assert body == b"<html>/b</html>"


@pytest.mark.parametrize("headers, kept", [
    ([], []),
    ([("wtv-visit", "a"), ("X-wtv-encrypted-not", "b")], [("wtv-visit", "a"), ("X-wtv-encrypted-not", "b")]),
    ([("WTV-Encrypted", "false"), ("wtv-visit", "a"), ("wtv-encrypted", "true")], [("wtv-visit", "a")]),
])
def test_a_secure_answer_drops_every_wtv_encrypted_of_the_service(headers, kept):
    """The connection's own C{wtv-encrypted: true} is the only one, in any spelling."""
    from wtvserv.connection import _without
    assert _without(list(headers), "wtv-encrypted") == kept
