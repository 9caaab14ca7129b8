"""
The login services in process: wtv-1800, wtv-head-waiter, wtv-register and
wtv-home against real SQLite stores, driven by a small test box.
"""

import re
from urllib.parse import quote

import pytest

from tests.harness import SSID, TestBox, inProcessServer, makeServer
from wtvserv.box.forms import parse_page
from wtvserv.passwords import hash_password


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        yield server


def register(server, name="Ann", username="ann", password=None, ssid=SSID):
    server.accounts.createAccount(ssid, name, username,
                                  hash_password(password) if password else None)


def splashRefresh(response) -> str:
    """The URL the META refresh of a response's page goes to."""
    return parse_page(response.body.decode("latin-1")).refresh


def test_preregister_hands_out_a_key_and_points_at_the_login(server):
    box = TestBox(server)
    response = box.request("wtv-1800:/preregister?scriptless-visit-reason=10&0")
    assert response.status == 200
    assert len(box.key) == 8
    services = response.getAll("wtv-service")
    assert services[0] == "reset"
    assert services[1].startswith("name=wtv-1800 host=127.0.0.1 port=1615 flags=0x00000001")
    assert response.get("wtv-visit") == "wtv-head-waiter:/login?"
    assert response.get("wtv-boot-url") == "wtv-head-waiter:/login?relogin=true"
    assert response.get("wtv-client-date") == "Sat, 01 Jan 2000 00:00:00 GMT"


def test_login_sends_a_112_byte_challenge_and_a_token_url(server):
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    response = box.request("wtv-head-waiter:/login?")
    assert len(response.get("wtv-challenge")) == 152
    assert re.fullmatch(r"wtv-head-waiter:/login-stage-two-wtv-token-\d+-[0-9a-f]{32}\?",
                        response.get("wtv-visit"))
    assert response.get("wtv-service").startswith("name=wtv-log ")


def test_an_unregistered_box_is_sent_to_wtv_register_with_a_ticket(server):
    box = TestBox(server)
    response = box.login()
    assert response.status == 200
    assert response.get("wtv-visit") == "wtv-register:/splash?"
    assert response.get("wtv-ticket")
    assert response.get("wtv-encrypted") == "true"
    assert any(s.startswith("name=wtv-register ") for s in response.getAll("wtv-service"))


def test_registration_creates_the_account_then_relogin_reaches_home(server):
    box = TestBox(server)
    box.login()
    form = box.request("wtv-register:/register?", secure=True)
    assert b'name="subscriber_username"' in form.body
    done = box.request("wtv-register:/ValidateRegistration", secure=True, body=(
        b"subscriber_name=Ann+Box&subscriber_username=annbox&agreement=yes"))
    assert done.status == 200, done.reason
    assert done.get("wtv-visit") == "wtv-head-waiter:/login?new_registration=1"
    assert server.accounts.accountFor(SSID).primary.username == "annbox"
    login = box.request("wtv-head-waiter:/login?new_registration=1")
    assert login.get("wtv-visit").endswith("?new_registration=1")
    answered = box.request(login.get("wtv-visit"), box.answer())
    # The final response has a page, so it comes over SECURE ON.
    assert answered.get("Connection") == "close" and answered.body == b""
    assert answered.get("wtv-visit") == "wtv-head-waiter:/login-stage-two?new_registration=1"
    final = box.request(answered.get("wtv-visit"), secure=True)
    assert final.getAll("wtv-visit") == ["client:closeallpanels"]
    splash = splashRefresh(final)
    assert splash.startswith("wtv-head-waiter:/check-tellyscript?next-url=wtv-home:/home&dummy=0x")
    hop = box.request(splash, secure=True)
    assert hop.get("wtv-visit") == "wtv-home:/home"
    home = box.request("wtv-home:/home", secure=True)
    assert home.status == 200
    assert b"Hello, Ann Box!" in home.body


def test_invalid_registration_shows_the_form_again_with_the_reason(server):
    box = TestBox(server)
    box.login()
    again = box.request("wtv-register:/ValidateRegistration", secure=True,
                        body=b"subscriber_name=Ann&subscriber_username=9lives&agreement=yes")
    assert again.status == 200
    assert b"must start with a letter" in again.body.lower() or b"letter" in again.body
    assert server.accounts.accountFor(SSID) is None


def test_a_box_with_an_account_cannot_register_again(server):
    register(server)
    box = TestBox(server)
    box.login()
    refused = box.request("wtv-register:/ValidateRegistration", secure=True,
                          body=b"subscriber_name=Bo&subscriber_username=bobo&agreement=yes")
    assert refused.status == 403
    assert server.accounts.userCount() == 1


def test_the_final_response_lists_every_enabled_service(server):
    register(server)
    final = TestBox(server).login()
    services = final.getAll("wtv-service")
    assert services[0] == "reset"
    names = {s.split()[0] for s in services[1:]}
    assert names == {f"name={n}" for n in [*server.directory.names(), "wtv-*"]}
    assert final.get("wtv-human-name") == "Ann"
    assert final.get("wtv-relogin-url") == "wtv-head-waiter:/relogin?relogin=true"


def test_the_minisrv_flow_validatelogin_then_secure_stage_two(server):
    register(server)
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    box.request("wtv-head-waiter:/login?")
    validated = box.request("wtv-head-waiter:/ValidateLogin?initial_login=true", box.answer())
    assert validated.head.startswith("200 OK\nConnection: close\nwtv-ticket: ")
    assert validated.get("wtv-encrypted") == "true"
    assert validated.get("wtv-visit") == "wtv-head-waiter:/login-stage-two?"
    final = box.request("wtv-head-waiter:/login-stage-two?", secure=True)
    assert final.get("wtv-human-name") == "Ann"


def test_a_wrong_challenge_response_gets_403_and_a_fresh_challenge(server):
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    box.key = server.sessions.currentKey(SSID, box.address)  # the box could not use that challenge
    wrong = box.request(login.get("wtv-visit"), {"wtv-challenge-response": "AAAA" * 24})
    assert wrong.status == 403
    assert wrong.get("wtv-challenge") and not wrong.get("wtv-ticket")
    final = box.request(wrong.get("wtv-visit"), box.answer())
    assert final.status == 200 and final.get("wtv-ticket")


def test_too_many_wrong_answers_lock_the_address_out_not_the_ssid(server):
    """Issue 12, item 10: five wrong answers from anyone locked the SSID out."""
    box = TestBox(server, address="198.51.100.7")
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    url = login.get("wtv-visit")
    limit = server.config.loginFailuresPerAddress
    for attempt in range(limit):
        box.key = server.sessions.currentKey(SSID, box.address)
        wrong = box.request(url, {"wtv-challenge-response": "AAAA" * 24})
        assert wrong.status == 403
        assert ("Too many" in wrong.reason) == (attempt == limit - 1)
    assert wrong.reason == "Too many failed login attempts. Please wait 10 minutes and try again."
    box.request("wtv-1800:/preregister")
    assert "Too many" in box.request("wtv-head-waiter:/login?").reason
    assert TestBox(server).login().status == 200, "the SSID is not locked for its box"
    server.reactor.advance(server.config.loginWindow + 1)
    assert box.login().status == 200


def test_a_stale_stage_two_token_is_refused(server):
    box = TestBox(server)
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    server.reactor.advance(601)
    assert box.request(login.get("wtv-visit"), box.answer()).status == 403


def test_login_without_a_known_key_goes_back_to_wtv_1800(server):
    response = TestBox(server).request("wtv-head-waiter:/login?")
    assert response.get("wtv-visit") == "wtv-1800:/preregister?relogin=true"


def test_a_password_user_is_asked_and_a_wrong_password_refused(server):
    register(server, password="secret1")
    box = TestBox(server)
    page = box.login()
    assert b'name="password"' in page.body and page.get("wtv-ticket")
    wrong = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=nope",
                        secure=True)
    assert wrong.status == 403 and "incorrect" in wrong.reason
    right = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=secret1",
                        secure=True)
    assert right.status == 200 and right.get("wtv-visit").startswith("wtv-head-waiter:/login-stage-two")
    final = box.request(right.get("wtv-visit"), secure=True)
    assert final.get("wtv-human-name") == "Ann"
    assert box.request("wtv-home:/home", secure=True).status == 200


def test_home_refuses_a_password_user_who_has_not_typed_it(server):
    register(server, password="secret1")
    box = TestBox(server)
    box.login()
    assert box.request("wtv-home:/home", secure=True).status == 300


def test_two_users_choose_then_log_in(server):
    register(server)
    server.accounts.addUser(SSID, "Bob", "bob", None)
    box = TestBox(server)
    choose = box.login()
    assert b"ValidateLogin?user_id=1&amp;user_login=true" in choose.body
    chosen = box.request("wtv-head-waiter:/ValidateLogin?user_id=1&user_login=true", secure=True)
    final = box.request(chosen.get("wtv-visit"), secure=True)
    assert final.get("wtv-human-name") == "Bob"
    assert b"Hello, Bob!" in box.request("wtv-home:/home", secure=True).body


def test_relogin_logs_out_and_goes_to_wtv_1800(server):
    """Issue 12, item 15: a ticket kept working after /relogin."""
    register(server)
    box = TestBox(server)
    box.login()
    assert box.request("wtv-home:/home", secure=True).status == 200
    response = box.request("wtv-head-waiter:/relogin?relogin=true", secure=True)
    assert response.getAll("wtv-service")[0] == "reset"
    assert response.get("wtv-visit") == "wtv-1800:/preregister?relogin=true"
    assert server.sessions.sessionKeys(SSID) is None
    assert box.request("wtv-home:/home", secure=True, fresh=True).status == 300, \
        "the old ticket no longer logs the box in"
    assert box.login().status == 200
    assert box.request("wtv-home:/home", secure=True, fresh=True).status == 200


def test_reconnect_resumes_on_the_ticket_without_a_visit(server):
    register(server)
    box = TestBox(server)
    box.login()
    response = box.request("wtv-head-waiter:/reconnect", secure=True)
    assert response.status == 200
    assert response.get("wtv-human-name") == "Ann"
    assert response.get("wtv-visit") is None


@pytest.mark.parametrize("target", [
    "http://evil/", "client:ResetNVAndPowerOff", "client:poweroff",
    "client:ConfirmConnectSetup?foo=bar", "wtv-nosuchservice:/x", "wtv-home", "WTV-HOME:/home"])
def test_check_tellyscript_refuses_foreign_next_urls(server, target):
    """Issue 12, item 16: client: URLs came back as a wtv-visit from a trusted service."""
    box = TestBox(server)
    response = box.request(f"wtv-head-waiter:/check-tellyscript?next-url={quote(target)}")
    assert response.get("wtv-visit") == "wtv-home:/home"


def test_check_tellyscript_goes_on_to_an_enabled_services_page(server):
    box = TestBox(server)
    response = box.request("wtv-head-waiter:/check-tellyscript?next-url=wtv-log:/log%3Fa%3Db")
    assert response.get("wtv-visit") == "wtv-log:/log?a=b"


def test_a_log_post_is_stored_with_ssid_and_kind(server):
    box = TestBox(server)
    response = box.request("wtv-log:/log?type=boot", body=b"box says hi")
    assert response.status == 200 and response.body == b""
    [entry] = server.logs.list(SSID)
    assert (entry.kind, server.logs.get(entry.id).body) == ("boot", b"box says hi")


def test_minisrvs_registration_urls_and_fields_work_too(server):
    """PROTOCOL.md 9: ValidateAgreement, ValidateAccountInfo, review, finish."""
    box = TestBox(server)
    box.login()
    fields = (b"registering=true&subscriber_name=Zed&subscriber_username=zedbox"
              b"&subscriber_contact=z%40example.com&subscriber_contact_method=email")
    form = box.request("wtv-register:/ValidateAgreement?registering=true&subscriber_name=Zed",
                       secure=True)
    assert form.status == 200 and b'value="Zed"' in form.body
    review = box.request("wtv-register:/ValidateAccountInfo", secure=True, body=fields)
    assert review.status == 200 and b"ValidateReviewAccountInfo" in review.body
    assert server.accounts.accountFor(SSID) is None
    change = box.request("wtv-register:/ValidateReviewAccountInfo", secure=True,
                         body=fields + b"&Change=Change")
    assert b"subscriber_username" in change.body and server.accounts.accountFor(SSID) is None
    done = box.request("wtv-register:/ValidateReviewAccountInfo", secure=True,
                       body=fields + b"&SignUp=Sign+Up")
    assert done.status == 200 and server.accounts.accountFor(SSID).primary.username == "zedbox"
    finish = box.request("wtv-register:/FinishRegistration", secure=True)
    assert (finish.status, finish.get("Location")) == (300, "client:relogin")
    assert finish.getAll("wtv-service")[0] == "reset"


def test_password_guessing_is_limited_over_time_not_per_login(server):
    register(server, password="secret1")
    box = TestBox(server)
    box.login()
    attempts = server.config.loginAttempts
    for _ in range(attempts - 1):
        assert "incorrect" in box.request("wtv-head-waiter:/ValidateLogin", secure=True,
                                          body=b"user_id=0&password=guess").reason
    last = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=guess",
                       secure=True)
    assert last.status == 403 and "Please wait 10 minutes" in last.reason
    refused = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=secret1",
                          secure=True)
    assert refused.status == 403 and "Too many" in refused.reason
    box.login()
    again = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=secret1",
                        secure=True)
    assert "Too many" in again.reason, "starting over does not reset the count"
    server.reactor.advance(601)
    box.login()
    allowed = box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=secret1",
                          secure=True)
    assert allowed.status == 200


def test_sign_ups_stop_when_the_store_is_full(tmp_path):
    server, _ = makeServer(tmp_path / "full", maxUsersTotal=1)
    try:
        register(server, ssid="8100000100B0029b")
        box = TestBox(server)
        box.login()
        refused = box.request("wtv-register:/ValidateRegistration", secure=True,
                              body=b"subscriber_name=Al&subscriber_username=alfull&agreement=yes")
        assert refused.status == 503
        assert server.accounts.userCount() == 1
    finally:
        server.accounts.close()
        server.logs.close()


def test_a_sign_up_with_a_password_is_refused_before_its_hash_is_made(tmp_path):
    """A full store, or a user name taken, is found before the slow work."""
    from tests.harness import ImmediateThreads

    class CountingWorkers(ImmediateThreads):
        jobs = 0

        def callInThreadWithCallback(self, onResult, function, *args, **kwargs):
            self.jobs += 1
            super().callInThreadWithCallback(onResult, function, *args, **kwargs)
    workers = CountingWorkers()
    server, _ = makeServer(tmp_path / "full", workers=workers, maxUsersTotal=1)
    try:
        register(server, ssid="8100000100B0029b", username="ann")
        box = TestBox(server)
        box.login()
        form = b"subscriber_name=Al&agreement=yes&subscriber_password=secret12&subscriber_username="
        taken = box.request("wtv-register:/ValidateRegistration", secure=True,
                            body=form + b"ANN")
        assert taken.status == 200 and b"The user name ANN is taken" in taken.body
        full = box.request("wtv-register:/ValidateRegistration", secure=True,
                           body=form + b"alfull")
        assert full.status == 503 and workers.jobs == 0
        assert server.accounts.userCount() == 1
    finally:
        server.accounts.close()
        server.logs.close()
