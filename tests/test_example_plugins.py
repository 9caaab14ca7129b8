"""
The example distribution in C{examples/wtvserv-extras} installs like any
third-party package into a fresh virtual environment, and a box reaches its
services under the real twistd without wtvserv's code being touched.
"""

import asyncio
import subprocess

import pytest

from tests.offline import copyOfTheCheckout, offlineEnvironment, sourceCopy
from tests.realserver import REPOSITORY, SERVICES, RealServer, secureExchange
from wtvserv.box import Box, make_profile, make_ssid

EXAMPLE = REPOSITORY / "examples" / "wtvserv-extras"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new virtual environment holding wtvserv and the example, installed offline."""
    base = tmp_path_factory.mktemp("example")
    return offlineEnvironment(base, copyOfTheCheckout(base / "wtvserv"),
                              sourceCopy(EXAMPLE, base / "example"))[0]


def test_twistd_help_lists_the_installed_plugins(installed, tmp_path):
    output = subprocess.run([installed, "-c", "from twisted.scripts.twistd import run; run()",
                             "wtvserv", "--help"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path).stdout
    assert "wtv-guestbook" in output and "wtv-star" in output


def test_a_box_reaches_the_example_services_over_an_encrypted_connection(installed, tmp_path):
    services = (*SERVICES, "wtv-guestbook")
    server = RealServer(tmp_path / "data", services=services, python=installed,
                        fromCheckout=False).start()

    async def scenario():
        box = Box("127.0.0.1", server.ports["wtv-1800"],
                  make_profile("plus", ssid=make_ssid(40), username="visitor"), log=lambda line: None)
        async with box:
            home = await box.power_on()
            assert "wtv-guestbook:/" in home.text
            book = await box.get("wtv-guestbook:/")
            assert book.status == 200 and book.encrypted and "Guestbook" in book.text
            signed = await box.post("wtv-guestbook:/sign", {"text": "hello from a box"})
            assert signed.status == 302
            again = await box.get("wtv-guestbook:/")
            assert "hello from a box" in again.text
            image = await box.get("wtv-guestbook:/images/book.gif")
            assert image.body.startswith(b"GIF89a")
            escape = await box.get("wtv-guestbook:/images/../../guestbook.py")
            assert escape.status == 404
            star = await box.get("wtv-star:/anything")
            # The example's page, in place of the built-in wtv-star's.
            assert star.status == 200 and "sign the guestbook" in star.text
            other = Box("127.0.0.1", server.ports["wtv-1800"],
                        make_profile("plus", ssid=make_ssid(41), username="other"),
                        log=lambda line: None)
            async with other:
                await other.power_on()
            form = b"text=forged+by+a+stranger"
            forged = (f"POST wtv-guestbook:/sign\r\nwtv-client-serial-number: {other.profile.ssid}"
                      f"\r\nContent-type: application/x-www-form-urlencoded\r\n"
                      f"Content-length: {len(form)}\r\n\r\n").encode() + form
            head, _, closed = await asyncio.to_thread(
                secureExchange, server.ports["wtv-guestbook"], box.profile.ssid, box.ticket,
                box.session_keys, forged)
            assert head.startswith(b"400 ") and closed
            assert "forged by a stranger" not in (await box.get("wtv-guestbook:/")).text
    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert (tmp_path / "data" / "services" / "wtv-guestbook" / "guestbook.sqlite3").exists()


def test_one_user_cannot_push_everyone_elses_lines_out_of_the_guestbook(tmp_path, monkeypatch):
    """Issue 12, item 19: one box signed 1,001 times in 0.8 s and pushed every entry out."""
    from twisted.trial.unittest import SynchronousTestCase

    from tests.harness import SSID, inProcessServer
    from wtvserv.tickets import Ticket
    from wtvserv.wire import Headers, Request
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from wtvextras import guestbook

    def sign(service, text):
        body = f"text={text}".encode()
        request = Request("POST", "wtv-guestbook:/sign",
                          Headers([("wtv-client-serial-number", SSID)]), body)
        request.ticket = Ticket(SSID, b"1" * 16, b"2" * 16, b"3" * 8, user_id=0,
                                password_ok=True)
        request.keysProven = True
        return SynchronousTestCase().successResultOf(service.handle(request))

    with inProcessServer(tmp_path / "data") as server:
        server.accounts.createAccount(SSID, "Ann", "annbook", None)
        service = guestbook.makeService(server.context)
        answers = [sign(service, f"line{n}") for n in range(guestbook.SIGNINGS_PER_USER + 3)]
        assert [a.status for a in answers] == [302] * 5 + [403] * 3
        assert "Please wait 10 minutes" in answers[-1].reason
        server.reactor.advance(guestbook.SIGNING_WINDOW)
        assert sign(service, "later").status == 302
