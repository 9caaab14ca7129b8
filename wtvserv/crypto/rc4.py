"""
SECURE ON: the RC4 streams of an encrypted WTVP connection.

Each direction has its own RC4 state, keyed from a session key of the last
challenge and the connection's incarnation::

    RC4key = MD5(K || BE32(incarnation) || K)

Requests (box to server) use K1, response bodies (server to box) use K2. A
stream runs for the whole connection: each message continues where the
previous one stopped.

Two implementations of a stream give the same keystream: a C accelerator
(C{_rc4_c}, built by C{pip install} where a compiler is present) and
pycryptodome's ARC4, whose per-call ctypes/cffi layer costs more than the
cipher on small messages. L{IMPLEMENTATION} says which one this process
uses, and L{FALLBACK_REASON} why it is not the C one.
"""

from __future__ import annotations

import hashlib
import re

from Crypto.Cipher import ARC4

from wtvserv.accelerators import importedOrWhyNot

MAX_INCARNATION = 2**32 - 1

_DECIMAL = re.compile(r"[0-9]{1,10}")


def parse_incarnation(text: str | None) -> int | None:
    """
    @param text: a C{wtv-incarnation} header value.
    @return: its value when it is a plain ASCII decimal in C{0..2**32-1}
        (surrounding whitespace allowed), else L{None}.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_INCARNATION else None


def _check_incarnation(incarnation: int) -> None:
    if not 0 <= incarnation <= MAX_INCARNATION:
        raise ValueError(f"incarnation {incarnation!r} is not in 0..2**32-1")


def derive_rc4_key(session_key: bytes, incarnation: int) -> bytes:
    """@return: C{MD5(session_key || BE32(incarnation) || session_key)}."""
    _check_incarnation(incarnation)
    counter = incarnation.to_bytes(4, "big")
    return hashlib.md5(session_key + counter + session_key).digest()


def derive_rc4_keys(key1: bytes, key2: bytes,
                    incarnation: int) -> tuple[bytes, bytes]:
    """
    @return: the RC4 keys of the upstream (box to server, from C{key1}) and
        downstream (server to box, from C{key2}) streams.
    @raise ValueError: when C{incarnation} is outside C{0..2**32-1}.
    """
    return (derive_rc4_key(key1, incarnation),
            derive_rc4_key(key2, incarnation))


class PycryptodomeRC4Stream:
    """
    One RC4 keystream, consumed across every message it processes: the
    fallback L{RC4Stream}, on pycryptodome's ARC4.
    """

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes):
        self._cipher = ARC4.new(key)

    def __repr__(self) -> str:
        return "<RC4Stream>"

    def process(self, data: bytes) -> bytes:
        """
        @return: C{data} XORed with the next C{len(data)} keystream bytes
            (encryption and decryption are the same). Empty input consumes no
            keystream.
        """
        if not data:
            return b""
        return self._cipher.encrypt(bytes(data))


_rc4_c, FALLBACK_REASON = importedOrWhyNot("wtvserv.crypto._rc4_c")
"""C{FALLBACK_REASON}: why the C accelerator is not in use, or L{None} when it is."""
RC4Stream = PycryptodomeRC4Stream if _rc4_c is None else _rc4_c.RC4Stream

IMPLEMENTATION = "pycryptodome" if RC4Stream is PycryptodomeRC4Stream else "c"
"""C{"c"} or C{"pycryptodome"}: which L{RC4Stream} the connections' streams are."""


class _Streams:
    """The two streams of one connection; see L{ServerStreams}."""

    def __init__(self, key1: bytes, key2: bytes, incarnation: int):
        self._key1 = key1
        self._key2 = key2
        self.rekey(incarnation)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} incarnation={self.incarnation}>"

    def rekey(self, incarnation: int) -> None:
        """
        Restart both streams with keys for C{incarnation}.

        @raise ValueError: when C{incarnation} is outside C{0..2**32-1}.
        """
        rc4_key1, rc4_key2 = derive_rc4_keys(self._key1, self._key2, incarnation)
        self.incarnation = incarnation
        self._upstream = RC4Stream(rc4_key1)
        self._downstream = RC4Stream(rc4_key2)


class ServerStreams(_Streams):
    """
    The server's side: decrypts requests (K1 stream), encrypts response
    bodies (K2 stream).
    """

    def decrypt(self, data: bytes) -> bytes:
        """@return: the plaintext of the next request bytes."""
        return self._upstream.process(data)

    def encrypt(self, data: bytes) -> bytes:
        """@return: the ciphertext of the next response body bytes."""
        return self._downstream.process(data)


class BoxStreams(_Streams):
    """
    The box's side: encrypts requests (K1 stream), decrypts response bodies
    (K2 stream).
    """

    def encrypt(self, data: bytes) -> bytes:
        """@return: the ciphertext of the next request bytes."""
        return self._upstream.process(data)

    def decrypt(self, data: bytes) -> bytes:
        """@return: the plaintext of the next response body bytes."""
        return self._downstream.process(data)
