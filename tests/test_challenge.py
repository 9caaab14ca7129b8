"""
Tests for L{wtvserv.crypto.challenge}, mostly against C{vectors/challenge.json}.
"""

import hmac
import os
from base64 import b64decode, b64encode
from hashlib import sha256

import pytest
from Crypto.Cipher import DES
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from tests.accelerators import builtOrSkipped, importedOrWhyNot
from tests.conftest import load_vectors
from wtvserv.crypto import challenge as challengeModule
from wtvserv.crypto.challenge import (
    ChallengeError,
    IssuedChallenge,
    answer_challenge,
    issue_challenge,
    response_matches,
)
from wtvserv.services.challenges import LIFETIME, Challenges, hmacFrom, hmacStates


_des_c, C_MISSING = importedOrWhyNot("wtvserv.crypto._des_c")


@pytest.fixture(scope="module", params=["openssl", "c"], autouse=True)
def desImplementation(request):
    """
    Run every test of the module with challenges encrypted by OpenSSL's
    triple DES and by the DES accelerator's single DES.
    """
    chosen = None
    if request.param == "c":
        chosen = builtOrSkipped(_des_c, C_MISSING, "WTVSERV_REQUIRE_DES_C")
    saved = challengeModule._des_c
    challengeModule._des_c = chosen
    yield request.param
    challengeModule._des_c = saved


@settings(max_examples=300)
@given(key=st.binary(min_size=8, max_size=8), blocks=st.integers(0, 16), seed=st.binary(max_size=8))
def test_both_des_implementations_give_the_bytes_of_des(key, blocks, seed):
    """Single DES in C, OpenSSL's triple DES under one key three times and pycryptodome's DES agree."""
    native = builtOrSkipped(_des_c, C_MISSING, "WTVSERV_REQUIRE_DES_C")
    data = sha256(seed).digest() * (blocks // 4 + 1)
    data = data[:8 * blocks]
    expected = DES.new(key, DES.MODE_ECB).encrypt(data)
    assert native.desECB(key, data, False) == expected
    assert challengeModule._desEncryptOpenSSL(key, data) == expected
    assert native.desECB(key, expected, True) == data
    assert challengeModule._desDecryptOpenSSL(key, expected) == data


def test_the_c_des_refuses_a_wrong_key_or_a_partial_block():
    native = builtOrSkipped(_des_c, C_MISSING, "WTVSERV_REQUIRE_DES_C")
    assert native.desECB(bytes.fromhex("133457799BBCDFF1"), bytes.fromhex("0123456789ABCDEF"),
                         False) == bytes.fromhex("85E813540F0AB405")   # the classic worked example
    with pytest.raises(ValueError):
        native.desECB(b"short", b"\0" * 8, False)
    with pytest.raises(ValueError):
        native.desECB(b"k" * 8, b"\0" * 7, False)
    with pytest.raises(TypeError):
        native.desECB("k" * 8, b"\0" * 8, False)


def challenge_cases():
    return load_vectors("challenge.json")["cases"]


def scripted_random(*chunks: bytes):
    """
    @return: a C{random} function handing out C{chunks} in order, checking
        that each draw asks for exactly the next chunk's length.
    """
    queue = list(chunks)

    def random(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n
        return chunk

    return random


def issue_case(case) -> IssuedChallenge:
    """Issue the challenge of one vector case, with its fields as draws."""
    draws = [bytes.fromhex(case[name]) for name in (
        "challenge_id_hex", "challenge_data_hex", "session_key1_hex",
        "session_key2_hex", "new_key_hex")]
    return issue_challenge(bytes.fromhex(case["encrypting_key_hex"]),
                           scripted_random(*draws))


def fixed_challenge() -> IssuedChallenge:
    return issue_challenge(b"minisrv!", scripted_random(
        bytes(8), bytes(range(40)), b"A" * 16, b"B" * 16, b"newkey!!"))


def test_issued_challenge_is_the_padded_form_of_every_case():
    for case in challenge_cases():
        issued = issue_case(case)
        assert issued.challenge_b64 == case["wtv_challenge_padded_b64"], case["name"]
        assert len(b64decode(issued.challenge_b64)) == 112
        assert len(issued.challenge_b64) == 152


def test_issued_challenge_keeps_its_fields():
    for case in challenge_cases():
        issued = issue_case(case)
        assert issued.challenge_id.hex() == case["challenge_id_hex"]
        assert issued.data.hex() == case["challenge_data_hex"]
        assert issued.key1.hex() == case["session_key1_hex"]
        assert issued.key2.hex() == case["session_key2_hex"]
        assert issued.new_key.hex() == case["new_key_hex"]
        assert issued.new_key.hex() == case["key_after_challenge_hex"]


def test_expected_response_of_every_case():
    for case in challenge_cases():
        issued = issue_case(case)
        assert issued.expected_response_b64 == case["wtv_challenge_response_b64"]
        assert len(b64decode(issued.expected_response_b64)) == 72


def test_response_is_des_under_the_new_key_of_md5_data_and_padding():
    """The response plaintext is MD5(data) || data || 08x8, under Kn."""
    for case in challenge_cases():
        response = b64decode(case["wtv_challenge_response_b64"])
        key = bytes.fromhex(case["response_des_key_hex"])
        assert key.hex() == case["new_key_hex"]
        plaintext = DES.new(key, DES.MODE_ECB).decrypt(response[8:])
        assert plaintext.hex() == case["response_plaintext_hex"]


def test_challenge_carries_the_md5_of_its_first_80_bytes():
    for case in challenge_cases():
        challenge = b64decode(issue_case(case).challenge_b64)
        key = bytes.fromhex(case["encrypting_key_hex"])
        plaintext = DES.new(key, DES.MODE_ECB).decrypt(challenge[8:])
        assert plaintext[80:96].hex() == case["md5_of_80_bytes_hex"]
        assert plaintext[96:] == b"\x08" * 8


def test_anchor_form_shares_the_first_104_bytes_of_the_padded_form():
    """
    The 108-byte anchor form is our 112-byte form with the padding block
    replaced by half of DES(Kc, 8 zero bytes).
    """
    for case in challenge_cases():
        anchor = b64decode(case["wtv_challenge_b64"])
        padded = b64decode(issue_case(case).challenge_b64)
        assert len(anchor) == case["wtv_challenge_length"] == 108
        assert anchor[:104] == padded[:104]
        key = bytes.fromhex(case["encrypting_key_hex"])
        assert anchor[104:] == DES.new(key, DES.MODE_ECB).encrypt(bytes(8))[:4]


def test_answering_either_form_gives_the_expected_response():
    for case in challenge_cases():
        key = bytes.fromhex(case["encrypting_key_hex"])
        for form in ("wtv_challenge_b64", "wtv_challenge_padded_b64"):
            answer = answer_challenge(key, case[form])
            assert answer.response_b64 == case["wtv_challenge_response_b64"]
            assert answer.response_b64 == case["anchor_response_to_padded_form_b64"]
            assert answer.key1.hex() == case["session_key1_hex"]
            assert answer.key2.hex() == case["session_key2_hex"]
            assert answer.new_key.hex() == case["key_after_challenge_hex"]


def test_chained_cases_are_encrypted_with_the_previous_new_key():
    """Cases 1 -> 2 and preregister -> login form chains."""
    cases = {case["name"]: case for case in challenge_cases()}
    for first, second in [("patterned-default-key", "chained-second-challenge"),
                          ("preregister-challenge",
                           "login-challenge-after-preregister")]:
        box_key = bytes.fromhex(cases[first]["encrypting_key_hex"])
        box_key = answer_challenge(
            box_key, cases[first]["wtv_challenge_padded_b64"]).new_key
        answer = answer_challenge(
            box_key, cases[second]["wtv_challenge_padded_b64"])
        assert answer.response_b64 == cases[second]["wtv_challenge_response_b64"]


def test_preregister_new_key_is_the_initial_key_header():
    case = {c["name"]: c for c in challenge_cases()}["preregister-challenge"]
    issued = issue_case(case)
    assert b64encode(issued.new_key).decode() == case["wtv_initial_key_header_value"]


def test_draw_order_reproduces_the_captured_sessions():
    """
    The server draws id, data, K1, K2, new key for the preregister challenge,
    then again for the login challenge, which the box answers.
    """
    transcript = load_vectors("secure_session.json")
    initial = b64decode(transcript["capture_setup"]["server_initial_shared_key_b64"])
    for scenario in transcript["scenarios"]:
        random = scripted_random(
            *[bytes.fromhex(d) for d in scenario["server_random_draws_hex"]])
        preregister = issue_challenge(initial, random)
        assert preregister.new_key == b64decode(scenario["wtv_initial_key_b64"])
        login = issue_challenge(preregister.new_key, random)
        fields = scenario["login_challenge_fields"]
        assert login.challenge_id.hex() == fields["id_hex"]
        assert login.data.hex() == fields["data_hex"]
        assert login.key1.hex() == fields["session_key1_hex"]
        assert login.key2.hex() == fields["session_key2_hex"]
        assert login.new_key.hex() == fields["new_key_hex"]
        captured = b64decode(scenario["login_challenge_b64"])
        assert b64decode(login.challenge_b64)[:104] == captured[:104]
        assert response_matches(login, scenario["challenge_response_b64"])


def test_response_matches_accepts_the_expected_response():
    issued = fixed_challenge()
    answer = answer_challenge(b"minisrv!", issued.challenge_b64)
    assert response_matches(issued, answer.response_b64)
    assert response_matches(issued, issued.expected_response_b64)


@pytest.mark.parametrize("response", [
    None, "", "garbage!", "====", "AAAA", "\u00e9\u00e9\u00e9\u00e9",
    "A" * 5000, 42, b"bytes are not headers",
])
def test_response_matches_refuses_garbage_without_raising(response):
    assert response_matches(fixed_challenge(), response) is False


def test_response_matches_refuses_any_altered_byte():
    issued = fixed_challenge()
    expected = b64decode(issued.expected_response_b64)
    for index in range(len(expected)):
        altered = bytearray(expected)
        altered[index] ^= 0x01
        assert not response_matches(issued, b64encode(altered).decode())
    assert not response_matches(issued, b64encode(expected[:-8]).decode())
    assert not response_matches(issued, b64encode(expected + bytes(8)).decode())


def test_issued_challenge_repr_hides_the_keys():
    issued = fixed_challenge()
    text = repr(issued)
    assert repr(b"newkey!!") not in text and repr(b"A" * 16) not in text
    assert issued.expected_response_b64 not in text


def test_issue_challenge_refuses_a_key_that_is_not_8_bytes():
    with pytest.raises(ValueError):
        issue_challenge(b"short", scripted_random())


def test_answering_with_the_wrong_key_raises():
    issued = fixed_challenge()
    with pytest.raises(ChallengeError):
        answer_challenge(b"wrongkey", issued.challenge_b64)


def test_answering_the_anchor_form_with_the_wrong_key_fails_the_md5():
    case = challenge_cases()[0]
    with pytest.raises(ChallengeError, match="MD5"):
        answer_challenge(b"wrongkey", case["wtv_challenge_b64"])


@pytest.mark.parametrize("challenge", [
    "", "not base64!", "AAAA", b64encode(bytes(104)).decode(),
    b64encode(bytes(116)).decode(), "A" * 1000, None,
])
def test_answering_a_malformed_challenge_raises(challenge):
    with pytest.raises(ChallengeError):
        answer_challenge(b"minisrv!", challenge)


def test_answering_a_challenge_with_an_altered_byte_raises():
    challenge = b64decode(fixed_challenge().challenge_b64)
    for index in range(8, len(challenge)):
        altered = bytearray(challenge)
        altered[index] ^= 0x80
        with pytest.raises(ChallengeError):
            answer_challenge(b"minisrv!", b64encode(altered).decode())


def test_a_challenge_is_rebuilt_from_its_answer_alone_while_fresh():
    """L{Challenges}: what any host sharing the key rebuilds, and what it refuses."""
    clock = Clock()
    clock.advance(1_800_000_000)
    issuer = Challenges(b"k" * 32, clock, os.urandom)
    issued = issuer.issue(b"minisrv!", "8100000000000001", "198.51.100.7")
    answer = answer_challenge(b"minisrv!", issued.challenge_b64).response_b64
    elsewhere = Challenges(b"k" * 32, clock, os.urandom)       # another host, the same key
    rebuilt = elsewhere.recall(answer, "8100000000000001", "198.51.100.7")
    assert response_matches(rebuilt, answer) and rebuilt.key1 == issued.key1
    assert not response_matches(elsewhere.recall(answer, "8100000000000001", "198.51.100.8"),
                                answer), "from another address, another challenge"
    assert not response_matches(Challenges(b"x" * 32, clock, os.urandom).recall(
        answer, "8100000000000001", "198.51.100.7"), answer), "without the key, no answer"
    assert elsewhere.recall("not base64!", "8100000000000001", "198.51.100.7") is None
    clock.advance(LIFETIME + 1)
    assert elsewhere.recall(answer, "8100000000000001", "198.51.100.7") is None


#: Challenges issued by the derivation as it was before it was made faster
#: (commit 5146b16), with the key C{bytes(range(32))} at 1,800,000,000 s and
#: its random bytes: the SSID, the address, the random bytes, the
#: C{wtv-challenge} sent (under C{minisrv!}), the box's answer. Another host
#: of the deployment may still run that code.
ISSUED_BEFORE = [
    ("8100000000000001", "198.51.100.7", "a1b2c3d4",
     "a0nSAKGyw9QWi6Kr91NIQuwP0ZiPvgaSbZDntgsoMayIOuoVjtEGk2r1J+p3uFtb+rIDEljs6s7POgY/XfA0lUEVJdCtuj"
     "HrTluzbybVbDzhtOXoVbb0AIkOpRh3yGUMVZAOcwqNLtwoCF/ebAG2AQ==",
     "a0nSAKGyw9QYRveK/ZfRi/6TM+DULOOCUnV3k6U1xi6ned53YB0kqoMzyRsXCIzEce6G9RXU/FiRNG8d/kt4gl8zSrqVMjDy"),
    ("91f00dface00C0DE", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "00000000",
     "a0nSAAAAAAATGexRKDNxaL+Hd00Vciip8ih1Im9dWeqpFSFBVbnxW61P+/hmxtqH1XTYtI0t6WR6ulmaul6TQHGKNr3yD4"
     "bqzkljvR4duHpLVJE2x8dws6JnUl1LC25vDLF8sQ0VFJ8oCF/ebAG2AQ==",
     "a0nSAAAAAAC6F3SZOYQUCHp7iKAXqTPTym0TcZShPyQcMA4bJTz0SiH4ldzIXAhrcJZwHPqXEfsVrP8a4x80qA+mFo1niZUl"),
    ("8100000000000\udc80\u00e9", "203.0.113.250", "ffffffff",
     "a0nSAP////8LrtHFugj8aqw+gmesp7gjxjqEvxmLuRzezzzcTDwpLJVJNZk/uxiOTPRySTnvER+SzDIMkpbOFMA26eTZsV"
     "LP8o6VGMcEHi5kTRbiqkx6cXxeMws4Wi/KpdXL4B/xe70oCF/ebAG2AQ==",
     "a0nSAP////95Nhh7IRIEv2hXdmUJ7rNEhG84bSZTvpWcLYfDR5tbhAsvi0fGOkABjHfvpDHD7oLS8ti5OdPxkBYurBewcaCb"),
]


@pytest.mark.parametrize("ssid, origin, random, challenge, answer", ISSUED_BEFORE)
def test_challenges_are_issued_and_answered_as_the_derivation_before_did(
        ssid, origin, random, challenge, answer):
    """The same challenge for the same draw, and an answer to the old one counts here."""
    clock = Clock()
    clock.advance(1_800_000_000)
    challenges = Challenges(bytes(range(32)), clock, lambda n: bytes.fromhex(random))
    assert challenges.issue(b"minisrv!", ssid, origin).challenge_b64 == challenge
    assert answer_challenge(b"minisrv!", challenge).response_b64 == answer
    assert response_matches(challenges.recall(answer, ssid, origin), answer)


def fields_by_the_definition(key: bytes, challengeId: bytes, ssid: str, origin: str) -> bytes:
    """HMAC-SHA256 of each field's number and what it is about, by the C{hmac} module."""
    about = challengeId + f"{ssid}\0{origin}".encode("utf-8", "replace")
    return b"".join(hmac.new(key, bytes([n]) + about, sha256).digest() for n in range(3))[:80]


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=200), random=st.binary(min_size=4, max_size=4),
       ssid=st.text(max_size=40), origin=st.text(max_size=80))
def test_the_fields_are_the_hmac_of_any_key_ssid_and_address(key, random, ssid, origin):
    clock = Clock()
    clock.advance(1_800_000_000)
    issued = Challenges(key, clock, lambda n: random).issue(b"minisrv!", ssid, origin)
    fields = issued.data + issued.key1 + issued.key2 + issued.new_key
    assert fields == fields_by_the_definition(key, issued.challenge_id, ssid, origin)


def test_the_fields_are_the_hmac_of_keys_of_every_length_around_the_block():
    """HMAC pads keys up to SHA-256's 64-byte block, and hashes longer ones first."""
    clock = Clock()
    clock.advance(1_800_000_000)
    for length in range(140):
        key = bytes(range(length))
        issued = Challenges(key, clock, os.urandom).issue(b"minisrv!", "8100000000000001", "::1")
        fields = issued.data + issued.key1 + issued.key2 + issued.new_key
        assert fields == fields_by_the_definition(key, issued.challenge_id, "8100000000000001",
                                                  "::1"), length


@given(key=st.binary(max_size=100), message=st.binary(max_size=200))
def test_hmac_from_copied_states_is_hmac_sha256(key, message):
    """The MAC of the tokens and challenge fields is the standard one, for any key length."""
    assert hmacFrom(hmacStates(key), message).digest() == hmac.new(key, message, sha256).digest()
