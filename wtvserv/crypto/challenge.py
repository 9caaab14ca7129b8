"""
The WTVP login challenge (C{wtv-challenge} / C{wtv-challenge-response}).

The server sends the box, under the box's current DES key C{Kc}, 40 random
bytes to echo, the two RC4 session keys and a new DES key C{Kn}::

    challenge = id(8) || DES-ECB(Kc, data(40) || K1(16) || K2(16) || Kn(8)
                                    || MD5(those 80 bytes)(16) || 08 x 8)
    response  = id(8) || DES-ECB(Kn, MD5(data)(16) || data(40) || 08 x 8)

The server always sends this 112-byte form. Some servers send a 108-byte form
whose last 4 bytes are junk (the first 104 bytes are identical); the box side
here accepts both.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from wtvserv.accelerators import importedOrWhyNot

ID_LENGTH = 8
DATA_LENGTH = 40
SESSION_KEY_LENGTH = 16
DES_KEY_LENGTH = 8
PADDING = b"\x08" * 8

#: What a challenge hands the box: data, K1, K2, Kn.
FIELDS_LENGTH = DATA_LENGTH + 2 * SESSION_KEY_LENGTH + DES_KEY_LENGTH  # 80
#: The DES-encrypted part: those fields, their MD5, padding.
_SECRET_LENGTH = FIELDS_LENGTH + 16
PADDED_CHALLENGE_LENGTH = ID_LENGTH + _SECRET_LENGTH + len(PADDING)  # 112
ANCHOR_CHALLENGE_LENGTH = ID_LENGTH + _SECRET_LENGTH + 4  # 108
RESPONSE_LENGTH = ID_LENGTH + 16 + DATA_LENGTH + len(PADDING)  # 72

#: Longest base64 text worth decoding for a response (72 bytes = 96 chars).
_MAX_RESPONSE_TEXT = 128
#: Longest base64 text worth decoding for a challenge (112 bytes = 152 chars).
_MAX_CHALLENGE_TEXT = 200


class ChallengeError(Exception):
    """A challenge could not be answered: malformed, wrong key or bad MD5."""


@dataclass(frozen=True)
class IssuedChallenge:
    """
    A challenge the server sent, with what it needs to check the answer.

    Secret fields are left out of the C{repr} so they never reach a log.
    """

    challenge_id: bytes
    data: bytes = field(repr=False)
    key1: bytes = field(repr=False)
    key2: bytes = field(repr=False)
    new_key: bytes = field(repr=False)
    challenge_b64: str

    @cached_property
    def expected_response(self) -> bytes:
        """
        The 72 bytes of the right answer, made when first checked rather
        than when issued: that saves a DES key set-up and encryption per
        challenge issued, and a challenge is checked once.
        """
        return _build_response(self.challenge_id, self.data, self.new_key)

    @property
    def expected_response_b64(self) -> str:
        """The right C{wtv-challenge-response} value."""
        return b64encode(self.expected_response).decode("ascii")


@dataclass(frozen=True)
class AnsweredChallenge:
    """What a box learns from a challenge, and the response it sends."""

    key1: bytes = field(repr=False)
    key2: bytes = field(repr=False)
    new_key: bytes = field(repr=False)
    response_b64: str


def _desEncryptOpenSSL(key: bytes, plaintext: bytes) -> bytes:
    """
    DES-ECB, as triple DES under C{key} three times (which is single DES):
    OpenSSL's through C{cryptography} costs half what pycryptodome's DES
    does per challenge, mostly in setting the key up.
    """
    return Cipher(TripleDES(key * 3), modes.ECB()).encryptor().update(plaintext)


def _desDecryptOpenSSL(key: bytes, ciphertext: bytes) -> bytes:
    """The inverse of L{_desEncryptOpenSSL}."""
    return Cipher(TripleDES(key * 3), modes.ECB()).decryptor().update(ciphertext)


_des_c, FALLBACK_REASON = importedOrWhyNot("wtvserv.crypto._des_c")
"""C{FALLBACK_REASON}: why the C accelerator's DES is not in use, or L{None}."""

IMPLEMENTATION = "openssl" if _des_c is None else "c"
"""
C{"c"} or C{"openssl"}: whose DES encrypts challenges. The accelerator's
single DES gives the same bytes as OpenSSL's triple DES for a fifth of the
cost (a cipher context, in OpenSSL 3, is most of a challenge's).
"""


def _desEncrypt(key: bytes, plaintext: bytes) -> bytes:
    """DES-ECB of whole blocks under the 8-byte C{key}."""
    if _des_c is None:
        return _desEncryptOpenSSL(key, plaintext)
    return _des_c.desECB(key, plaintext, False)


def _desDecrypt(key: bytes, ciphertext: bytes) -> bytes:
    """The inverse of L{_desEncrypt}."""
    if _des_c is None:
        return _desDecryptOpenSSL(key, ciphertext)
    return _des_c.desECB(key, ciphertext, True)


def _check_des_key(key: bytes) -> None:
    if len(key) != DES_KEY_LENGTH:
        raise ValueError(f"a DES key is {DES_KEY_LENGTH} bytes, not {len(key)}")


def _build_response(challenge_id: bytes, data: bytes, new_key: bytes) -> bytes:
    """
    @return: the 72 response bytes: C{id || DES(new_key, MD5(data) || data
        || 08 x 8)}.
    """
    plaintext = hashlib.md5(data).digest() + data + PADDING
    return challenge_id + _desEncrypt(new_key, plaintext)


def issue_challenge(current_key: bytes,
                    random: Callable[[int], bytes]) -> IssuedChallenge:
    """
    Make a new challenge for a box whose DES key is C{current_key}.

    @param current_key: the 8-byte key the box holds now (its
        C{wtv-initial-key}, or the new key of its last challenge).
    @param random: returns that many random bytes; drawn in this order: id (8),
        data (40), K1 (16), K2 (16), new key (8).
    @return: the challenge in its 112-byte form and the expected response.
    """
    _check_des_key(current_key)
    challenge_id = random(ID_LENGTH)
    fields = b"".join(random(n) for n in (DATA_LENGTH, SESSION_KEY_LENGTH,
                                           SESSION_KEY_LENGTH, DES_KEY_LENGTH))
    return make_challenge(current_key, challenge_id, fields)


def make_challenge(current_key: bytes | None, challenge_id: bytes,
                   fields: bytes) -> IssuedChallenge:
    """
    The challenge of C{challenge_id} and C{fields} (data, K1, K2 and the new
    key, 80 bytes, in that order).

    @param current_key: the box's DES key; L{None} to rebuild only what
        checks an answer (the challenge text is then empty).
    """
    data = fields[:DATA_LENGTH]
    key1 = fields[DATA_LENGTH:DATA_LENGTH + SESSION_KEY_LENGTH]
    key2 = fields[DATA_LENGTH + SESSION_KEY_LENGTH:FIELDS_LENGTH - DES_KEY_LENGTH]
    new_key = fields[FIELDS_LENGTH - DES_KEY_LENGTH:FIELDS_LENGTH]
    challenge = b""
    if current_key is not None:
        secret = fields + hashlib.md5(fields).digest() + PADDING
        challenge = challenge_id + _desEncrypt(current_key, secret)
    return IssuedChallenge(
        challenge_id=challenge_id, data=data, key1=key1, key2=key2,
        new_key=new_key, challenge_b64=b64encode(challenge).decode("ascii"))


def response_id(response_b64: str | None) -> bytes | None:
    """@return: the challenge id a C{wtv-challenge-response} answers, or L{None}."""
    received = _decode_base64(response_b64, _MAX_RESPONSE_TEXT)
    if received is None or len(received) != RESPONSE_LENGTH:
        return None
    return received[:ID_LENGTH]


def _decode_base64(text: object, max_length: int) -> bytes | None:
    """
    @return: the bytes of strict base64 C{text}, or L{None} when it is not a
        string, longer than C{max_length} characters, or not base64.
    """
    if not isinstance(text, str) or len(text) > max_length:
        return None
    try:
        return b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def response_matches(issued: IssuedChallenge, response_b64: str | None) -> bool:
    """
    @param response_b64: the box's C{wtv-challenge-response}, if it sent one.
    @return: whether it is the expected response, compared in constant time.
        Never raises.
    """
    received = _decode_base64(response_b64, _MAX_RESPONSE_TEXT)
    if received is None:
        return False
    return hmac.compare_digest(received, issued.expected_response)


def _decrypt_challenge_secret(current_key: bytes, challenge: bytes) -> bytes:
    """
    @return: the 96 plaintext bytes (data, keys, MD5) of a 112- or 108-byte
        challenge.
    @raise ChallengeError: for any other length, or bad padding.
    """
    if len(challenge) == PADDED_CHALLENGE_LENGTH:
        plaintext = _desDecrypt(current_key, challenge[ID_LENGTH:])
        if plaintext[_SECRET_LENGTH:] != PADDING:
            raise ChallengeError("bad challenge padding (wrong key?)")
        return plaintext[:_SECRET_LENGTH]
    if len(challenge) == ANCHOR_CHALLENGE_LENGTH:
        # The trailing 4 bytes are half a DES block; the box ignores them.
        return _desDecrypt(current_key, challenge[ID_LENGTH:ID_LENGTH + _SECRET_LENGTH])
    raise ChallengeError(f"a challenge is {PADDED_CHALLENGE_LENGTH} or "
                         f"{ANCHOR_CHALLENGE_LENGTH} bytes, not {len(challenge)}")


def answer_challenge(current_key: bytes, challenge_b64: str) -> AnsweredChallenge:
    """
    Do what a box does with a C{wtv-challenge}.

    @param current_key: the box's current 8-byte DES key.
    @param challenge_b64: the header value, 112-byte or 108-byte form.
    @return: the session keys, the new DES key (the box's next current key)
        and the C{wtv-challenge-response} value.
    @raise ChallengeError: when the challenge is malformed or its MD5 does not
        match (typically: encrypted with another key).
    """
    _check_des_key(current_key)
    challenge = _decode_base64(challenge_b64, _MAX_CHALLENGE_TEXT)
    if challenge is None:
        raise ChallengeError("the challenge is not base64")
    secret = _decrypt_challenge_secret(current_key, challenge)
    fields, digest = secret[:80], secret[80:]
    if not hmac.compare_digest(hashlib.md5(fields).digest(), digest):
        raise ChallengeError("challenge MD5 mismatch (wrong key?)")
    data = fields[:DATA_LENGTH]
    key1 = fields[DATA_LENGTH:DATA_LENGTH + SESSION_KEY_LENGTH]
    key2 = fields[DATA_LENGTH + SESSION_KEY_LENGTH:72]
    new_key = fields[72:80]
    response = _build_response(challenge[:ID_LENGTH], data, new_key)
    return AnsweredChallenge(key1=key1, key2=key2, new_key=new_key,
                             response_b64=b64encode(response).decode("ascii"))
