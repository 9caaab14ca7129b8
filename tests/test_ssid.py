"""
Tests for L{wtvserv.ssid}, against C{vectors/ssid.json}.
"""

import pytest

from tests.conftest import load_vectors
from wtvserv.ssid import check_ssid, is_well_formed, parse_ssid, ssid_crc

#: Our key names for the anchor's parseSSID fields.
_VECTOR_KEYS = {"boxType": "box_type", "unique_id": "unit_id",
                "region": "region", "manufacturer": "manufacturer",
                "crc": "crc"}


def ssid_cases():
    return load_vectors("ssid.json")["cases"]


def test_crc_of_every_case():
    for case in ssid_cases():
        assert ssid_crc(case["ssid_without_crc"]) == case["crc_hex"]
        assert case["ssid"] == case["ssid_without_crc"] + case["crc_hex"]


def test_crc_ignores_the_case_of_its_input():
    for case in ssid_cases():
        assert ssid_crc(case["ssid_without_crc"].lower()) == case["crc_hex"]


@pytest.mark.parametrize("text", ["", "8112345600B00", "8112345600B0026b",
                                  "8112345600B00G", "81 2345600B002"])
def test_crc_refuses_anything_but_14_hex_digits(text):
    with pytest.raises(ValueError):
        ssid_crc(text)


def test_every_case_passes_the_check_in_either_case():
    """Unlike the anchor, upper-case check digits are accepted."""
    for case in ssid_cases():
        assert check_ssid(case["ssid"])
        assert check_ssid(case["ssid"].upper())
        assert check_ssid(case["ssid"].lower())


def test_the_anchor_uppercase_quirk_is_not_reproduced():
    quirky = [c for c in ssid_cases() if not c["anchor_checkSSID_uppercase_crc"]]
    assert quirky, "the vectors should contain the quirk"
    for case in quirky:
        assert check_ssid(case["ssid_without_crc"] + case["crc_hex"].upper())


def test_a_wrong_check_byte_fails():
    for case in ssid_cases():
        good = int(case["crc_hex"], 16)
        for wrong in (good ^ 0x01, good ^ 0x80, (good + 1) % 256):
            assert not check_ssid(case["ssid_without_crc"] + f"{wrong:02x}")


def test_a_changed_digit_fails():
    ssid = ssid_cases()[0]["ssid"]
    for index in range(14):
        digit = "1" if ssid[index] != "1" else "2"
        assert not check_ssid(ssid[:index] + digit + ssid[index + 1:])


@pytest.mark.parametrize("ssid", ["1SEGA0123456789ab", "1SEGA",
                                  "MSTVSIMU", "MSTVSIMU12345678"])
def test_exempt_prefixes_pass_without_a_check_byte(ssid):
    assert check_ssid(ssid)


@pytest.mark.parametrize("ssid", [
    "", "8112345600B0026", "8112345600B0026b0", "X112345600B0026b",
    "1SEGA-0123", "MSTVSIMU!", "A" * 33, None, 12345,
])
def test_check_refuses_malformed_ssids(ssid):
    assert not check_ssid(ssid)


@pytest.mark.parametrize("ssid", ["a", "8112345600B0026b", "1SEGA0123", "Z" * 32])
def test_well_formed_ssids(ssid):
    assert is_well_formed(ssid)


@pytest.mark.parametrize("ssid", [
    "", "A" * 33, "81123456-0B0026b", "8112345600B0026b\n", " 81", "\u00e9",
    "\uff11", "../etc", None, b"8112345600B0026b",
])
def test_ill_formed_ssids(ssid):
    assert not is_well_formed(ssid)


def test_parse_every_case_like_the_anchor():
    for case in ssid_cases():
        parsed = parse_ssid(case["ssid"])
        expected = {_VECTOR_KEYS[key]: value
                    for key, value in case["anchor_parseSSID"].items()}
        assert parsed == expected


def test_parse_reports_unknown_codes():
    ssid = "22123456AACCCC"
    parsed = parse_ssid(ssid + ssid_crc(ssid))
    assert parsed["box_type"] == parsed["manufacturer"] == "Unknown"
    assert parsed["region"] == "Unknown"


@pytest.mark.parametrize("ssid", ["1SEGA0123456789ab", "8112345600B002", None])
def test_parse_refuses_non_classic_ssids(ssid):
    with pytest.raises(ValueError):
        parse_ssid(ssid)


def test_the_policy_asks_about_bans_every_time_however_often_an_ssid_came():
    from wtvserv.bans import Bans
    from wtvserv.box import make_ssid
    from wtvserv.ssid import SSIDPolicy
    bans = Bans()
    policy = SSIDPolicy(bans)
    good, wrong = make_ssid(0x123456), make_ssid(0x123456)[:14] + "zz"
    for _ in range(3):
        assert policy.refusal(good) is None
        assert policy.refusal(wrong)[2] == "SSID check byte wrong"
        assert policy.refusal("x" * 33)[2] == "malformed SSID"
    bans.ssids.add(good.lower())
    assert policy.refusal(good)[:2] == (403, "This service is not available to your box.")
    assert SSIDPolicy(bans, validate=False).refusal(wrong) is None


def test_the_policy_keeps_no_long_junk():
    """What the policy remembers is bounded in size, not only in number."""
    from wtvserv.bans import Bans
    from wtvserv.ssid import MAX_SSID_LENGTH, SSIDPolicy
    policy = SSIDPolicy(Bans())
    for number in range(50):
        assert policy.refusal(f"{number:x}" * 4000)[2] == "malformed SSID"
    assert policy._remembered.cache_info().currsize == 0
    assert policy.refusal("a" * MAX_SSID_LENGTH)[2] == "SSID check byte wrong"
    assert policy._remembered.cache_info().currsize == 1
