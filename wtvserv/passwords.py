"""
Salted, memory-hard password hashes.

A hash is one self-describing string,
C{scrypt$<n>$<r>$<p>$<salt base64>$<key base64>}, so the cost parameters can
be raised later without invalidating stored hashes: L{verify_password} reads
them back from the stored value.

Hashing takes tens of milliseconds of CPU time; callers on the reactor thread
should run it in a thread (C{deferToThread}). Nothing here logs a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

MIN_PASSWORD_LENGTH = 4
MAX_PASSWORD_LENGTH = 64

SCHEME = "scrypt"
COST_N = 2 ** 14
BLOCK_SIZE_R = 8
PARALLELISM_P = 1
SALT_LENGTH = 16
KEY_LENGTH = 32

# Bounds on what a stored value may ask for, so a corrupt or hostile value
# cannot make verification use unbounded memory or time.
_MAX_N = 2 ** 20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 256 * 1024 * 1024
_KEY_LENGTHS = range(16, 65)


def hash_password(password: str) -> str:
    """
    @param password: the password as the user typed it.
    @return: a new salted hash, C{scrypt$n$r$p$salt$key}.
    @raise ValueError: the password is longer than L{MAX_PASSWORD_LENGTH}.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"passwords can be at most {MAX_PASSWORD_LENGTH} characters long")
    salt = os.urandom(SALT_LENGTH)
    key = _derive(password, salt, COST_N, BLOCK_SIZE_R, PARALLELISM_P,
                  KEY_LENGTH)
    return "$".join([SCHEME, str(COST_N), str(BLOCK_SIZE_R),
                     str(PARALLELISM_P), _encode(salt), _encode(key)])


def verify_password(password: str, stored: str) -> bool:
    """
    @param password: the password to check.
    @param stored: a value made by L{hash_password}.
    @return: whether C{password} matches. L{False} for a password longer than
        L{MAX_PASSWORD_LENGTH} or a stored value that cannot be parsed; never
        raises.
    """
    if not (isinstance(password, str) and isinstance(stored, str)):
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        parsed = _parse(stored)
        if parsed is None:
            return False
        n, r, p, salt, expected = parsed
        actual = _derive(password, salt, n, r, p, len(expected))
    except (TypeError, ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def _derive(password: str, salt: bytes, n: int, r: int, p: int,
            length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=_MAX_MEMORY, dklen=length)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    """
    @return: C{(n, r, p, salt, key)} from a stored hash, or L{None} when it
        is malformed or asks for parameters outside sane bounds.
    """
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    n, r, p = (_positive_int(part) for part in parts[1:4])
    salt, key = _decode(parts[4]), _decode(parts[5])
    if None in (n, r, p, salt, key):
        return None
    if not (1 < n <= _MAX_N and n & (n - 1) == 0):
        return None
    if r > _MAX_R or p > _MAX_P or not salt or len(key) not in _KEY_LENGTHS:
        return None
    return n, r, p, salt, key


def _positive_int(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    value = int(text)
    return value if value > 0 else None


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return None
