"""
Subscriber accounts, in SQLite or PostgreSQL (L{wtvserv.store}).

One account per SSID, up to C{max_users} users per account; user 0 is the
primary user (the subscriber). The store only ever sees password hashes
(L{wtvserv.passwords}); hashing is the caller's business, off the reactor.

Each SSID has a generation, carried in every ticket issued for it: deleting
or transferring the account, changing a password, removing a user or
logging out bumps it in the same transaction as the change, and a ticket of
an older generation no longer counts. Generations outlive accounts, so a
ticket of a deleted account never speaks for the next one of that SSID.

L{MIGRATIONS} brings an older database up to date when it is opened.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from zope.interface import implementer

from wtvserv.interfaces import IAccountStore
from wtvserv.store.database import openDatabase, transaction
from wtvserv.store.errors import IntegrityError
from wtvserv.store.migrations import Migrations
from wtvserv.usernames import DEFAULT_RULES, UsernameRules

ACCOUNT_DB_NAME = "accounts.sqlite3"

MIN_USERNAME_LENGTH = 3
MAX_USERNAME_LENGTH = 16
MAX_HUMAN_NAME_LENGTH = 32

_USERNAME_CHARACTERS = re.compile(r"[A-Za-z0-9_-]*")
_LIKE_SPECIAL = re.compile(r"[\\%_]")

# Each entry upgrades the schema by one version: entry i takes a file from
# version i to version i + 1. Append; never edit an entry once released.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE accounts (
               ssid TEXT PRIMARY KEY,
               created INTEGER NOT NULL)""",
        """CREATE TABLE users (
               ssid TEXT NOT NULL REFERENCES accounts (ssid),
               user_id INTEGER NOT NULL,
               username TEXT NOT NULL,
               username_key TEXT NOT NULL UNIQUE,
               human_name TEXT NOT NULL,
               password_hash TEXT,
               created INTEGER NOT NULL,
               PRIMARY KEY (ssid, user_id))""",
    ),
    (
        """CREATE TABLE generations (
               ssid TEXT PRIMARY KEY,
               generation INTEGER NOT NULL)""",
        # When the account first completed a login; NULL until it has.
        # Accounts older than this column are taken as confirmed.
        "ALTER TABLE accounts ADD COLUMN confirmed INTEGER",
        "UPDATE accounts SET confirmed = created",
        "CREATE INDEX accounts_unconfirmed ON accounts (created) WHERE confirmed IS NULL",
    ),
)
SCHEMA = Migrations("accounts", MIGRATIONS)


class AccountError(Exception):
    """
    A request the account store refuses.

    @ivar message: a sentence fit to show the user.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountExists(AccountError):
    """The SSID already has an account."""


class UsernameTaken(AccountError):
    """Another user has this username (compared case-insensitively)."""


class InvalidUsername(AccountError):
    """The username breaks the rules of L{check_username}."""


class InvalidName(AccountError):
    """The human name breaks the rules of L{check_human_name}."""


class TooManyUsers(AccountError):
    """The account already has its maximum number of users."""


class NoSuchAccount(AccountError):
    """The SSID has no account, or the account no such user."""


class StoreFull(AccountError):
    """The store holds the most users a sign-up may bring it to."""


@dataclass(frozen=True)
class User:
    """One user of an account; C{user_id} 0 is the subscriber."""

    user_id: int
    username: str
    human_name: str
    password_hash: str | None
    created: int

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


@dataclass(frozen=True)
class Account:
    """
    The account of one SSID, with its users ordered by C{user_id}.

    @ivar generation: see the module docstring; tickets of another are stale.
    @ivar confirmed: when the account first completed a login, or L{None}.
    """

    ssid: str
    created: int
    users: tuple[User, ...]
    generation: int = 0
    confirmed: int | None = None

    @property
    def primary(self) -> User:
        """The subscriber: user 0, which every account has."""
        return self.users[0]

    def user(self, user_id: int) -> User | None:
        for candidate in self.users:
            if candidate.user_id == user_id:
                return candidate
        return None


def check_username(name: str, rules: UsernameRules = DEFAULT_RULES) -> str:
    """
    @param name: a username as the user typed it.
    @param rules: the reserved names and bad words (the operator's lists,
        L{wtvserv.usernames}).
    @return: the name without surrounding blanks.
    @raise InvalidUsername: with a message saying what is wrong.
    """
    name = name.strip()
    if not name:
        raise InvalidUsername("Please choose a user name.")
    if len(name) < MIN_USERNAME_LENGTH:
        raise InvalidUsername(
            f"User names must be at least {MIN_USERNAME_LENGTH} characters"
            " long.")
    if len(name) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(
            f"User names can be at most {MAX_USERNAME_LENGTH} characters"
            " long.")
    if not _USERNAME_CHARACTERS.fullmatch(name):
        raise InvalidUsername(
            "User names can only contain letters, numbers, _ and -.")
    if not name[0].isalpha():
        raise InvalidUsername("User names must start with a letter.")
    problem = rules.problem(name)
    if problem is not None:
        raise InvalidUsername(problem)
    return name


def check_human_name(name: str) -> str:
    """
    @param name: a person's name as the user typed it.
    @return: the name without surrounding blanks.
    @raise InvalidName: with a message saying what is wrong.
    """
    name = name.strip()
    if not name:
        raise InvalidName("Please enter your name.")
    if len(name) > MAX_HUMAN_NAME_LENGTH:
        raise InvalidName(
            f"Names can be at most {MAX_HUMAN_NAME_LENGTH} characters long.")
    if not name.isprintable():
        raise InvalidName("Names can only contain printable characters.")
    return name


@implementer(IAccountStore)
class AccountStore:
    """
    L{IAccountStore} in a database of either backend, its methods
    synchronous: the server runs them on its store threads
    (L{wtvserv.store.threaded}), a command on its own.

    @param database: an open database (L{wtvserv.store.database}), or the
        path of a SQLite file, created (readable by its owner only) if
        missing; its folder must exist.
    @param max_users: the most users one account may have.
    @param clock: returns the current POSIX time.
    @param usernameRules: returns the rules new user names must follow now.
    @raise wtvserv.store.errors.UnknownSchemaVersion: the file has a newer schema than this code.
    """

    def __init__(self, database, max_users: int = 6,
                 clock: Callable[[], float] = time.time,
                 usernameRules: Callable[[], UsernameRules] = lambda: DEFAULT_RULES) -> None:
        self._max_users = max_users
        self._clock = clock
        self._rules = usernameRules
        self._conn = openDatabase(database, SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def accountFor(self, ssid: str) -> Account | None:
        # One statement, so one snapshot (a transfer or deletion cannot fall
        # between reading the account and its users) and one round trip.
        rows = self._conn.execute(
            "SELECT accounts.created, COALESCE(generations.generation, 0), accounts.confirmed,"
            " users.user_id, users.username, users.human_name, users.password_hash,"
            " users.created FROM accounts JOIN users ON users.ssid = accounts.ssid"
            " LEFT JOIN generations ON generations.ssid = accounts.ssid"
            " WHERE accounts.ssid = ? ORDER BY users.user_id", (ssid,)).fetchall()
        if not rows:
            return None
        created, generation, confirmed = rows[0][:3]
        return Account(ssid, created, tuple(User(*row[3:]) for row in rows), generation,
                       confirmed)

    def generationOf(self, ssid: str) -> int:
        """@return: the generation of C{ssid}, with or without an account (0 at first)."""
        row = self._conn.execute(
            "SELECT generation FROM generations WHERE ssid = ?", (ssid,)).fetchone()
        return 0 if row is None else row[0]

    def accountAndGeneration(self, ssid: str) -> tuple[Account | None, int]:
        # One statement whether or not there is an account: its rows, or
        # one row of NULLs but for the generation.
        rows = self._conn.execute(
            "SELECT accounts.created, COALESCE(generations.generation, 0), accounts.confirmed,"
            " users.user_id, users.username, users.human_name, users.password_hash,"
            " users.created FROM (SELECT CAST(? AS TEXT) AS ssid) AS asked"
            " LEFT JOIN accounts ON accounts.ssid = asked.ssid"
            " LEFT JOIN users ON users.ssid = accounts.ssid"
            " LEFT JOIN generations ON generations.ssid = asked.ssid"
            " ORDER BY users.user_id", (ssid,)).fetchall()
        created, generation, confirmed, userId = rows[0][:4]
        if userId is None:
            return None, generation
        return Account(ssid, created, tuple(User(*row[3:]) for row in rows), generation,
                       confirmed), generation

    def checkSignUp(self, username: str, maxUsers: int) -> None:
        """
        Whether a sign-up as C{username} would be taken now (one statement,
        before the slow work of hashing its password; L{createAccount}
        checks again).

        @raise UsernameTaken: a user has C{username} (compared as
            L{usernameTaken} compares).
        @raise StoreFull: the store holds C{maxUsers} users or more.
        """
        taken, users = self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username_key = ?),"
            " (SELECT COUNT(*) FROM users)", (_username_key(username.strip()),)).fetchone()
        if taken:
            raise _taken(username.strip())
        if users >= maxUsers:
            raise StoreFull("The store holds its maximum of users.")

    def createAccount(self, ssid: str, humanName: str, username: str,
                      passwordHash: str | None, maxUsers: int | None = None) -> Account:
        username = check_username(username, self._rules())
        humanName = check_human_name(humanName)
        now = self._now()
        with transaction(self._conn):
            try:
                self._conn.execute(
                    "INSERT INTO accounts (ssid, created) VALUES (?, ?)",
                    (ssid, now))
            except IntegrityError:
                raise AccountExists(
                    "This WebTV unit is already registered.") from None
            self._insert_user(ssid, 0, username, humanName, passwordHash, now)
            if maxUsers is not None and self.userCount() > maxUsers:
                raise StoreFull("The store holds its maximum of users.")
        primary = User(0, username, humanName, passwordHash, now)
        return Account(ssid, now, (primary,), self.generationOf(ssid))

    def addUser(self, ssid: str, humanName: str, username: str,
                passwordHash: str | None) -> User:
        username = check_username(username, self._rules())
        humanName = check_human_name(humanName)
        now = self._now()
        with transaction(self._conn):
            user_id = self._free_user_id(ssid)
            self._insert_user(ssid, user_id, username, humanName,
                              passwordHash, now)
        return User(user_id, username, humanName, passwordHash, now)

    def setPasswordHash(self, ssid: str, userId: int,
                        passwordHash: str | None) -> None:
        """
        @raise NoSuchAccount: C{ssid} has no user C{userId}.
        """
        with transaction(self._conn):
            changed = self._conn.execute(
                "UPDATE users SET password_hash = ?"
                " WHERE ssid = ? AND user_id = ?",
                (passwordHash, ssid, userId)).rowcount
            if not changed:
                raise NoSuchAccount("There is no such user on this account.")
            self._bump(ssid)

    def removeUser(self, ssid: str, userId: int) -> None:
        """
        Remove a further user (not the subscriber; delete the account for that).

        @raise NoSuchAccount: C{ssid} has no user C{userId}, or it is user 0.
        """
        with transaction(self._conn):
            removed = userId != 0 and self._conn.execute(
                "DELETE FROM users WHERE ssid = ? AND user_id = ?", (ssid, userId)).rowcount
            if not removed:
                raise NoSuchAccount("There is no such user on this account.")
            self._bump(ssid)

    def deleteAccount(self, ssid: str) -> None:
        """
        Delete the account of C{ssid} with all its users.

        @raise NoSuchAccount: C{ssid} has no account.
        """
        with transaction(self._conn):
            self._delete(ssid)

    def transferAccount(self, ssid: str, newSSID: str) -> None:
        """
        Move the account of C{ssid}, users and all, to the box C{newSSID}
        (a replaced box). Tickets of both SSIDs stop counting.

        @raise NoSuchAccount: C{ssid} has no account.
        @raise AccountExists: C{newSSID} has one already.
        """
        with transaction(self._conn):
            row = self._conn.execute("SELECT created, confirmed FROM accounts WHERE ssid = ?",
                                     (ssid,)).fetchone()
            if row is None:
                raise NoSuchAccount("This WebTV unit is not registered.")
            try:
                self._conn.execute("INSERT INTO accounts (ssid, created, confirmed)"
                                   " VALUES (?, ?, ?)", (newSSID, *row))
            except IntegrityError:
                raise AccountExists("The new WebTV unit is already registered.") from None
            self._conn.execute("UPDATE users SET ssid = ? WHERE ssid = ?", (newSSID, ssid))
            self._conn.execute("DELETE FROM accounts WHERE ssid = ?", (ssid,))
            self._bump(ssid)
            self._bump(newSSID)

    def bumpGeneration(self, ssid: str) -> None:
        """Make every ticket issued so far for C{ssid} stale (e.g. on logging out)."""
        with transaction(self._conn):
            self._bump(ssid)

    def confirm(self, ssid: str) -> None:
        """Note that the account of C{ssid} completed a login (once; later calls change nothing)."""
        with transaction(self._conn):
            self._conn.execute("UPDATE accounts SET confirmed = ?"
                               " WHERE ssid = ? AND confirmed IS NULL", (self._now(), ssid))

    def expireUnconfirmed(self, olderThan: float) -> list[str]:
        """
        Delete the accounts created more than C{olderThan} seconds ago that
        never completed a login. @return: their SSIDs.
        """
        with transaction(self._conn):
            expired = [row[0] for row in self._conn.execute(
                "SELECT ssid FROM accounts WHERE confirmed IS NULL AND created < ?",
                (self._clock() - olderThan,))]
            for ssid in expired:
                self._delete(ssid)
        return expired

    def _delete(self, ssid: str) -> None:
        """Delete an account inside the caller's transaction."""
        self._conn.execute("DELETE FROM users WHERE ssid = ?", (ssid,))
        if not self._conn.execute("DELETE FROM accounts WHERE ssid = ?", (ssid,)).rowcount:
            raise NoSuchAccount("This WebTV unit is not registered.")
        self._bump(ssid)

    def _bump(self, ssid: str) -> None:
        self._conn.execute(
            "INSERT INTO generations (ssid, generation) VALUES (?, 1)"
            " ON CONFLICT (ssid) DO UPDATE SET generation = generations.generation + 1", (ssid,))

    def usernameTaken(self, username: str) -> bool:
        """
        @return: whether any user has C{username}, compared
            case-insensitively after stripping blanks.
        """
        row = self._conn.execute(
            "SELECT 1 FROM users WHERE username_key = ?",
            (_username_key(username.strip()),)).fetchone()
        return row is not None

    def userCount(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]

    def listAccounts(self) -> list[Account]:
        """@return: every account with its users, oldest first."""
        accounts = self._conn.execute(
            "SELECT ssid, created, COALESCE(generation, 0), confirmed FROM accounts"
            " LEFT JOIN generations USING (ssid) ORDER BY created, ssid").fetchall()
        users: dict[str, list[User]] = {}
        for ssid, *user in self._conn.execute(
                "SELECT ssid, user_id, username, human_name, password_hash, created"
                " FROM users ORDER BY ssid, user_id"):
            users.setdefault(ssid, []).append(User(*user))
        return [Account(ssid, created, tuple(users.get(ssid, ())), generation, confirmed)
                for ssid, created, generation, confirmed in accounts]

    def accountsIgnoringCase(self, ssid: str) -> list[Account]:
        ssids = [row[0] for row in self._conn.execute(
            "SELECT ssid FROM accounts WHERE lower(ssid) = ? ORDER BY ssid", (ssid.lower(),))]
        return [account for account in map(self.accountFor, ssids) if account is not None]

    def searchAccounts(self, text: str, limit: int) -> tuple[list[Account], int]:
        # In SQL, not over listAccounts: the store's thread is the boxes' too.
        pattern = "%" + _LIKE_SPECIAL.sub(r"\\\g<0>", text.strip().lower()) + "%"
        matching = ("SELECT ssid FROM accounts WHERE lower(ssid) LIKE ? ESCAPE '\\'"
                    " UNION SELECT ssid FROM users WHERE username_key LIKE ? ESCAPE '\\'")
        total = self._conn.execute(f"SELECT COUNT(*) FROM ({matching}) AS found",
                                   (pattern, pattern)).fetchone()[0]
        ssids = [row[0] for row in self._conn.execute(
            f"SELECT ssid FROM accounts WHERE ssid IN ({matching}) ORDER BY created, ssid"
            " LIMIT ?", (pattern, pattern, max(0, limit)))]
        return [account for account in map(self.accountFor, ssids) if account is not None], total

    def _now(self) -> int:
        return int(self._clock())

    def _free_user_id(self, ssid: str) -> int:
        """
        @return: the lowest user id not in use on the account of C{ssid}.
        @raise NoSuchAccount: C{ssid} has no account.
        @raise TooManyUsers: the account is full.
        """
        if self._conn.execute("SELECT 1 FROM accounts WHERE ssid = ?",
                              (ssid,)).fetchone() is None:
            raise NoSuchAccount("This WebTV unit is not registered.")
        used = {row[0] for row in self._conn.execute(
            "SELECT user_id FROM users WHERE ssid = ?", (ssid,))}
        for user_id in range(self._max_users):
            if user_id not in used:
                return user_id
        raise TooManyUsers(
            f"This account already has {self._max_users} users, the most"
            " it can have.")

    def _insert_user(self, ssid: str, user_id: int, username: str,
                     human_name: str, password_hash: str | None,
                     created: int) -> None:
        try:
            self._conn.execute(
                "INSERT INTO users (ssid, user_id, username, username_key,"
                " human_name, password_hash, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ssid, user_id, username, _username_key(username), human_name,
                 password_hash, created))
        except IntegrityError:
            raise _taken(username) from None


def _taken(username: str) -> UsernameTaken:
    return UsernameTaken(f'The user name "{username}" is already taken. Please choose another.')


def _username_key(username: str) -> str:
    """@return: the form in which usernames must be unique."""
    return username.lower()
