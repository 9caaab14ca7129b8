"""
Who may use the console: the operator's password (a hash in the data
directory, set with C{wtvserv console set-password}), or, while none is
set, a one-time sign-in link; then a session, kept here with its CSRF
token and expiry.

Nothing here logs a password or a token.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from wtvserv.passwords import verify_password

PASSWORD_FILE = "console-password"
#: Where the one-time sign-in link is written (mode 0600) while no password is set.
LINK_FILE = "console-link.txt"
#: How long a one-time link can be used, in seconds.
LINK_LIFETIME = 24 * 3600.0
#: Sessions kept at once; beyond it the least recently used is closed.
MAX_SESSIONS = 100
#: The longest stored hash read back (a hash is about 100 characters).
_MAX_HASH = 1024


def passwordPath(dataDir: Path) -> Path:
    return dataDir / PASSWORD_FILE


def passwordIsSet(dataDir: Path) -> bool:
    return passwordPath(dataDir).is_file()


def passwordMatches(dataDir: Path, password: str) -> bool:
    """
    Whether C{password} is the console password. Slow (scrypt): call it
    on a worker thread. L{False} when none is set or the file is unreadable.
    """
    try:
        with passwordPath(dataDir).open(encoding="ascii") as stream:
            stored = stream.read(_MAX_HASH).strip()
    except (OSError, UnicodeDecodeError):
        return False
    return verify_password(password, stored)


def sameSecret(given: str | None, expected: str | None) -> bool:
    """Compare two tokens in constant time; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class OneTimeLink:
    """The token of the sign-in link: good for one sign-in, until it expires."""

    def __init__(self, clock, lifetime: float = LINK_LIFETIME) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._token: str | None = None
        self._expires = 0.0

    def issue(self) -> str:
        self._token = secrets.token_urlsafe(32)
        self._expires = self._clock.seconds() + self._lifetime
        return self._token

    def use(self, token: str) -> bool:
        """@return: whether C{token} is the live one; it is then used up."""
        if self._clock.seconds() >= self._expires or not sameSecret(token, self._token):
            return False
        self._token = None
        return True

    def revoke(self) -> None:
        self._token = None


@dataclass
class Session:
    """
    One signed-in browser.

    @ivar number: which sign-in of this process it is, for the audit log
        (the id itself is a secret and never logged).
    @ivar notice: the one line the next page shows, after a change.
    """

    id: str
    csrf: str
    address: str
    number: int
    expires: float
    notice: str | None = field(default=None)


class Sessions:
    """
    The open sessions: random ids, each expiring C{lifetime} seconds after
    its last use; at most C{capacity}, the least recently used closed first.
    """

    def __init__(self, clock, lifetime: float, capacity: int = MAX_SESSIONS) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self._capacity = capacity
        self._open: OrderedDict[str, Session] = OrderedDict()
        self._signIns = 0

    def __len__(self) -> int:
        return len(self._open)

    def open(self, address: str) -> Session:
        self._signIns += 1
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), address,
                          self._signIns, self._clock.seconds() + self.lifetime)
        self._open[session.id] = session
        while len(self._open) > self._capacity:
            self._open.popitem(last=False)
        return session

    def find(self, sessionId: str | None) -> Session | None:
        """@return: the live session of C{sessionId}, its life renewed; else L{None}."""
        session = self._open.get(sessionId or "")
        if session is None:
            return None
        now = self._clock.seconds()
        if now >= session.expires:
            del self._open[session.id]
            return None
        session.expires = now + self.lifetime
        self._open.move_to_end(session.id)
        return session

    def close(self, sessionId: str) -> None:
        self._open.pop(sessionId, None)
