"""
End to end: the real twistd with the operator's scripts (the example
sources, and a .tok packed from one with C{wtvserv-tellyscript}), and the
box simulator powering on as an LC2 box without a script, a classic in
flash mode and an UltimateTV. What each box kept is read back with the
independent reader in L{tests.tokreader}.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import pytest

from tests import tokreader
from tests.conftest import REPOSITORY
from tests.realserver import LOOPBACK_EXEMPT, RealServer
from wtvserv.box import Box, make_profile, make_ssid

EXAMPLES = REPOSITORY / "examples" / "tellyscripts"
UTV = "US-DTV-disk-0MB-32MB-softmodem-CPU5230"
VARIABLES = {"DialinNumber": "18005551234", "ServiceName": "E2E", "PPPUser": "box",
             "PPPPassword": "secret", "DNSIP1": "10.0.0.50", "DNSIP2": "10.0.0.51"}
CONFIG = LOOPBACK_EXEMPT + """
[tellyscripts.scripts]
"US-LC2-*" = "scripts/lc2.tsf"
"bf0app" = "scripts/bf0app.tok"
"US-DTV-*" = "scripts/utv.tsf"
[tellyscripts.variables]
""" + "".join(f'{name} = "{value}"\n' for name, value in VARIABLES.items())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tellyscripts")
    scripts = folder / "scripts"
    scripts.mkdir()
    shutil.copy(EXAMPLES / "lc2.tsf", scripts / "lc2.tsf")
    shutil.copy(EXAMPLES / "ultimatetv.tsf", scripts / "utv.tsf")
    variables = [arg for item in VARIABLES.items() for arg in ("--var", "=".join(item))]
    subprocess.run([sys.executable, "-m", "wtvserv.cli", "tellyscript", "pack",
                    str(EXAMPLES / "classic.tsf"), "-o", str(scripts / "bf0app.tok"), *variables],
                   check=True, capture_output=True, timeout=60)
    with RealServer(folder / "data", config=CONFIG) as running:
        yield running


def power_on(server, profile):
    async def scenario():
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile,
                       log=lambda line: None) as box:
            home = await box.power_on()
            return box, home
    return asyncio.run(scenario())


def content_type(response):
    return response.headers.get("Content-type")


def kept(box):
    """The script the box kept, read independently; checked whole."""
    read = tokreader.read(box.tellyscript)
    assert read["checksum"] == read["computed_checksum"]
    assert len(read["tokens"]) == read["decompressed_length"]
    return read


def test_an_lc2_box_without_a_script_gets_one_with_the_operators_number(server):
    box, home = power_on(server, make_profile("plus", ssid=make_ssid(0x7301), username="lc2box",
                                              script_id="0", script_mod="0"))
    assert home.status == 200 and home.encrypted
    preregister = box.history[0]
    assert content_type(preregister) == "text/tellyscript"
    read = kept(box)
    assert read["magic"] == "ANDY" and read["version_minor"] == 1
    assert b"ATDT18005551234\r" in read["tokens"] and b"%DialinNumber%" not in read["tokens"]
    assert int(box.profile.script_id) % (1 << 32) == read["script_id"]
    # From its next connection on the box names the script it holds, so the
    # headwaiter's check-tellyscript has nothing more to send.
    [check] = [r for r in box.history if "check-tellyscript" in r.url]
    assert check.body == b"" and box.tellyscript == preregister.body


def test_a_classic_in_flash_mode_gets_the_packed_classic_script_and_logs_in(server):
    box, home = power_on(server, make_profile("flash", ssid=make_ssid(0x7302, box_type="91"),
                                              username="flashbox"))
    assert home.status == 200
    answer = box.history[0]
    assert answer.status == 200 and content_type(answer) == "text/tellyscript"
    assert answer.body == (server.dataDir.parent / "scripts" / "bf0app.tok").read_bytes()
    assert b"ATDT18005551234\r" in kept(box)["tokens"]
    services = answer.headers.getAll("wtv-service")
    assert "flags=0x00000001" in next(s for s in services if "name=wtv-head-waiter" in s)
    assert not any("name=wtv-1800 " in s for s in services)


def test_an_ultimatetv_box_gets_a_dialscript(server):
    box, home = power_on(server, make_profile("plus", ssid=make_ssid(0x7303), rom_type=UTV,
                                              username="utvbox", script_id="0", script_mod="0"))
    assert home.status == 200
    assert content_type(box.history[0]) == "text/dialscript"
    read = kept(box)
    assert read["magic"] == "VKAT" and b"ATDT18005551234\r" in read["tokens"]


def test_a_box_with_no_script_configured_for_its_rom_type_gets_an_empty_page(server):
    box, home = power_on(server, make_profile("plus", ssid=make_ssid(0x7304),
                                              username="jpbox", rom_type="JP-LC2-disk-0MB-8MB"))
    assert content_type(box.history[0]) == "text/html" and box.history[0].body == b""
    assert box.tellyscript is None


def test_a_source_that_does_not_tokenize_stops_the_start_with_one_line(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "lc2.tsf").write_text("int main()\n{\n\tx=-1;\n}\n")
    config = '[tellyscripts.scripts]\n"US-LC2-*" = "scripts/lc2.tsf"\n'
    server = RealServer(tmp_path / "data", config=config)
    with pytest.raises(RuntimeError) as caught:
        server.start(timeout=20)
    log = server.log
    assert "Traceback" not in log
    assert f"wtvserv: tellyscript {tmp_path / 'scripts' / 'lc2.tsf'}, line 3: '=-' is not " \
           "an operator" in log
    assert "twistd exited with 1" in str(caught.value)
