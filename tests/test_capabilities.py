"""
Tests for L{wtvserv.capabilities}, against C{vectors/capability_flags.json}.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import load_vectors
from wtvserv.capabilities import (
    CAPABILITY_NAMES,
    RECEIVE_COMPRESSED,
    hasCapability,
    parse_capability_flags,
)


def capability_vectors():
    return load_vectors("capability_flags.json")


def test_table_is_the_vectors_table_in_bit_order():
    assert CAPABILITY_NAMES == tuple(capability_vectors()["capability_table"])
    assert len(CAPABILITY_NAMES) == 61


def test_receive_compressed_is_bit_3():
    assert CAPABILITY_NAMES[3] == RECEIVE_COMPRESSED


def test_every_box_reads_as_one_integer():
    for case in capability_vectors()["cases"]:
        flags = parse_capability_flags(case["wtv_capability_flags"])
        assert flags == frozenset(case["set_bits_by_integer_reading"]), case["box"]


def test_zero_nibble_after_the_first_chunk_keeps_its_bits():
    """Where the anchor's chunked reading shifts bits, ours does not."""
    flags = parse_capability_flags("10000000000f")
    assert "client-uses-third-party-billing" in flags
    assert "client-can-do-png" not in flags


def test_case_and_surrounding_whitespace_do_not_matter():
    assert parse_capability_flags(" 1009C93BEF\t") == parse_capability_flags(
        "1009c93bef")


def test_bits_beyond_the_table_are_ignored():
    assert parse_capability_flags(f"{(1 << 61) | (1 << 200) | 8:x}") == {
        RECEIVE_COMPRESSED}


@pytest.mark.parametrize("text", [
    None, "", "   ", "0x1f", "-8", "+8", "1_0", "12g4", "８", "8 8", b"8", 8,
])
def test_missing_or_malformed_flags_give_no_capabilities(text):
    assert parse_capability_flags(text) == frozenset()


def test_zero_gives_no_capabilities():
    assert parse_capability_flags("0000") == frozenset()


@given(st.one_of(st.none(), st.text(max_size=24),
                 st.integers(0, 1 << 70).map(lambda flags: f" {flags:X} ")),
       st.sampled_from(CAPABILITY_NAMES))
def test_one_capability_is_tested_as_the_whole_set_says(text, name):
    assert hasCapability(text, name) is (name in parse_capability_flags(text))


def test_every_box_of_the_vectors_has_each_capability_it_lists():
    for case in capability_vectors()["cases"]:
        text = case["wtv_capability_flags"]
        for name in CAPABILITY_NAMES:
            assert hasCapability(text, name) is (
                name in case["set_bits_by_integer_reading"]), case["box"]
