"""
The service author's API (L{wtvserv.web}): routing, login by default,
answers, and static files that cannot be escaped from.
"""

import os

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.harness import SSID, makeServer
from wtvserv.directory import DONT_ENCRYPT_REQUESTS, ServiceEntry
from wtvserv.tickets import Ticket
from wtvserv.web import WTVService, error, page, redirect, visit
from wtvserv.wire import Headers, Request

sync = SynchronousTestCase()


@pytest.fixture
def context(tmp_path):
    server, _ = makeServer(tmp_path / "data")
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    yield server.context
    server.accounts.close()
    server.logs.close()


def ask(service, url, loggedIn=False, method="GET", body=b"", proven=True, generation=0):
    """
    @param proven: whether the connection is encrypted with the ticket's keys.
    """
    request = Request(method, url, Headers([("wtv-client-serial-number", SSID)]), body)
    if loggedIn:
        request.ticket = Ticket(SSID, b"1" * 16, b"2" * 16, b"3" * 8, user_id=0, password_ok=True,
                                generation=generation)
        request.keysProven = proven
    return sync.successResultOf(_deferred(service.handle(request)))


def _deferred(result):
    from twisted.internet.defer import maybeDeferred
    return maybeDeferred(lambda: result)


@pytest.fixture
def service(context, tmp_path):
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(tmp_path, root / "dirlink")
    service = WTVService("wtv-test", context)
    service.static("/files", root)

    @service.route("/hello")
    def hello(box):
        return page("Hi", f"<p>{box.user.username} {box.form.get('x', '')}</p>")

    @service.route("/open", login=False)
    def open_(box):
        return visit("wtv-home:/home")

    service.route("/go", login=False)(lambda box: redirect("wtv-test:/hello"))
    service.route("/fail", login=False)(lambda box: error(404, "Nothing here."))
    return service


def test_a_route_answers_with_a_page_for_a_logged_in_box(service):
    response = ask(service, "wtv-test:/hello?x=1", loggedIn=True)
    assert response.status == 200 and b"<p>ann 1</p>" in response.body


def test_a_ticket_alone_is_no_login(service):
    """Issue 12, item 15: a ticket copied from a SECURE ON block logged its user in."""
    response = ask(service, "wtv-test:/hello", loggedIn=True, proven=False)
    assert (response.status, response.header("Location")) == (300, "client:relogin")


def test_a_service_whose_boxes_do_not_encrypt_takes_a_ticket_alone(context):
    context.directory.add(ServiceEntry("wtv-plain", "127.0.0.1", 1699, flags=DONT_ENCRYPT_REQUESTS))
    service = WTVService("wtv-plain", context)
    service.route("/hi")(lambda box: f"<p>{box.user.username}</p>")
    assert b"ann" in ask(service, "wtv-plain:/hi", loggedIn=True, proven=False).body


def test_a_ticket_of_an_older_generation_is_no_login(service, context):
    """Issue 12, item 15: an old ticket logged in as the new user 0 of a re-registered SSID."""
    context.accounts.deleteAccount(SSID)
    context.accounts.createAccount(SSID, "Eve", "eve", None)
    stale = ask(service, "wtv-test:/hello", loggedIn=True, generation=0)
    assert (stale.status, stale.header("Location")) == (300, "client:relogin")
    current = context.accounts.generationOf(SSID)
    fresh = ask(service, "wtv-test:/hello", loggedIn=True, generation=current)
    assert b"<p>eve" in fresh.body


def test_routes_require_a_login_by_default(service):
    response = ask(service, "wtv-test:/hello")
    assert (response.status, response.header("Location")) == (300, "client:relogin")


def test_login_false_routes_are_open(service):
    assert ask(service, "wtv-test:/open").header("wtv-visit") == "wtv-home:/home"


def test_a_redirect_carries_location_and_wtv_visit(service):
    response = ask(service, "wtv-test:/go")
    assert response.status == 302
    assert response.header("Location") == response.header("wtv-visit") == "wtv-test:/hello"


def test_another_services_url_is_refused(service):
    assert ask(service, "wtv-other:/hello", loggedIn=True).status == 400


def test_a_static_file_is_served_with_its_type(service):
    response = ask(service, "wtv-test:/files/sub/a.txt")
    assert (response.status, response.body, response.contentType) == (200, b"inside", "text/plain")


@pytest.mark.parametrize("path", [
    "/files/../secret.txt", "/files/sub/../../secret.txt", "/files/%2e%2e/secret.txt",
    "/files/sub/%2E%2E/%2e%2e/secret.txt", "/files//etc/passwd", "/files/link.txt",
    "/files/dirlink/secret.txt", "/files/sub", "/files/", "/files/a%00.txt",
    "/files/..%5csecret.txt", "/files/nope.txt",
])
def test_nothing_outside_the_static_folder_can_be_reached(service, path):
    response = ask(service, "wtv-test:" + path)
    assert response.status == 404
    assert b"outside" not in response.body


def test_a_fallback_answers_unmatched_paths(context):
    service = WTVService("wtv-star", context, wildcard=True)
    service.fallback(lambda box: "<html>star</html>", login=False)
    assert ask(service, "wtv-nowhere:/anything").body == b"<html>star</html>"


def test_a_wrong_method_is_refused(context):
    service = WTVService("wtv-test", context)
    service.route("/post-only", login=False, methods=("POST",))(lambda box: "x")
    assert ask(service, "wtv-test:/post-only").status == 405
