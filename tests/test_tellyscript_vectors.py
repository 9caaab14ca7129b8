"""
All 103 cases of C{tellyscript.json} (kept in C{tests/data}): tokenizer,
preprocessor, template variables, minisrv's pipeline, script ids, LZSS both
ways, reading packed files, the detokenizer, input detection and errors.

The anchor's behaviour is reproduced with C{strict=False}; the default
strict tokenizer makes the same bytes for every source it accepts and
refuses the anchor's silent mistakes (the C{anchor_quirk} cases).
"""

import re
from base64 import b64decode

import pytest

from tests import tokreader
from tests.conftest import load_vectors
from wtvserv.cli.tellyscript import PACKED, SOURCE, TOKENS, classify
from wtvserv.tellyscript.detokenizer import detokenize
from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.lzss import compress, expand
from wtvserv.tellyscript.minifier import minify
from wtvserv.tellyscript.packfile import (
    DIALSCRIPT,
    TELLYSCRIPT,
    pack,
    scriptIdFromDraws,
    unpack,
)
from wtvserv.tellyscript.preprocessor import preprocess
from wtvserv.tellyscript.tokenizer import tokenize
from wtvserv.tellyscript.variables import substitute, withDerived

VECTORS = load_vectors("tellyscript.json")
SECTIONS = VECTORS["sections"]
# What every case but pack_cases was packed with: draws 0x1234, 0x5678 and
# 2000-01-01 00:00:00.
DEFAULT_ID, DEFAULT_MOD = 0x12344B09, 946684800


def cases(section):
    return pytest.mark.parametrize("case", SECTIONS[section]["cases"],
                                   ids=lambda case: case["name"])


def blob(case, stem):
    """@return: the bytes stored as C{<stem>_hex} or C{<stem>_b64}."""
    if f"{stem}_hex" in case:
        return bytes.fromhex(case[f"{stem}_hex"])
    return b64decode(case[f"{stem}_b64"])


def minisrvValues(template):
    """
    minisrv's C{setTemplateVars(service_name, dialin_number, dns1, dns2)}
    values, in its order. It replaces with JavaScript's C{replaceAll},
    where C{$&} in a value means the matched text and C{$$} a dollar: that
    expansion is done here, so L{substitute} itself stays literal.
    """
    service = template["service_name"].replace("$$", "\0").replace("$&", "%ServiceName%")
    return withDerived({"ServiceName": service.replace("\0", "$"),
                        "DialinNumber": str(template["dialin_number"]),
                        "DNSIP1": template["dns1ip"], "DNSIP2": template["dns2ip"]})


def checkPacked(packed, recorded):
    """The packed bytes are the anchor's, and the independent reader agrees."""
    assert packed == b64decode(recorded["b64"])
    read = tokreader.read(packed)
    header = recorded["header"]
    assert read["magic"] == header["magic"]
    assert (read["script_id"], read["script_mod"]) == (header["script_id_uint32"],
                                                       header["script_mod"])
    assert read["checksum"] == read["computed_checksum"] == int(header["checksum_hex"], 16)
    return read["tokens"]


def checkReverse(tokens, reverse):
    assert detokenize(tokens) == reverse["detokenized_text"]
    if "retokenized_equals_tokenized" in reverse:
        again = tokenize(reverse["detokenized_text"], strict=False)
        assert (again == tokens) == reverse["retokenized_equals_tokenized"]
        if "retokenized_hex" in reverse:
            assert again.hex() == reverse["retokenized_hex"]


def test_there_are_103_cases_as_announced():
    counts = {name: len(section["cases"]) for name, section in SECTIONS.items()}
    assert counts == VECTORS["case_counts"] and sum(counts.values()) == 103


@pytest.mark.parametrize("case", SECTIONS["tokenizer_cases"]["cases"]
                         + SECTIONS["preprocessor_cases"]["cases"], ids=lambda case: case["name"])
def test_source_to_packed_file_and_back(case):
    text = preprocess(case["source_text"], case.get("preprocessor_definitions") or {},
                      strict=False)
    assert text == case["after_preprocess_text"]
    tokens = tokenize(text, strict=False)
    assert tokens.hex() == case["tokenized_hex"]
    constructor = case.get("constructor", {})
    magic = DIALSCRIPT if constructor.get("tellyscriptType") == 1 else TELLYSCRIPT
    packed = pack(tokens, DEFAULT_ID, DEFAULT_MOD, magic,
                  versionMinor=constructor.get("version_minor", 1))
    assert checkPacked(packed, case["packed"]) == tokens
    unpacked = unpack(packed)
    assert unpacked.tokens == tokens and unpacked.intact
    checkReverse(tokens, case["reverse"])


@pytest.mark.parametrize("case", SECTIONS["tokenizer_cases"]["cases"]
                         + SECTIONS["preprocessor_cases"]["cases"], ids=lambda case: case["name"])
def test_the_strict_tokenizer_refuses_the_quirks_and_agrees_elsewhere(case):
    text = case["after_preprocess_text"]
    if case.get("anchor_quirk") or case["name"] in ("unterminated_comment", "decimal_constants",
                                                    "hex_constants"):
        with pytest.raises(ScriptError):
            tokenize(text)
    else:
        assert tokenize(text).hex() == case["tokenized_hex"]


@cases("template_var_cases")
def test_template_variables(case):
    if "anchor_error" in case:
        with pytest.raises(ScriptError):
            minisrvValues(case["template_vars"])
        return
    values = minisrvValues(case["template_vars"])
    assert (values["DNS1"], values["DNS2"]) == (case["ipToHex"]["dns1ip"], case["ipToHex"]["dns2ip"])
    text = substitute(case["source_text"], values)
    assert text == case["after_template_vars_text"]
    tokens = tokenize(text, strict=False)
    assert tokens.hex() == case["tokenized_hex"]
    assert checkPacked(pack(tokens, DEFAULT_ID, DEFAULT_MOD), case["packed"]) == tokens
    checkReverse(tokens, case["reverse"])


@cases("pipeline_cases")
def test_minisrvs_generated_script_pipeline(case):
    text = preprocess(case["source_text"], case["preprocessor_definitions"], strict=False)
    assert text == case["after_preprocess_text"]
    text = substitute(text, minisrvValues(case["template_vars"]))
    assert text == case["after_template_vars_text"]
    text = minify(text)
    assert text == case["minified_text"]
    tokens = tokenize(text, strict=False)
    assert tokens.hex() == case["tokenized_hex"]
    packed = pack(tokens, DEFAULT_ID, DEFAULT_MOD, versionMinor=case["version_minor"])
    assert checkPacked(packed, case["packed"]) == tokens
    checkReverse(tokens, case["reverse"])


@cases("pack_cases")
def test_script_id_and_mod(case):
    high, low = case["random_draws"]
    header = case["packed"]["header"]
    scriptId = scriptIdFromDraws(high, low)
    assert f"{scriptId:08x}" == header["script_id_hex"]
    assert scriptId - (1 << 32) * (scriptId >> 31) == header["script_id_int32"]
    tokens = tokenize(case["source_text"])
    assert tokens.hex() == case["tokenized_hex"]
    checkPacked(pack(tokens, scriptId, case["date_now_ms"] // 1000), case["packed"])


@cases("lzss_compress_cases")
def test_lzss_compress_as_the_anchor_does(case):
    data = blob(case, "input")
    compressed = compress(data)
    assert compressed == blob(case, "output")
    assert expand(compressed) == expand(compressed, len(data)) == data


@cases("lzss_expand_cases")
def test_lzss_expand(case):
    out = expand(bytes.fromhex(case["stream_hex"]), case["uncompressed_size_argument"])
    assert out == blob(case, "output") and len(out) == case["output_length"]


@cases("unpack_cases")
def test_reading_packed_files(case):
    packed = bytes.fromhex(case["packed_hex"])
    unpacked = unpack(packed)
    header, recorded = unpacked.header, case["parsed_header"]
    assert header.magic.decode() == recorded["magic"]
    assert (header.versionMajor, header.versionMinor) == (recorded["version_major"],
                                                          recorded["version_minor"])
    assert (header.scriptId, header.scriptMod) == (recorded["script_id_uint32"],
                                                   recorded["script_mod"])
    assert (header.compressedLength, header.decompressedLength) == (
        recorded["compressed_length"], recorded["decompressed_length"])
    assert f"{header.checksum:08x}" == recorded["checksum_hex"]
    assert f"{header.unknown1:08x}" == recorded["unknown1_hex"]
    assert f"{unpacked.actualChecksum:08x}" == recorded["anchor_computed_checksum_hex"]
    assert unpacked.intact == (recorded["checksum_hex"] == recorded["anchor_computed_checksum_hex"]
                               and len(unpacked.tokens) == header.decompressedLength)
    assert unpacked.tokens.hex() == case["unpacked_tokenized_hex"]
    assert detokenize(unpacked.tokens) == case["detokenized_text"]
    if "repacked" in case:
        # The anchor re-packs as ANDY unless it was told to guess the kind
        # (dataState -1), when it keeps the file's; the version carries over.
        magic = header.magic if case["dataState"] == -1 else TELLYSCRIPT
        repacked = pack(unpacked.tokens, DEFAULT_ID, DEFAULT_MOD, magic, header.versionMajor,
                        header.versionMinor)
        assert repacked == b64decode(case["repacked"]["b64"])
        assert repacked[:36].hex() == case["repacked"]["header_hex"]


@cases("detokenizer_cases")
def test_detokenizer(case):
    tokens = bytes.fromhex(case["tokenized_hex"])
    assert detokenize(tokens) == case["detokenized_text"]
    assert checkPacked(pack(tokens, DEFAULT_ID, DEFAULT_MOD), case["packed"]) == tokens


@cases("autodetect_cases")
def test_what_an_input_is(case):
    data = (case["input"].encode() if case["input_kind"] == "string"
            else bytes.fromhex(case["input"]))
    kind = SOURCE if case["input_kind"] == "string" else classify(data)
    if case["tokenized_hex"] is None:
        assert kind is None
        return
    assert kind in (TOKENS, SOURCE)
    tokens = data if kind == TOKENS else tokenize(data.decode("utf-8"))
    assert tokens.hex() == case["tokenized_hex"]
    assert (detokenize(tokens) if kind == TOKENS else data.decode()) == case["raw_data"]
    assert pack(tokens, DEFAULT_ID, DEFAULT_MOD).hex() == case["packed_hex"]
    assert classify(pack(tokens, DEFAULT_ID, DEFAULT_MOD)) == PACKED
    assert case["detected_type"] == 0        # a TellyScript, not a DialScript


@cases("error_cases")
def test_sources_the_anchor_rejects_are_rejected_at_its_line(case):
    anchorLine = re.search(r"at line (\d+)", case["anchor_error"])
    for strict in (False, True):
        with pytest.raises(ScriptError) as caught:
            tokenize(preprocess(case["source_text"], case["preprocessor_definitions"], strict),
                     strict)
        if anchorLine:
            assert caught.value.line == int(anchorLine.group(1))
