"""
The log an operator reads: one event per answered request with filterable
fields, and never a ticket, password, key or (by default) a whole SSID.
"""

from base64 import b64encode

import pytest
from hypothesis import example, given, strategies as st
from twisted.logger import Logger, formatEvent

from tests.harness import SSID, TestBox, makeServer
from wtvserv import accesslog
from wtvserv.accesslog import loggableURL, logResponse
from wtvserv.passwords import hash_password


def everything(event) -> str:
    return formatEvent(event) + repr({k: v for k, v in event.items() if k != "log_logger"})


def test_each_response_is_one_event_with_the_fields_an_operator_filters_on(tmp_path, events):
    server, reactor = makeServer(tmp_path / "data")
    try:
        TestBox(server, address="192.0.2.44").request("wtv-1800:/preregister")
    finally:
        server.accounts.close()
        server.logs.close()
    [event] = [e for e in events if e.get("log_namespace") == "wtvserv.access"]
    assert event["service"] == "wtv-1800"
    assert event["client"] == "192.0.2.44"
    assert event["ssid"] == "8112********026b"
    assert (event["method"], event["url"], event["status"]) == ("GET", "wtv-1800:/preregister", 200)
    assert event["duration"] >= 0 and event["size"] == 0
    assert formatEvent(event).startswith("wtv-1800 192.0.2.44 8112********026b GET ")


def test_the_event_is_the_one_logger_info_would_make(events):
    logResponse("wtv-home", "192.0.2.1", "8112********026b", "GET", "wtv-home:/home",
                404, 0.25, 12, "not found")
    Logger(namespace="wtvserv.access").info(
        "{line}", line="wtv-home 192.0.2.1 8112********026b GET wtv-home:/home 404 12B "
                       "250.0ms (not found)",
        service="wtv-home", client="192.0.2.1", ssid="8112********026b", method="GET",
        url="wtv-home:/home", status=404, duration=0.25, size=12, reason="not found")
    made, expected = (dict(event) for event in events)
    assert made.pop("log_time") <= expected.pop("log_time")
    assert made.pop("log_logger").namespace == expected.pop("log_logger").namespace
    assert made == expected
    assert formatEvent(events[0]) == formatEvent(events[1])


def test_a_login_with_a_password_leaves_no_secret_in_any_event(tmp_path, events):
    server, reactor = makeServer(tmp_path / "data")
    try:
        server.accounts.createAccount(SSID, "Ann", "annpw", hash_password("hunter22"))
        box = TestBox(server)
        box.login()
        box.request("wtv-head-waiter:/ValidateLogin", body=b"user_id=0&password=wrongpass")
        box.request("wtv-head-waiter:/ValidateLogin?password=hunter22", body=b"user_id=0")
        box.request("wtv-home:/home", secure=True)
        box.request("wtv-home:/home", {"wtv-ticket": box.ticket[:-4] + "AAAA"}, secure=True)
        secrets = ["hunter22", "wrongpass", box.ticket, SSID, SSID.lower(),
                   b64encode(box.key).decode(), box.pendingResponse or "x" * 40,
                   *(b64encode(k).decode() for k in box.keys)]
    finally:
        server.accounts.close()
        server.logs.close()
    texts = [everything(e) for e in events]
    assert len([e for e in events if e.get("log_namespace") == "wtvserv.access"]) >= 6
    for secret in secrets:
        leaks = [t for t in texts if secret in t]
        assert not leaks, f"{secret[:12]}... logged: {leaks[0][:200]}"


def test_full_ssids_are_logged_when_the_operator_asks(tmp_path, events):
    server, _ = makeServer(tmp_path / "data", logFullSSIDs=True)
    try:
        TestBox(server).request("wtv-1800:/preregister")
    finally:
        server.accounts.close()
        server.logs.close()
    assert [e["ssid"] for e in events if e.get("log_namespace") == "wtvserv.access"] == [SSID]


@pytest.mark.parametrize("url, shown", [
    ("wtv-head-waiter:/ValidateLogin?user_id=0&password=hunter22",
     "wtv-head-waiter:/ValidateLogin?user_id=0&password=***"),
    ("wtv-head-waiter:/login-stage-two-wtv-token-946684800-0123456789abcdef0123456789abcdef?relogin=true",
     "wtv-head-waiter:/login-stage-two-wtv-token-***?relogin=true"),
    ("wtv-x:/a?ticket=abc&PASS=1&key=2&q=ok", "wtv-x:/a?ticket=***&PASS=***&key=***&q=ok"),
    ("wtv-x:/\x1b[2J\nfake line", "wtv-x:/?[2J?fake?line"),
    # Issue 12, item 18: the form decodes p%61ssword to password.
    ("wtv-x:/a?p%61ssword=hunter22&x=1", "wtv-x:/a?p%61ssword=***&x=1"),
    ("wtv-x:/a?%70%61%73%73=hunter22&my+key=k", "wtv-x:/a?%70%61%73%73=***&my+key=***"),
    ("wtv-x:/" + "a" * 500, "wtv-x:/" + "a" * 193 + "..."),
    ("wtv-x:/a b\u00e9", "wtv-x:/a?b?"),
    ("wtv-x:/a?q=ok&user=me", "wtv-x:/a?q=ok&user=me"),
    ("wtv-x:/a?q=ok&my_Token=7&next=wtv-home:/home", "wtv-x:/a?q=ok&my_Token=***&next=wtv-home:/home"),
    ("wtv-x:/a-wtv-token-12", "wtv-x:/a-wtv-token-12"),
])
def test_urls_are_logged_with_secrets_hidden_and_control_characters_replaced(url, shown):
    assert loggableURL(url) == shown


_SECRETISH = st.text(alphabet=st.sampled_from(
    list("passwordPASSWORDtickeTokenKEYsecretresponse=&%+-_ 0x") + ["\u017f", "\u212a", "\u0130",
                                                                     "\u00e9", "\ufb06"]))


@given(text=st.one_of(_SECRETISH, st.text()))
@example(text="Pa\u017fs=1")                # a long s: a case-blind expression finds "pass"
@example(text="\u212aey=1")                 # the Kelvin sign: and "key"
@example(text="x=1&API_KEY=2")
def test_a_secret_looking_name_is_found_as_the_expression_finds_it(text):
    """The words are looked for cheaply, and exactly where the case-blind expression finds them."""
    assert accesslog._looksSecret(text) == bool(accesslog._SECRET_NAMES.search(text))
