"""
The operator's side of L{wtvserv.tellyscript}: compiling a source (errors
name the source line), the catalogue of configured scripts and which box
gets which, the configuration tables, the example scripts, and
C{wtvserv-tellyscript}.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import tokreader
from tests.conftest import REPOSITORY
from wtvserv.cli.aliases import tellyscript as tellyscriptCommand
from wtvserv.config import ConfigError, TellyScriptSettings, loadConfig
from wtvserv.tellyscript.catalog import TellyScripts, scriptNumber
from wtvserv.tellyscript.detokenizer import detokenize
from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.lzss import compress, expand
from wtvserv.tellyscript.packfile import pack, unpack
from wtvserv.tellyscript.source import compileSource
from wtvserv.tellyscript.tokenizer import tokenize
from wtvserv.wire import Headers

EXAMPLES = REPOSITORY / "examples"
VARIABLES = {"ServiceName": "Test", "DialinNumber": "5551234", "PPPUser": "u",
             "PPPPassword": "p", "DNSIP1": "192.168.1.20", "DNSIP2": "8.8.8.8"}
LC2 = "US-LC2-disk-0MB-8MB"
UTV = "US-DTV-disk-0MB-32MB-softmodem-CPU5230"


def write(folder: Path, name: str, text: str, mtime: int = 1_600_000_000) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def headers(**values) -> Headers:
    return Headers((name.replace("_", "-"), value) for name, value in values.items())


# Compiling a source


def test_an_error_names_the_line_of_the_source_not_of_the_preprocessed_text():
    source = "#ifdef NOPE\nint a;\nint b;\n#endif\nint c;\nx = 1 ? 2 : 3;\n"
    with pytest.raises(ScriptError) as caught:
        compileSource(source)
    assert caught.value.line == 6 and "'?'" in caught.value.reason


def test_a_placeholder_without_a_value_is_refused_in_a_string_and_in_code():
    for text, line in (('int a;\nsendstr("ATDT%DialinNumber%");\n', 2), ("a = %DNS1%;\n", 1)):
        with pytest.raises(ScriptError) as caught:
            compileSource(text)
        assert caught.value.line == line and "has no value" in caught.value.reason
    assert compileSource("a = b % c;\n") == tokenize("a = b % c;\n", strict=False)


def test_variables_are_substituted_and_dns_constants_derived():
    tokens = compileSource('setnameservice(%DNS1%, %DNS2%);\ns = "%DialinNumber%";\n',
                           {"DNSIP1": "10.0.0.50", "DNSIP2": "0.0.0.0", "DialinNumber": "1$&2"})
    assert detokenize(tokens) == 'setnameservice(0xA000032, 0);\ns = "1$&2";\n'


def test_minifying_renames_but_keeps_builtins_and_hooks():
    tokens = compileSource("int counter;\nint _Hook;\nsetbaud(counter);\n", minified=True)
    assert detokenize(tokens) == "int a;\nint _Hook;\nsetbaud(a);\n"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_what_the_packer_writes_the_independent_reader_reads(tokens):
    packed = pack(tokens, 7, 8)
    read = tokreader.read(packed)
    assert read["tokens"] == tokens and read["checksum"] == read["computed_checksum"]
    assert expand(compress(tokens)) == tokens and unpack(packed).tokens == tokens


# The catalogue


def catalogue(tmp_path, **tables) -> TellyScripts:
    write(tmp_path, "lc2.tsf", 'int main()\n{\n\tsendstr("ATDT%DialinNumber%");\n\treturn 0;\n}\n')
    write(tmp_path, "classic.tsf", "int main()\n{\n\treturn 1;\n}\n")
    write(tmp_path, "open.tsf", "int main()\n{\n\treturn 2;\n}\n")
    settings = TellyScriptSettings(
        scripts=[(glob, tmp_path / name) for glob, name in tables.get(
            "scripts", [("US-LC2-*", "lc2.tsf"), ("bf0app", "classic.tsf"),
                        ("US-DTV-*", "lc2.tsf")])],
        openISP=[(glob, tmp_path / name) for glob, name in tables.get(
            "openisp", [("US-LC2-*", "open.tsf")])],
        variables={"DialinNumber": "18005551234"})
    return TellyScripts.load(settings)


def test_a_box_gets_the_first_script_whose_glob_matches_its_rom_type(tmp_path):
    scripts = catalogue(tmp_path)
    script = scripts.forBox(headers(wtv_client_rom_type=LC2), "8112345600B0026b")
    assert script.contentType == "text/tellyscript"
    read = tokreader.read(script.data)
    assert read["magic"] == "ANDY" and read["version_minor"] == 1
    assert read["checksum"] == read["computed_checksum"]
    assert b"ATDT18005551234" in read["tokens"]
    assert read["script_mod"] == 1_600_000_000
    assert scripts.forBox(headers(wtv_client_rom_type="JP-Fiji"), None) is None


def test_ultimatetv_and_the_simulator_get_a_dialscript_the_minibrowser_a_tellyscript(tmp_path):
    scripts = catalogue(tmp_path)
    utv = scripts.forBox(headers(wtv_client_rom_type=UTV), "8112345600B0026b")
    assert utv.contentType == "text/dialscript" and utv.data[:4] == b"VKAT"
    lc2 = scripts.forBox(headers(wtv_client_rom_type=LC2), None)
    assert utv.data[4:] == lc2.data[4:]
    simulator = scripts.forBox(headers(wtv_client_rom_type=LC2), "MSTVSIMU00000001")
    assert simulator.contentType == "text/dialscript"
    upgrading = scripts.forBox(headers(wtv_client_rom_type=UTV, wtv_need_upgrade="true"), None)
    assert upgrading.contentType == "text/tellyscript"


def test_flash_mode_is_bootrom_105_without_a_rom_type_and_gets_the_classic_script(tmp_path):
    scripts = catalogue(tmp_path)
    flash = scripts.forBox(headers(wtv_client_bootrom_version="105"), None)
    assert b"\x72\x43\x31\x00" in unpack(flash.data).tokens            # return 1;
    assert scripts.forBox(headers(wtv_client_bootrom_version="2046"), None) is None


def test_openisp_boxes_get_the_openisp_table_packed_as_version_1_3(tmp_path):
    scripts = catalogue(tmp_path)
    script = scripts.forBox(headers(wtv_client_rom_type=LC2, wtv_open_access="true"), None)
    assert unpack(script.data).header.versionMinor == 3
    normal = scripts.forBox(headers(wtv_client_rom_type=LC2), None)
    assert script.header.scriptId != normal.header.scriptId
    assert scripts.forBox(headers(wtv_client_rom_type="bf0app", wtv_open_access="true"),
                          None) is None


def test_the_script_id_stays_the_same_across_restarts_and_follows_the_tokens(tmp_path):
    first = catalogue(tmp_path).forBox(headers(wtv_client_rom_type=LC2), None)
    again = catalogue(tmp_path).forBox(headers(wtv_client_rom_type=LC2), None)
    assert first.data == again.data
    changed = TellyScripts.load(TellyScriptSettings(
        scripts=[("*", tmp_path / "lc2.tsf")], variables={"DialinNumber": "5550000"}))
    assert changed.forBox(headers(wtv_client_rom_type=LC2), None).header.scriptId \
        != first.header.scriptId


def test_a_box_holds_a_script_when_both_id_and_mod_match_signed_or_not(tmp_path):
    script = catalogue(tmp_path).forBox(headers(wtv_client_rom_type=LC2), None)
    scriptId, scriptMod = script.header.scriptId, script.header.scriptMod
    signed = scriptId - (1 << 32) if scriptId >> 31 else scriptId
    for shown in {str(scriptId), str(signed)}:
        assert script.heldBy(headers(wtv_script_id=shown, wtv_script_mod=str(scriptMod)))
    assert not script.heldBy(headers(wtv_script_id=str(scriptId), wtv_script_mod="0"))
    assert not script.heldBy(headers(wtv_script_mod=str(scriptMod)))
    assert [scriptNumber(text) for text in ("-1", "0", "4294967295", "12a", "99999999999", None)] \
        == [0xFFFFFFFF, 0, 0xFFFFFFFF, None, None, None]


def test_a_tok_is_served_as_it_is_and_a_damaged_one_stops_the_start(tmp_path):
    packed = pack(tokenize("int a;\n"), 184867725, 1579644943, b"VKAT")
    (tmp_path / "premade.tok").write_bytes(packed)
    scripts = TellyScripts.load(TellyScriptSettings(scripts=[("*", tmp_path / "premade.tok")]))
    script = scripts.forBox(headers(wtv_client_rom_type=LC2), None)
    assert script.data == packed and script.contentType == "text/dialscript"
    damaged = bytearray(packed)
    damaged[30] ^= 1
    (tmp_path / "damaged.tok").write_bytes(damaged)
    with pytest.raises(ScriptError, match=r"damaged\.tok: damaged"):
        TellyScripts.load(TellyScriptSettings(scripts=[("*", tmp_path / "damaged.tok")]))
    (tmp_path / "text.tok").write_text("int a;\n")
    with pytest.raises(ScriptError, match="no ANDY or VKAT header"):
        TellyScripts.load(TellyScriptSettings(scripts=[("*", tmp_path / "text.tok")]))


def test_a_missing_or_bad_source_is_one_error_naming_the_file_and_line(tmp_path):
    with pytest.raises(ScriptError, match=r"^tellyscript .*missing\.tsf: No such file"):
        TellyScripts.load(TellyScriptSettings(scripts=[("*", tmp_path / "missing.tsf")]))
    bad = write(tmp_path, "bad.tsf", "int a;\n\nx=-1;\n")
    with pytest.raises(ScriptError) as caught:
        TellyScripts.load(TellyScriptSettings(scripts=[("*", bad)]))
    assert str(caught.value) == (f"tellyscript {bad}, line 3: '=-' is not an operator; "
                                 "put spaces between operators")


# Configuration


def test_the_config_tables_keep_their_order_and_resolve_paths_beside_the_file(tmp_path):
    path = write(tmp_path, "conf/wtvserv.toml", """
[tellyscripts.scripts]
"US-LC2-*" = "scripts/lc2.tsf"
"bf0app" = "/abs/bf0app.tok"
[tellyscripts.openisp]
"*" = "open.tsf"
[tellyscripts.variables]
DialinNumber = 18005551234
ServiceName = "Mine"
""")
    settings = loadConfig(path).tellyscripts
    assert settings.scripts == [("US-LC2-*", tmp_path / "conf" / "scripts" / "lc2.tsf"),
                                ("bf0app", Path("/abs/bf0app.tok"))]
    assert settings.openISP == [("*", tmp_path / "conf" / "open.tsf")]
    assert settings.variables == {"DialinNumber": "18005551234", "ServiceName": "Mine"}


@pytest.mark.parametrize("text", [
    "[tellyscripts]\nsend = true\n",
    "[tellyscripts.scripts]\n\"*\" = 3\n",
    "[tellyscripts.variables]\nName = \"two\\nlines\"\n",
    "[tellyscripts.variables]\n\"not a name\" = \"x\"\n",
    "[tellyscripts.variables]\nName = true\n",
    "tellyscripts = 1\n",
])
def test_bad_tellyscript_settings_are_config_errors(tmp_path, text):
    with pytest.raises(ConfigError):
        loadConfig(write(tmp_path, "bad.toml", text))


def test_the_example_scripts_compile_with_the_example_configuration():
    settings = loadConfig(EXAMPLES / "tellyscripts.toml").tellyscripts
    scripts = TellyScripts.load(settings)
    for romType in (LC2, "bf0app", UTV):
        script = scripts.forBox(headers(wtv_client_rom_type=romType), None)
        read = tokreader.read(script.data)
        assert read["checksum"] == read["computed_checksum"]
        assert b"ATDT5551234\r" in read["tokens"]


# wtvserv-tellyscript


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wtvserv.cli", "tellyscript", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_command_packs_what_the_server_would_serve_and_prints_it(tmp_path):
    source = EXAMPLES / "tellyscripts" / "classic.tsf"
    variables = [arg for name, value in VARIABLES.items() for arg in ("--var", f"{name}={value}")]
    packed = run("pack", str(source), "-o", str(tmp_path / "c.tok"), *variables)
    assert packed.returncode == 0, packed.stderr
    assert "checksum" in packed.stdout and "(matches)" in packed.stdout
    served = TellyScripts.load(TellyScriptSettings(scripts=[("*", source)], variables=VARIABLES))
    assert (tmp_path / "c.tok").read_bytes() == served.forBox(headers(wtv_client_rom_type="x"),
                                                              None).data
    unpacked = run("unpack", str(tmp_path / "c.tok"), "-o", str(tmp_path / "c.tokens"))
    assert unpacked.returncode == 0 and "script id" in unpacked.stdout
    printed = run("print", str(tmp_path / "c.tokens"))
    assert 'sendstr("ATDT5551234\\r");' in printed.stdout
    assert run("print", str(tmp_path / "c.tok")).stdout.endswith(printed.stdout)


def test_the_command_reports_a_problem_in_one_line_and_fails(tmp_path):
    bad = write(tmp_path, "bad.tsf", "int a;\na = b ^ c;\n")
    for args in (["pack", str(bad)], ["print", str(bad)], ["unpack", str(tmp_path / "none.tok")],
                 ["unpack", str(bad)]):
        result = run(*args)
        assert result.returncode == 1 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert "bad.tsf, line 2: invalid character '^'" in run("pack", str(bad)).stderr
    damaged = bytearray(pack(b"\x6c\xff", 1, 2))
    damaged[-1] ^= 0xFF
    (tmp_path / "damaged.tok").write_bytes(damaged)
    result = run("unpack", str(tmp_path / "damaged.tok"))
    assert result.returncode == 1 and "DAMAGED" in result.stdout


def test_pack_refuses_to_overwrite_its_source(tmp_path):
    source = write(tmp_path, "a.tok", "int a;\n")
    assert tellyscriptCommand(["pack", str(source)]) == 1
    assert source.read_text() == "int a;\n"
