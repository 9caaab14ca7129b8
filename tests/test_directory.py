"""
Tests for L{wtvserv.directory.ServiceEntry}'s C{wtv-service} values.
"""

from dataclasses import replace

from wtvserv.directory import DONT_ENCRYPT_REQUESTS, ServiceEntry


def test_a_value_reads_back_as_the_same_entry():
    entry = ServiceEntry("wtv-home", "192.0.2.1", 1601, flags=0x4, connections=3)
    assert entry.header() == "name=wtv-home host=192.0.2.1 port=1601 flags=0x00000004 connections=3"
    assert ServiceEntry.fromHeader(entry.header()) == entry


def test_a_changed_copy_says_its_own_flags_after_the_original_was_sent():
    entry = ServiceEntry("wtv-head-waiter", "192.0.2.1", 1601)
    assert entry.header() == "name=wtv-head-waiter host=192.0.2.1 port=1601"
    inClear = replace(entry, flags=DONT_ENCRYPT_REQUESTS)
    assert inClear.header() == "name=wtv-head-waiter host=192.0.2.1 port=1601 flags=0x00000001"
    assert entry.header() == "name=wtv-head-waiter host=192.0.2.1 port=1601"
