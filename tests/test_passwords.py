"""
Tests for L{wtvserv.passwords}.
"""

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wtvserv.passwords import MAX_PASSWORD_LENGTH, hash_password, verify_password


def test_a_hash_describes_its_parameters():
    """A hash reads C{scrypt$16384$8$1$<16-byte salt>$<32-byte key>}."""
    scheme, n, r, p, salt, key = hash_password("hunter2").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(key)) == 32


def test_the_key_is_scrypt_of_the_password_and_salt():
    """The stored key is hashlib.scrypt of the UTF-8 password and salt."""
    _, _, _, _, salt, key = hash_password("pässword").split("$")
    expected = hashlib.scrypt("pässword".encode(), salt=base64.b64decode(salt),
                              n=2 ** 14, r=8, p=1, dklen=32)
    assert base64.b64decode(key) == expected


def test_the_right_password_verifies():
    stored = hash_password("hunter2")
    assert verify_password("hunter2", stored)


def test_a_wrong_password_does_not_verify():
    stored = hash_password("hunter2")
    assert not verify_password("hunter3", stored)
    assert not verify_password("Hunter2", stored)
    assert not verify_password("", stored)


def test_each_hash_has_its_own_salt():
    assert hash_password("same") != hash_password("same")


def test_other_parameters_in_the_stored_value_are_honoured():
    """A hash made with other cost parameters still verifies."""
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(b"secret", salt=salt, n=2 ** 10, r=4, p=2, dklen=24)
    stored = "$".join(["scrypt", "1024", "4", "2",
                       base64.b64encode(salt).decode(),
                       base64.b64encode(key).decode()])
    assert verify_password("secret", stored)
    assert not verify_password("secreT", stored)


def test_passwords_up_to_the_maximum_length_are_accepted():
    password = "x" * MAX_PASSWORD_LENGTH
    assert verify_password(password, hash_password(password))


def test_hashing_a_password_that_is_too_long_raises_value_error():
    with pytest.raises(ValueError):
        hash_password("x" * (MAX_PASSWORD_LENGTH + 1))


def test_verifying_a_password_that_is_too_long_is_false():
    stored = hash_password("x" * MAX_PASSWORD_LENGTH)
    assert not verify_password("x" * (MAX_PASSWORD_LENGTH + 1), stored)


@pytest.mark.parametrize("stored", [
    "",
    "scrypt",
    "plain-text-password",
    "bcrypt$16384$8$1$AAAA$AAAA",
    "scrypt$16384$8$1$AAAA",
    "scrypt$16384$8$1$AAAA$AAAA$AAAA",
    "scrypt$abc$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$-16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$1000$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$16384$0$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$1073741824$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$16384$8$99999$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$16384$8$1$not base64!$" + "A" * 44,
    "scrypt$16384$8$1$$" + "A" * 44,
    "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$QUFB",
    "scrypt$１６３８４$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$" + "A" * 44,
    "scrypt$16384$8$1$MDEyMzQ1Njc4OWFiY2RlZg==$ÄÄÄÄ",
])
def test_a_garbage_stored_value_is_false(stored):
    assert verify_password("password", stored) is False


def test_a_stored_value_that_is_not_a_string_is_false():
    assert verify_password("password", None) is False
    assert verify_password("password", b"scrypt$16384$8$1$AAAA$AAAA") is False


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=200))
def test_verify_never_raises(stored):
    """Whatever the stored value, verification answers True or False."""
    assert verify_password("password", stored) in (True, False)
