"""
wtv-1800 and check-tellyscript with the operator's scripts (PROTOCOL.md
14.10-14.12), in process over the real factories.
"""

import os

import pytest

from tests import tokreader
from tests.harness import IDENTITY, TestBox, inProcessServer
from wtvserv.config import TellyScriptSettings

PREREGISTER = "wtv-1800:/preregister?scriptless-visit-reason=10&0"
CHECK = "wtv-head-waiter:/check-tellyscript?next-url=wtv-home:/home&dummy=0x1"
NO_SCRIPT = {"wtv-script-id": "0", "wtv-script-mod": "0"}
FLASH = {"wtv-client-rom-type": None, "wtv-client-bootrom-version": "105"}


def source(folder, name, text):
    path = folder / name
    path.write_text(text)
    os.utime(path, (1_600_000_000, 1_600_000_000))
    return path


@pytest.fixture
def server(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    lc2 = source(scripts, "lc2.tsf", 'int main()\n{\n\tsendstr("ATDT%DialinNumber%\\r");\n'
                                     '\treturn startppp();\n}\n')
    classic = source(scripts, "classic.tsf", "int main()\n{\n\treturn startppp();\n}\n")
    openisp = source(scripts, "open.tsf", "int main()\n{\n\treturn 0;\n}\n")
    settings = TellyScriptSettings(scripts=[("US-LC2-*", lc2), ("bf0app", classic)],
                                   openISP=[("US-LC2-*", openisp)],
                                   variables={"DialinNumber": "18005551234"})
    with inProcessServer(tmp_path / "data", tellyscripts=settings) as running:
        yield running


def held(server, **identity):
    """The id/mod headers of a box holding the script it should hold."""
    header = server.context.tellyscripts.forBox({**IDENTITY, **identity}, None).header
    return {"wtv-script-id": str(header.scriptId), "wtv-script-mod": str(header.scriptMod)}


def test_without_scripts_preregister_answers_an_empty_page(tmp_path):
    with inProcessServer(tmp_path / "data") as server:
        answer = TestBox(server).request(PREREGISTER, identity=NO_SCRIPT)
    assert answer.get("Content-type") == "text/html" and answer.body == b""


def test_a_box_without_the_script_gets_it_with_the_number_substituted(server):
    answer = TestBox(server).request(PREREGISTER, identity=NO_SCRIPT)
    assert answer.status == 200 and answer.get("Content-type") == "text/tellyscript"
    assert int(answer.get("Content-length")) == len(answer.body)
    read = tokreader.read(answer.body)
    assert read["magic"] == "ANDY" and read["checksum"] == read["computed_checksum"]
    assert b"ATDT18005551234\r" in read["tokens"]
    assert answer.get("wtv-initial-key") and answer.getAll("wtv-service")[0] == "reset"
    assert answer.get("wtv-open-isp-disabled") is None


def test_a_box_holding_its_script_is_not_sent_it_again(server):
    answer = TestBox(server).request(PREREGISTER, identity=held(server))
    assert answer.body == b"" and answer.get("Content-type") == "text/html"


def test_a_relogin_gets_no_script_and_a_reconnect_only_when_the_box_has_none(server):
    box = TestBox(server)
    assert box.request("wtv-1800:/preregister?relogin=true", identity=NO_SCRIPT).body == b""
    stale = {"wtv-script-id": "5", "wtv-script-mod": "6"}
    assert box.request("wtv-1800:/preregister?reconnect=true", identity=stale,
                       fresh=True).body == b""
    answer = box.request("wtv-1800:/preregister?reconnect=true", identity=NO_SCRIPT, fresh=True)
    assert answer.get("Content-type") == "text/tellyscript"


def test_a_classic_in_flash_mode_always_gets_the_classic_script_and_its_service_list(server):
    answer = TestBox(server).request(PREREGISTER, identity={**FLASH, **held(server, **FLASH)})
    assert answer.get("Content-type") == "text/tellyscript"
    expected = server.context.tellyscripts.forBox({"wtv-client-rom-type": "bf0app"}, None)
    assert answer.body == expected.data
    services = answer.getAll("wtv-service")
    assert services[0] == "reset"
    assert not any(line.startswith("name=wtv-1800 ") for line in services)
    [headWaiter] = [line for line in services if line.startswith("name=wtv-head-waiter ")]
    assert "flags=0x00000001" in headWaiter
    assert not any(line.startswith("name=wtv-star ") for line in services)
    star = server.directory.get("wtv-star")
    assert any(line.startswith("name=wtv-* ") for line in services) == (star is not None)
    assert answer.get("wtv-boot-url") == answer.get("wtv-visit") == "wtv-head-waiter:/login?"


def test_openisp_boxes_get_the_openisp_script_and_are_told_openisp_is_allowed(server):
    answer = TestBox(server).request(PREREGISTER,
                                     identity={**NO_SCRIPT, "wtv-open-access": "true"})
    assert answer.get("wtv-open-isp-disabled") == "false"
    assert tokreader.read(answer.body)["version_minor"] == 3


def test_check_tellyscript_sends_the_script_a_box_lacks_then_lets_it_go_on(server):
    box = TestBox(server)
    box.login()
    answer = box.request(CHECK, secure=True, fresh=True, identity=NO_SCRIPT)
    assert answer.get("wtv-visit") == "wtv-home:/home"
    assert answer.get("Content-type") == "text/tellyscript"
    read = tokreader.read(answer.body)          # decrypted by the box's RC4 stream
    assert read["checksum"] == read["computed_checksum"]
    assert b"ATDT18005551234\r" in read["tokens"]
    again = box.request(CHECK, secure=True, fresh=True, identity=held(server))
    assert again.get("wtv-visit") == "wtv-home:/home" and again.body == b""


def test_check_tellyscript_still_refuses_to_send_a_box_outside_the_service(server):
    answer = TestBox(server).request(
        "wtv-head-waiter:/check-tellyscript?next-url=http://example.com/", identity=held(server))
    assert answer.get("wtv-visit") == "wtv-home:/home" and answer.body == b""
