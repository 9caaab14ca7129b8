"""
Tests for L{wtvserv.crypto.rc4}, against C{vectors/rc4.json} and the captured
sessions of C{vectors/secure_session.json}.

Each test runs on both implementations of the stream, the C accelerator
(skipped where it was not built, unless C{WTVSERV_REQUIRE_RC4_C} is set, as
C{.ci/run} does) and pycryptodome's ARC4.
"""

import pytest

from tests.accelerators import builtOrSkipped, importedOrWhyNot
from tests.conftest import load_vectors
from wtvserv.crypto import rc4
from wtvserv.crypto.rc4 import (
    BoxStreams,
    PycryptodomeRC4Stream,
    ServerStreams,
    derive_rc4_keys,
    parse_incarnation,
)

_rc4_c, C_MISSING = importedOrWhyNot("wtvserv.crypto._rc4_c")


@pytest.fixture(scope="module", params=["pycryptodome", "c"], autouse=True)
def implementation(request):
    """
    Make L{wtvserv.crypto.rc4}'s streams those of pycryptodome or of the C
    accelerator, for every test of the module.
    """
    if request.param == "pycryptodome":
        chosen = PycryptodomeRC4Stream
    else:
        chosen = builtOrSkipped(_rc4_c, C_MISSING, "WTVSERV_REQUIRE_RC4_C").RC4Stream
    saved, rc4.RC4Stream = rc4.RC4Stream, chosen
    yield request.param
    rc4.RC4Stream = saved


def session_keys(case) -> tuple[bytes, bytes]:
    return (bytes.fromhex(case["session_key1_hex"]),
            bytes.fromhex(case["session_key2_hex"]))


def stream_cases():
    return load_vectors("rc4.json")["streams"]


def test_derivation_of_every_case_uses_a_big_endian_incarnation():
    for case in load_vectors("rc4.json")["derivation"]:
        rc4_key1, rc4_key2 = derive_rc4_keys(*session_keys(case),
                                             case["incarnation"])
        assert rc4_key1.hex() == case["rc4_key1_hex"]
        assert rc4_key2.hex() == case["rc4_key2_hex"]
        assert case["incarnation"].to_bytes(4, "big").hex() == \
            case["incarnation_bytes_hex"]


def test_little_endian_results_differ_unless_the_bytes_are_symmetric():
    for case in load_vectors("rc4.json")["derivation"]:
        rc4_key1, rc4_key2 = derive_rc4_keys(*session_keys(case),
                                             case["incarnation"])
        counter = case["incarnation"].to_bytes(4, "big")
        palindrome = counter == counter[::-1]
        assert (rc4_key1.hex() == case["WRONG_little_endian_rc4_key1_hex"]) \
            == palindrome
        assert (rc4_key2.hex() == case["WRONG_little_endian_rc4_key2_hex"]) \
            == palindrome


@pytest.mark.parametrize("incarnation", [-1, 2**32, 2**64])
def test_derivation_refuses_incarnations_outside_32_bits(incarnation):
    with pytest.raises(ValueError):
        derive_rc4_keys(bytes(16), bytes(16), incarnation)


def test_keystreams_of_every_stream_case():
    for case in stream_cases():
        streams = ServerStreams(*session_keys(case), case["incarnation"])
        assert streams.decrypt(bytes(64)).hex() == case["keystream1_first64_hex"]
        assert streams.encrypt(bytes(64)).hex() == case["keystream2_first64_hex"]


def test_server_decrypts_upstream_continuing_across_requests():
    for case in stream_cases():
        streams = ServerStreams(*session_keys(case), case["incarnation"])
        for message in case["upstream"]:
            plaintext = streams.decrypt(bytes.fromhex(message["ciphertext_hex"]))
            assert plaintext.hex() == message["plaintext_hex"]


def test_server_encrypts_downstream_continuing_across_responses():
    for case in stream_cases():
        streams = ServerStreams(*session_keys(case), case["incarnation"])
        for message in case["downstream"]:
            ciphertext = streams.encrypt(bytes.fromhex(message["plaintext_hex"]))
            assert ciphertext.hex() == message["ciphertext_hex"]


def test_directions_do_not_disturb_each_other():
    """Interleaving requests and responses gives the same bytes."""
    for case in stream_cases():
        streams = ServerStreams(*session_keys(case), case["incarnation"])
        for request, response in zip(case["upstream"], case["downstream"]):
            assert streams.decrypt(bytes.fromhex(request["ciphertext_hex"])) \
                == bytes.fromhex(request["plaintext_hex"])
            assert streams.encrypt(bytes.fromhex(response["plaintext_hex"])) \
                == bytes.fromhex(response["ciphertext_hex"])


def test_box_streams_mirror_the_server():
    for case in stream_cases():
        box = BoxStreams(*session_keys(case), case["incarnation"])
        for message in case["upstream"]:
            ciphertext = box.encrypt(bytes.fromhex(message["plaintext_hex"]))
            assert ciphertext.hex() == message["ciphertext_hex"]
        for message in case["downstream"]:
            plaintext = box.decrypt(bytes.fromhex(message["ciphertext_hex"]))
            assert plaintext.hex() == message["plaintext_hex"]


def test_a_restarted_stream_gives_the_wrong_ciphertext():
    for case in stream_cases():
        second = case["upstream"][1]
        restarted = BoxStreams(*session_keys(case), case["incarnation"])
        wrong = restarted.encrypt(bytes.fromhex(second["plaintext_hex"]))
        assert wrong.hex() == second["WRONG_if_stream_restarted_ciphertext_hex"]
        assert wrong.hex() != second["ciphertext_hex"]


def test_rekey_restarts_both_streams():
    case = stream_cases()[0]
    streams = ServerStreams(*session_keys(case), 1)
    streams.decrypt(b"consumed")
    streams.encrypt(b"consumed too")
    streams.rekey(case["incarnation"])
    assert streams.incarnation == case["incarnation"]
    assert streams.decrypt(bytes(64)).hex() == case["keystream1_first64_hex"]
    assert streams.encrypt(bytes(64)).hex() == case["keystream2_first64_hex"]


def test_rekey_refuses_a_bad_incarnation_and_keeps_the_streams():
    streams = ServerStreams(bytes(16), bytes(16), 5)
    with pytest.raises(ValueError):
        streams.rekey(2**32)
    assert streams.incarnation == 5


def test_empty_input_consumes_no_keystream():
    case = stream_cases()[0]
    stream = rc4.RC4Stream(bytes.fromhex(case["rc4_key1_hex"]))
    assert stream.process(b"") == b""
    assert stream.process(bytes(64)).hex() == case["keystream1_first64_hex"]


def test_a_stream_split_anywhere_gives_the_same_bytes():
    case = stream_cases()[0]
    stream = rc4.RC4Stream(bytes.fromhex(case["rc4_key1_hex"]))
    pieces = [stream.process(bytes(n)) for n in (1, 0, 7, 20, 36)]
    assert b"".join(pieces).hex() == case["keystream1_first64_hex"]


def test_captured_secure_connections_decrypt():
    """Every request and response body of the captured sessions."""
    for scenario in load_vectors("secure_session.json")["scenarios"]:
        for connection in scenario["secure_connections"]:
            streams = ServerStreams(*session_keys(connection),
                                    connection["incarnation"])
            for exchange in connection["exchanges"]:
                request = streams.decrypt(
                    bytes.fromhex(exchange["request_ciphertext_hex"]))
                assert request.decode("latin-1") == \
                    exchange["request_plaintext_text"]
                body = streams.encrypt(
                    bytes.fromhex(exchange["response_body_after_rc4_hex"]))
                assert body.hex() == exchange["response_body_wire_hex"]


def test_streams_repr_shows_no_keys():
    streams = ServerStreams(b"K" * 16, b"L" * 16, 9)
    assert "KKKK" not in repr(streams) and "9" in repr(streams)


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("5", 5), ("  41 ", 41), ("007", 7), ("4294967295", 2**32 - 1),
])
def test_parse_incarnation_reads_decimals(text, value):
    assert parse_incarnation(text) == value


@pytest.mark.parametrize("text", [
    None, "", " ", "-1", "+1", "4294967296", "99999999999", "0x10", "1e3",
    "5.0", "\u0665", "\u00b2", "1 2", "five", "12\n3",
])
def test_parse_incarnation_refuses_garbage(text):
    assert parse_incarnation(text) is None


def test_both_directions_run_on_the_stream_under_test(implementation):
    streams = ServerStreams(b"1" * 16, b"2" * 16, 3)
    streams.rekey(4)
    kinds = {type(streams._upstream), type(streams._downstream)}
    assert kinds == {PycryptodomeRC4Stream if implementation == "pycryptodome" else _rc4_c.RC4Stream}
