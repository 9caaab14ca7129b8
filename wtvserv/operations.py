"""
The operator's actions on accounts, bans and switches, in one place for
the commands (C{wtvserv accounts}, C{ban}, C{switch}) and the web console.

Each is synchronous: a command calls it directly, the server on its store
threads. A refusal is L{Refused}, whose message is the one line to show.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Callable

from wtvserv.accounts import Account, AccountError, User
from wtvserv.bans import BanEntryError, Bans, parseEntry
from wtvserv.cli.common import replaceFile
from wtvserv.cli.logs import escape_text
from wtvserv.ssid import SSIDPolicy
from wtvserv.switches import (
    DEFAULT_MESSAGE,
    SWITCHES,
    SWITCHES_SETTING,
    SwitchError,
    Switches,
    checkMessage,
    parseSwitches,
)

_SWITCHES_HEADER = ("# The operator's switches (wtvserv switch); a running server "
                    "re-reads this file.\n")


class Refused(Exception):
    """An action that cannot be done; the message is the one line to show."""


# Accounts

def findAccount(store, text: str) -> Account:
    """@return: the account of SSID C{text}, matched exactly or else ignoring case."""
    account = store.accountFor(text)
    if account is None:
        matches = store.accountsIgnoringCase(text)
        if len(matches) != 1:
            raise Refused(f"no account for {escape_text(text)}")
        account = matches[0]
    return account


def findUser(account: Account, number: int) -> User:
    user = account.user(number)
    if user is None:
        raise Refused(f"{account.ssid} has no user {number} (users: "
                      f"{', '.join(str(u.user_id) for u in account.users)})")
    return user


def change(method, *arguments):
    """Call a store method that makes one change; its refusal is one line."""
    try:
        return method(*arguments)
    except AccountError as refusal:
        raise Refused(refusal.message) from None
    except sqlite3.OperationalError as error:
        raise Refused(f"the account store is busy ({error}); try again") from None


def deleteAccount(store, account: Account) -> None:
    change(store.deleteAccount, account.ssid)


def transferAccount(store, config, account: Account, newSSID: str) -> None:
    """Move C{account} to the box C{newSSID}, one the server would accept."""
    policy = SSIDPolicy(Bans(), config.validateSSIDs, tuple(config.exemptSSIDPrefixes),
                        tuple(config.exemptSSIDs))
    if policy.refusal(newSSID) is not None:
        raise Refused(f"{escape_text(newSSID)} is not a serial number the "
                      "server accepts (16 hex digits with the right check byte, "
                      "unless exempt in [ssids])")
    change(store.transferAccount, account.ssid, newSSID)


def removeUser(store, account: Account, user: User) -> None:
    if user.user_id == 0:
        raise Refused("user 0 is the subscriber; delete the account instead")
    change(store.removeUser, account.ssid, user.user_id)


def setPasswordHash(store, account: Account, user: User, passwordHash: str | None) -> None:
    """Set (or, with L{None}, clear) the password of C{user}."""
    change(store.setPasswordHash, account.ssid, user.user_id, passwordHash)


# Bans

def banEntry(kind: str, value: str) -> tuple[str, str]:
    """@return: the entry in its canonical spelling. @raise Refused: it is not valid."""
    try:
        return parseEntry(kind, value)
    except BanEntryError as problem:
        raise Refused(str(problem)) from None


def banNote(text: str | None) -> str:
    """@return: a comment kept beside a ban, on one line."""
    return " ".join((text or "").split())


class FileBans:
    """
    The ban file of a SQLite deployment, replaced in one step at each
    change; comments and lines it cannot read are kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() \
                else []
        except OSError as error:
            raise Refused(f"cannot read {self.path}: {error}") from None

    def entries(self) -> list[tuple[str, str, str]]:
        """@return: C{(kind, value, note)} of every ban, in the file's order."""
        listed = []
        for line in self._lines():
            entry = _fileEntry(line)
            if entry is not None:
                listed.append((*entry, banNote(line.partition("#")[2])))
        return listed

    def add(self, entry: tuple[str, str], note: str) -> bool:
        """@return: whether it was added (L{False}: it was there already)."""
        lines = self._lines()
        if entry in map(_fileEntry, lines):
            return False
        self._write([*lines, f"{' '.join(entry)}{f'  # {note}' if note else ''}"])
        return True

    def remove(self, entry: tuple[str, str]) -> bool:
        """@return: whether it was there to remove."""
        lines = self._lines()
        if entry not in map(_fileEntry, lines):
            return False
        self._write([line for line in lines if _fileEntry(line) != entry])
        return True

    def _write(self, lines: list[str]) -> None:
        try:
            replaceFile(self.path, "".join(line + "\n" for line in lines))
        except OSError as error:
            raise Refused(f"cannot write {self.path}: {error}") from None


def _fileEntry(line: str) -> tuple[str, str] | None:
    kind, _, value = line.split("#", 1)[0].strip().partition(" ")
    try:
        return parseEntry(kind, value.strip())
    except BanEntryError:
        return None


class DatabaseBans:
    """The bans of a PostgreSQL deployment (L{wtvserv.store.shared}), which every host applies."""

    def __init__(self, shared) -> None:
        self.shared = shared

    def entries(self) -> list[tuple[str, str, str]]:
        return list(self.shared.bans())

    def add(self, entry: tuple[str, str], note: str) -> bool:
        return self.shared.addBan(*entry, note)

    def remove(self, entry: tuple[str, str]) -> bool:
        return self.shared.removeBan(*entry)


# Switches

def _parsed(text: str | None) -> Switches:
    return Switches() if text is None else parseSwitches(text)


def _text(switches: Switches) -> str:
    return "".join(line + "\n" for line in switches.lines())


class FileSwitches:
    """The switches file of a SQLite deployment's data directory, replaced in one step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Switches:
        try:
            return _parsed(self.path.read_text(encoding="utf-8") if self.path.exists() else None)
        except OSError as error:
            raise Refused(f"cannot read {self.path}: {error}") from None

    def change(self, change: Callable[[Switches], Switches]) -> Switches:
        try:
            switches = change(_parsed(self.path.read_text(encoding="utf-8")
                                      if self.path.exists() else None))
            replaceFile(self.path, _SWITCHES_HEADER + _text(switches))
        except OSError as error:
            raise Refused(f"cannot change {self.path}: {error}") from None
        return switches


class DatabaseSwitches:
    """
    The switches of a PostgreSQL deployment: a setting of the shared
    database, changed in one transaction, which every host reads.
    """

    def __init__(self, shared) -> None:
        self.shared = shared

    def read(self) -> Switches:
        return _parsed(self.shared.setting(SWITCHES_SETTING))

    def change(self, change: Callable[[Switches], Switches]) -> Switches:
        return _parsed(self.shared.changeSetting(SWITCHES_SETTING,
                                                 lambda text: _text(change(_parsed(text)))))


def setSwitch(switches, name: str, word: str, message: str | None = None) -> Switches:
    """
    Set switch C{name} to C{word} (C{"on"}, C{"closed"} ...) in C{switches}
    (L{FileSwitches} or L{DatabaseSwitches}); turning maintenance on
    without a C{message} shows the default one. @return: the switches now.
    """
    if name not in SWITCHES or word not in SWITCHES[name][1:]:
        raise Refused(f"{escape_text(name)} {escape_text(word)} is no switch setting")
    attribute, yes, _ = SWITCHES[name]
    changes: dict = {attribute: word == yes}
    if message is not None:
        try:
            changes["message"] = checkMessage(message)
        except SwitchError as problem:
            raise Refused(str(problem)) from None
    elif name == "maintenance" and word == yes:
        changes["message"] = DEFAULT_MESSAGE
    return switches.change(lambda current: replace(current, **changes))
