"""
The final login response (PROTOCOL.md 6.4) and what plugins add to the way
in: the offline user list, the feature switches, the splash page that goes
on to check-tellyscript, plugin login headers, the flash-upgrade hook and
the bad-disk notice.
"""

from base64 import b64decode
from contextlib import ExitStack
from itertools import count
from xml.etree import ElementTree

import pytest
from zope.interface import implementer

from tests.harness import SSID, TestBox, inProcessServer
from wtvserv.box.forms import parse_page
from wtvserv.config import Config
from wtvserv.interfaces import IFlashUpgrade, ILoginHeaders, IWTVServicePlugin
from wtvserv.web import WTVService

CHECK = "wtv-head-waiter:/check-tellyscript?next-url="


@implementer(IWTVServicePlugin)
class EmptyPlugin:
    """A service with no pages, for what its plugin adds to the login."""

    flags, connections, description = 0, None, "a test plugin"

    def makeService(self, context):
        return WTVService(self.name, context)


@implementer(ILoginHeaders)
class MailPlugin(EmptyPlugin):
    name, defaultPort = "wtv-mail", 1650

    def loginHeaders(self, box, user, reconnect):
        return [("wtv-mail-url", f"wtv-mail:/listmail?user={user.username}"),
                ("wtv-visit", "wtv-mail:/hijack")]


@implementer(ILoginHeaders)
class BrokenPlugin(EmptyPlugin):
    name, defaultPort = "wtv-broken", 1651

    def loginHeaders(self, box, user, reconnect):
        raise RuntimeError("plugin bug")


@implementer(IFlashUpgrade)
class FlashPlugin(EmptyPlugin):
    name, defaultPort = "wtv-flashrom", 1618

    def upgradeURL(self, box):
        return "wtv-flashrom:/willie"


@pytest.fixture
def server(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        yield server


@pytest.fixture
def serverWith(tmp_path):
    """Make in-process servers with more plugins or settings, closed after the test."""
    folders = (tmp_path / f"data{n}" for n in count())
    with ExitStack() as stack:
        yield lambda plugins=(), **settings: stack.enter_context(
            inProcessServer(next(folders), plugins=plugins, **settings))


def finalOf(box: TestBox):
    final = box.login()
    assert final.get("wtv-user-name"), final.head
    return final


def refreshOf(response) -> str:
    return parse_page(response.body.decode("latin-1")).refresh


def test_the_final_response_of_an_account_with_two_users_lists_them_offline(server):
    server.accounts.createAccount(SSID, 'Ann "Nan" <Box> & Co', "ann", None)
    server.accounts.addUser(SSID, "Bob", "bob", "scrypt$not-a-real-hash")
    box = TestBox(server)
    box.login()                                   # the choose-user page
    chosen = box.request("wtv-head-waiter:/ValidateLogin?user_id=0&user_login=true",
                         secure=True)
    final = box.request(chosen.get("wtv-visit"), secure=True)
    listed = ElementTree.fromstring(b64decode(final.get("wtv-offline-user-list")))
    assert listed.tag == "user-list"
    assert [user.attrib for user in listed] == [
        {"userid": "0", "user-name": "ann", "first-name": "Ann",
         "last-name": '"Nan" <Box> & Co'},
        {"userid": "1", "user-name": "bob", "first-name": "Bob", "last-name": ""}]
    assert b"scrypt" not in b64decode(final.get("wtv-offline-user-list"))


def test_only_the_primary_user_gets_the_offline_list(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    server.accounts.addUser(SSID, "Bob", "bob", None)
    box = TestBox(server)
    box.login()
    chosen = box.request("wtv-head-waiter:/ValidateLogin?user_id=1&user_login=true",
                         secure=True)
    final = box.request(chosen.get("wtv-visit"), secure=True)
    assert final.get("wtv-human-name") == "Bob"
    assert final.get("wtv-offline-user-list") is None


def test_the_final_response_expires_cached_pages_and_sets_the_switches(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    final = finalOf(TestBox(server))
    assert final.getAll("wtv-expire-all")[0] == "wtv-"
    assert final.get("wtv-open-isp-disabled") == "false"
    assert final.get("wtv-show-time-enabled") == "true"
    assert final.get("wtv-offline-mail-enable") == "false"
    # Nothing points at a service that is not installed.
    for name in ("wtv-settings-url", "wtv-mail-url", "wtv-name-server"):
        assert final.get(name) is None
    assert final.get("wtv-offline-user-list")


def test_the_final_response_shows_the_splash_that_refreshes_to_check_tellyscript(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    box = TestBox(server)
    final = finalOf(box)
    assert final.getAll("wtv-visit") == ["client:closeallpanels"]
    assert b"Welcome, Ann!" in final.body
    target = refreshOf(final)
    assert target.startswith(CHECK + "wtv-home:/home&dummy=0x") and len(target) == len(
        CHECK + "wtv-home:/home&dummy=0x") + 8
    assert box.request(target, secure=True).get("wtv-visit") == "wtv-home:/home"


def test_a_configured_name_server_is_sent(serverWith):
    server = serverWith(nameServer="10.0.0.53")
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    assert finalOf(TestBox(server)).get("wtv-name-server") == "10.0.0.53"


def test_plugins_add_their_login_headers_but_not_the_head_waiters(serverWith):
    server = serverWith([MailPlugin(), BrokenPlugin()])
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    final = finalOf(TestBox(server))
    assert final.get("wtv-mail-url") == "wtv-mail:/listmail?user=ann"
    assert "wtv-mail:/hijack" not in final.getAll("wtv-visit")


def test_a_disabled_plugin_adds_nothing(serverWith):
    disabled = Config().service("wtv-mail")
    disabled.enabled = False
    server = serverWith([MailPlugin()], services={"wtv-mail": disabled})
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    assert finalOf(TestBox(server)).get("wtv-mail-url") is None


def test_a_box_in_its_minibrowser_is_taken_to_the_flash_upgrade(serverWith):
    server = serverWith([FlashPlugin()])
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    upgrading = TestBox(server, identity={"wtv-need-upgrade": "true"})
    target = refreshOf(finalOf(upgrading))
    assert target.startswith(CHECK + "wtv-flashrom:/willie&dummy=0x")
    assert upgrading.request(target, secure=True).get("wtv-visit") == "wtv-flashrom:/willie"
    other = TestBox(server, ssid="8112345700B002e4")
    server.accounts.createAccount(other.ssid, "Bo", "bobo", None)
    assert refreshOf(finalOf(other)).startswith(CHECK + "wtv-home:/home&")


def test_a_box_whose_disk_fails_is_told_once_then_logs_in(server):
    server.accounts.createAccount(SSID, "Ann", "ann", None)
    box = TestBox(server, identity={"wtv-my-disk-sucks-sucks-sucks": "true"})
    box.request("wtv-1800:/preregister")
    login = box.request("wtv-head-waiter:/login?")
    answered = box.request(login.get("wtv-visit"), box.answer())
    assert answered.get("wtv-visit") == "wtv-head-waiter:/bad-disk?"
    assert answered.get("wtv-ticket") and answered.get("Connection") == "close"
    notice = box.request(answered.get("wtv-visit"), secure=True)
    assert notice.status == 200 and b"disk" in notice.body
    onward = parse_page(notice.body.decode("latin-1")).links[0].href
    assert onward == "wtv-head-waiter:/login-stage-two?"
    final = box.request(onward, secure=True)
    assert final.get("wtv-user-name") == "ann"


def test_the_offline_user_list_follows_every_change_of_its_users():
    """Made once per list of ids and names: a renamed or added user gives a new list."""
    from types import SimpleNamespace

    from wtvserv.services.loginheaders import offlineUserList

    def account(*users):
        return SimpleNamespace(users=[SimpleNamespace(user_id=n, username=u, human_name=h)
                                      for n, u, h in users])

    def listed(text):
        return [dict(user.attrib) for user in ElementTree.fromstring(b64decode(text))]

    ann = offlineUserList(account((0, "ann", "Ann Lee")))
    assert listed(ann) == [{"userid": "0", "user-name": "ann", "first-name": "Ann",
                            "last-name": "Lee"}]
    assert offlineUserList(account((0, "ann", "Ann Lee"))) == ann
    renamed = offlineUserList(account((0, "ann", 'Ann "Q" <Lee>')))
    assert listed(renamed)[0]["last-name"] == '"Q" <Lee>'
    assert len(listed(offlineUserList(account((0, "ann", "Ann Lee"), (1, "bo", "Bo"))))) == 2
