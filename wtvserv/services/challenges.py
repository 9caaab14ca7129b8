"""
Login challenges any head-waiter of a deployment can check, whichever sent
them: the answer to a challenge may land on another host (PROTOCOL.md 6).

A challenge's id is its issue time (4 bytes) and 4 random bytes; what it
hands the box (the data to echo, the two RC4 session keys, the new DES key)
is derived from that id, the SSID and the client address with a key of the
shared ticket secret. The box's answer starts with the id, so a host that
holds the secret rebuilds the challenge from the answer alone, with nothing
stored between the two requests. Knowing the id is not enough to answer:
the answer proves knowledge of the data and the new key, which only the
secret (or the box's key, which decrypts the challenge) gives. An answer
counts once, on any host: L{wtvserv.store.shared.SharedState.answerChallenge}
records its id until it would be too old anyway (L{LIFETIME}).
"""

from __future__ import annotations

from hashlib import sha256

from wtvserv.crypto.challenge import FIELDS_LENGTH, IssuedChallenge, make_challenge, response_id

#: How long a challenge may wait for its answer, in seconds.
LIFETIME = 600

#: The block size of SHA-256, to which HMAC pads its key.
_SHA256_BLOCK = 64


class Challenges:
    """Issues challenges, and rebuilds them from their answers."""

    def __init__(self, key: bytes, clock, random) -> None:
        """
        @param key: 32 secret bytes, the same on every host.
        @param clock: has C{seconds()}; every host's should agree.
        @param random: returns that many random bytes.
        """
        self._inner, self._outer = hmacStates(key)
        self._clock = clock
        self._random = random

    def issue(self, currentKey: bytes, ssid: str, origin: str) -> IssuedChallenge:
        """@return: a challenge for the box C{ssid} at C{origin}, which holds C{currentKey}."""
        challengeId = int(self._clock.seconds()).to_bytes(4, "big") + self._random(4)
        return make_challenge(currentKey, challengeId, self._fields(challengeId, ssid, origin))

    def recall(self, response: str | None, ssid: str, origin: str) -> IssuedChallenge | None:
        """
        @return: the challenge the C{wtv-challenge-response} C{response}
            answers, as issued to C{ssid} at C{origin} by any host; L{None}
            when it names no challenge of the last L{LIFETIME} seconds.
        """
        challengeId = response_id(response)
        if challengeId is None:
            return None
        age = self._clock.seconds() - self.issued(challengeId)
        if not 0 <= age <= LIFETIME:
            return None
        return make_challenge(None, challengeId, self._fields(challengeId, ssid, origin))

    @staticmethod
    def issued(challengeId: bytes) -> int:
        """@return: when the challenge C{challengeId} was issued (POSIX seconds)."""
        return int.from_bytes(challengeId[:4], "big")

    def _fields(self, challengeId: bytes, ssid: str, origin: str) -> bytes:
        """
        @return: the first L{FIELDS_LENGTH} bytes of
            C{HMAC-SHA256(key, 00 || about) || HMAC-SHA256(key, 01 || about)
            || HMAC-SHA256(key, 02 || about)}, where C{about} is the id, the
            SSID, a NUL and the address (UTF-8).
        """
        about = challengeId + f"{ssid}\0{origin}".encode("utf-8", "replace")
        states = self._inner, self._outer
        blocks = b"".join(hmacFrom(states, prefix + about).digest()
                          for prefix in (b"\0", b"\1", b"\2"))
        return blocks[:FIELDS_LENGTH]


def hmacFrom(states, message: bytes):
    """
    @param states: what L{hmacStates} returned for the key.
    @return: the finished outer hash of C{HMAC-SHA256(key, message)}: its
        C{digest()} or C{hexdigest()} is the MAC's.
    """
    inner, outer = states[0].copy(), states[1].copy()
    inner.update(message)
    outer.update(inner.digest())
    return outer


def hmacStates(key: bytes):
    """
    @return: SHA-256 after the inner and after the outer padded key of
        HMAC-SHA256 (RFC 2104), for L{hmacFrom} to copy: a new C{hmac}
        object per MAC would hash both padded keys again (and in OpenSSL 3
        fetch the algorithm again), and cost twice as much.
    """
    if len(key) > _SHA256_BLOCK:
        key = sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return (sha256(bytes(byte ^ 0x36 for byte in key)),
            sha256(bytes(byte ^ 0x5C for byte in key)))
