"""
Our C{wtv-ticket}: an AES-256-GCM blob only this server's secret can make,
read or alter.

Wire form (base64, standard alphabet, padded)::

    version (1, = 2) || nonce (12) || ciphertext || tag (16)

The version byte is the associated data. The plaintext is::

    issued (u32) || expires (u32) || generation (u32)
    || user_id (u8, 255 = none yet) || flags (u8, bit 0 = password validated)
    || key1 (16) || key2 (16) || des_key (8) || SSID (ASCII, 1..32)

all big-endian. C{generation} is the SSID's account generation when the
ticket was issued (L{wtvserv.accounts}): a ticket of an older one no longer
counts. Version 1 (without it) is refused as damaged, so a box holding one
logs in again. The AES key is C{HMAC-SHA256(secret, b"wtv-ticket v1")}, so
the raw secret is never used as a key directly. A ticket is about 132 base64
characters for a 16-digit SSID, at most 156.
"""

from __future__ import annotations

import binascii
import hashlib
from functools import partial
import hmac
import os
import secrets
import stat
import struct
from base64 import b64decode, b64encode
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from zope.interface import implementer

from wtvserv.interfaces import ITicketAuthority
from wtvserv.ssid import is_well_formed

VERSION = 2
_VERSION_BYTE = bytes([VERSION])
_NONCE_LENGTH = 12
_TAG_LENGTH = 16
_HEADER = struct.Struct(">IIIBB16s16s8s")
_NO_USER = 255
_PASSWORD_OK = 0x01

#: Texts longer than this are refused before any decoding.
MAX_TICKET_TEXT = 1024
SECRET_LENGTH = 32
SECRET_FILE_NAME = "ticket-secret"


class Clock(Protocol):
    """Anything with C{seconds()}, e.g. the reactor or a test clock."""

    def seconds(self) -> float: ...


class TicketError(Exception):
    """
    A ticket was refused.

    @ivar message: a sentence fit to show the user.
    """

    message = "Your login could not be verified. Please connect again."

    def __init__(self, message: str | None = None):
        if message is not None:
            self.message = message
        super().__init__(self.message)


class MalformedTicket(TicketError):
    """The text is not a ticket of ours at all."""

    message = "Your login ticket is damaged. Please connect again."


class ForgedTicket(TicketError):
    """The ticket fails authentication: forged, altered or from another server."""

    message = "Your login ticket is not valid. Please connect again."


class ExpiredTicket(TicketError):
    """
    The ticket was genuine but is too old.

    @ivar ticket: its authentic contents: the box's keys still encrypt its
        connection, but the ticket no longer proves a login.
    """

    message = "Your login has expired. Please connect again."

    def __init__(self, message: str | None = None, ticket: Ticket | None = None):
        super().__init__(message)
        self.ticket = ticket


class WrongSSIDTicket(TicketError):
    """The ticket is genuine but was issued to another box."""

    message = "Your login ticket belongs to another box. Please connect again."


@dataclass(frozen=True)
class Ticket:
    """
    What a ticket carries. Keys are left out of the C{repr}.

    @ivar user_id: the chosen user (0 = primary), or L{None} before one is.
    @ivar password_ok: whether that user's password was checked.
    @ivar issued: when it was issued, in seconds since the epoch.
    @ivar expires: when it stops being accepted, likewise.
    @ivar generation: the SSID's account generation it was issued under.
    """

    ssid: str
    key1: bytes = field(repr=False)
    key2: bytes = field(repr=False)
    des_key: bytes = field(repr=False)
    user_id: int | None = None
    password_ok: bool = False
    issued: int = 0
    expires: int = 0
    generation: int = 0


def _check_ticket(ticket: Ticket) -> None:
    """@raise ValueError: when C{ticket} cannot be encoded."""
    if not is_well_formed(ticket.ssid):
        raise ValueError("the SSID must be 1 to 32 ASCII letters or digits")
    if (len(ticket.key1), len(ticket.key2), len(ticket.des_key)) != (16, 16, 8):
        raise ValueError("key1 and key2 are 16 bytes, des_key 8")
    if ticket.user_id is not None and not 0 <= ticket.user_id < _NO_USER:
        raise ValueError(f"user_id must be 0..{_NO_USER - 1} or None")
    if not 0 <= ticket.generation < 2 ** 32:
        raise ValueError("generation must fit in 32 bits")


def _pack(ticket: Ticket) -> bytes:
    _check_ticket(ticket)
    user = _NO_USER if ticket.user_id is None else ticket.user_id
    flags = _PASSWORD_OK if ticket.password_ok else 0
    header = _HEADER.pack(ticket.issued, ticket.expires, ticket.generation, user, flags,
                          ticket.key1, ticket.key2, ticket.des_key)
    return header + ticket.ssid.encode("ascii")


def _unpack(plaintext: bytes) -> Ticket:
    """@raise MalformedTicket: when authentic bytes do not parse (a bug)."""
    if len(plaintext) <= _HEADER.size:
        raise MalformedTicket()
    issued, expires, generation, user, flags, key1, key2, des_key = _HEADER.unpack_from(
        plaintext)
    ssid = plaintext[_HEADER.size:].decode("ascii", errors="replace")
    if not is_well_formed(ssid):
        raise MalformedTicket()
    return Ticket(ssid=ssid, key1=key1, key2=key2, des_key=des_key,
                  user_id=None if user == _NO_USER else user,
                  password_ok=bool(flags & _PASSWORD_OK),
                  issued=issued, expires=expires, generation=generation)


_FIELDS = frozenset(field.name for field in fields(Ticket))


def changed(ticket: Ticket, **changes) -> Ticket:
    """
    C{dataclasses.replace(ticket, **changes)} at a fraction of its cost
    (a login seals two tickets and settles one): a frozen dataclass's
    C{__init__} sets each field through C{object.__setattr__}, and
    L{replace} adds a walk over the fields. A subclass, which may check
    more, and a name that is no field (an error) go through L{replace}.
    """
    if type(ticket) is not Ticket or not changes.keys() <= _FIELDS:
        return replace(ticket, **changes)
    copy = object.__new__(Ticket)
    copy.__dict__.update(ticket.__dict__, **changes)
    return copy


def _decode_text(text: object) -> bytes:
    """
    @return: the bytes of a ticket's canonical base64 text.
    @raise MalformedTicket: for anything else (too long, not base64, not in
        canonical form, too short to be a ticket, unknown version).
    """
    if not isinstance(text, str) or len(text) > MAX_TICKET_TEXT:
        raise MalformedTicket()
    try:
        raw = b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedTicket() from None
    # Non-canonical spellings (spare low bits set) would decode to the same
    # bytes; refusing them makes every altered character count.
    if b64encode(raw).decode("ascii") != text:
        raise MalformedTicket()
    if len(raw) < 1 + _NONCE_LENGTH + _HEADER.size + 1 + _TAG_LENGTH:
        raise MalformedTicket()
    if raw[:1] != _VERSION_BYTE:
        raise MalformedTicket()
    return raw


@implementer(ITicketAuthority)
class TicketAuthority:
    """
    Issues and verifies L{Ticket}s with a server secret.

    Every process sharing the secret can verify the others' tickets.
    """

    def __init__(self, secret: bytes, clock: Clock, lifetime: float = 86400,
                 random: Callable[[int], bytes] = os.urandom):
        """
        @param secret: at least 32 secret bytes, e.g. from
            L{load_or_create_secret}.
        @param clock: gives the current time for stamping and expiry.
        @param lifetime: seconds a ticket stays valid.
        @param random: source of nonces.
        """
        if len(secret) < SECRET_LENGTH:
            raise ValueError(f"the ticket secret must be at least "
                             f"{SECRET_LENGTH} bytes")
        # One AEAD object for the authority's life: building one per ticket
        # was a fifth of the server's CPU per login under load.
        self._aead = AESGCM(self._derive(secret, b"wtv-ticket v1"))
        self.derivedKey = partial(self._derive, secret)
        self._clock = clock
        self._lifetime = lifetime
        self._random = random

    @staticmethod
    def _derive(secret: bytes, purpose: bytes) -> bytes:
        return hmac.new(secret, purpose, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"<TicketAuthority lifetime={self._lifetime}>"

    def issue(self, ticket: Ticket) -> str:
        """
        @return: the C{wtv-ticket} text for C{ticket}, stamped with the
            current time and an expiry C{lifetime} seconds later.
        @raise ValueError: when C{ticket} holds values that cannot be encoded.
        """
        return self.seal(ticket)[0]

    def seal(self, ticket: Ticket) -> tuple[str, Ticket]:
        """@return: the text L{issue} gives, and the ticket as stamped."""
        issued = int(self._clock.seconds())
        stamped = changed(ticket, issued=issued, expires=issued + int(self._lifetime))
        nonce = self._random(_NONCE_LENGTH)
        sealed = self._aead.encrypt(nonce, _pack(stamped), _VERSION_BYTE)
        return b64encode(_VERSION_BYTE + nonce + sealed).decode("ascii"), stamped

    def verify(self, text: str, ssid: str) -> Ticket:
        """
        @return: the contents of ticket C{text} presented by box C{ssid}.
        @raise TicketError: a L{MalformedTicket}, L{ForgedTicket},
            L{WrongSSIDTicket} or L{ExpiredTicket}.
        """
        ticket = _unpack(self._open(_decode_text(text)))
        if ticket.ssid != ssid:
            raise WrongSSIDTicket()
        if self.expired(ticket):
            raise ExpiredTicket(ticket=ticket)
        return ticket

    def expired(self, ticket: Ticket) -> bool:
        """@return: whether C{ticket} is past its expiry now."""
        return self._clock.seconds() >= ticket.expires

    def needsRenewal(self, ticket: Ticket) -> bool:
        """@return: whether C{ticket} is past half its life now."""
        return 2 * self._clock.seconds() >= ticket.issued + ticket.expires

    def _open(self, raw: bytes) -> bytes:
        """
        @return: the plaintext of authentic ticket bytes.
        @raise ForgedTicket: when authentication fails.
        """
        try:
            return self._aead.decrypt(raw[1:1 + _NONCE_LENGTH], raw[1 + _NONCE_LENGTH:],
                                      _VERSION_BYTE)
        except InvalidTag:
            raise ForgedTicket() from None


def load_or_create_secret(data_dir: Path) -> bytes:
    """
    Read the ticket secret from C{data_dir/ticket-secret}, creating the
    directory (mode 0700) and the file (32 random bytes, mode 0600) when
    missing.

    The file appears complete or not at all: it is written under a temporary
    name and hard-linked into place, so concurrent processes agree on one
    secret.

    An existing file readable or writable by group or others is refused, not
    silently tightened: the secret may already have leaked and only the
    operator can decide to replace it.

    @raise PermissionError: when the file has group or other permissions.
    @raise ValueError: when the file does not hold exactly 32 bytes.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE_NAME
    if not path.exists():
        _create_secret_file(path)
    return _read_secret_file(path)


def _create_secret_file(path: Path) -> None:
    """Create C{path} with a fresh secret unless another process wins."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(SECRET_LENGTH))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink()


def _read_secret_file(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise PermissionError(
                f"{path} has mode {mode:04o}; it must be readable by its owner "
                f"only (chmod 600), and should be replaced if others could "
                f"have read it")
        secret = handle.read(SECRET_LENGTH + 1)
    if len(secret) != SECRET_LENGTH:
        raise ValueError(f"{path} must hold exactly {SECRET_LENGTH} bytes")
    return secret
