"""
C{wtvserv accounts}: list, show and repair subscriber accounts, safely while
the server runs (each change is one transaction of the account store).

    wtvserv accounts list
    wtvserv accounts show SSID
    wtvserv accounts delete SSID [--yes]
    wtvserv accounts transfer OLD NEW
    wtvserv accounts add-user SSID USERNAME [--name "Human Name"]
    wtvserv accounts remove-user SSID N
    wtvserv accounts set-password SSID N
    wtvserv accounts clear-password SSID N

A change that should end a box's session does: the store bumps the SSID's
generation in the same transaction, and the tickets the box holds stop
counting at its next request (deletion, transfer, password changes, user
removal). SSIDs are shown in full and found ignoring case.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime, timezone

from wtvserv import operations
from wtvserv.accounts import ACCOUNT_DB_NAME, Account
from wtvserv.cli.common import CommandError, addDataOptions, openStoresFor, settings
from wtvserv.cli.logs import escape_text
from wtvserv.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from wtvserv.usernames import UsernameLists
from wtvserv.watchedfile import WallClock


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "accounts", help="list, show and repair subscriber accounts",
        description="List, show and repair subscriber accounts; safe while the server runs.")
    addDataOptions(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, run, help: str, *arguments: str):
        command = actions.add_parser(name, help=help)
        for argument in arguments:
            command.add_argument(argument, type=int if argument == "N" else str)
        command.set_defaults(run=run)
        return command

    action("list", _list, "every account, one per line")
    action("show", _show, "one account and its users", "SSID")
    action("delete", _delete, "delete an account and all its users",
           "SSID").add_argument("--yes", action="store_true", help="do not ask first")
    action("transfer", _transfer, "move an account to a replacement box", "OLD", "NEW")
    action("add-user", _addUser, "add a user (no password until set-password)",
           "SSID", "USERNAME").add_argument("--name", help="the user's own name "
                                            "(default: the user name)")
    action("remove-user", _removeUser, "remove user N (not the subscriber, user 0)",
           "SSID", "N")
    action("set-password", _setPassword, "set user N's password (asked twice, or one "
           "line from a pipe)", "SSID", "N")
    action("clear-password", _clearPassword, "remove user N's password", "SSID", "N")


class _Accounts:
    """The account store of the data directory, for one command."""

    def __init__(self, arguments: argparse.Namespace) -> None:
        self.config = config = settings(arguments)
        database = config.dataDir / ACCOUNT_DB_NAME
        if config.storageURL is None and not database.is_file():
            raise CommandError(f"no account database at {database}")
        lists = UsernameLists(config.dataDir, WallClock())
        self.stores = openStoresFor(config, lists.current)
        self.store = self.stores.accounts

    def __enter__(self) -> _Accounts:
        return self

    def __exit__(self, *exc) -> None:
        self.stores.close()

    def account(self, text: str) -> Account:
        """@return: the account of SSID C{text}, matched exactly or else ignoring case."""
        return operations.findAccount(self.store, text)

    def user(self, account: Account, number: int):
        return operations.findUser(account, number)


def when(stamp: float | None) -> str:
    """A time as the operator reads it: UTC, to the second (C{-} for none)."""
    return "-" if stamp is None else \
        datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _users(account: Account) -> str:
    return ", ".join(f"{user.user_id}:{escape_text(user.username)}"
                     + ("*" if user.has_password else "") for user in account.users)


def _list(arguments: argparse.Namespace) -> int:
    with _Accounts(arguments) as accounts:
        listed = accounts.store.listAccounts()
    for account in listed:
        print(f"{account.ssid}  {when(account.created)}  {_users(account)}")
    if listed:
        print(f"({len(listed)} accounts; * has a password)", file=sys.stderr)
    return 0


def _show(arguments: argparse.Namespace) -> int:
    with _Accounts(arguments) as accounts:
        account = accounts.account(arguments.SSID)
    print(f"ssid          {account.ssid}")
    print(f"created       {when(account.created)}")
    print(f"first login   {when(account.confirmed) if account.confirmed else 'not yet'}")
    print(f"generation    {account.generation}")
    for user in account.users:
        print(f"user {user.user_id}        {escape_text(user.username)} "
              f"({escape_text(user.human_name)}), "
              f"{'password' if user.has_password else 'no password'}, since {when(user.created)}")
    return 0


def _delete(arguments: argparse.Namespace) -> int:
    with _Accounts(arguments) as accounts:
        account = accounts.account(arguments.SSID)
        if not arguments.yes and not _confirmed(
                f"Delete the account of {account.ssid} and its users {_users(account)}? [y/N] "):
            print("not deleted")
            return 1
        operations.deleteAccount(accounts.store, account)
    print(f"deleted the account of {account.ssid}")
    return 0


def _confirmed(question: str) -> bool:
    print(question, end="", flush=True)
    try:
        answer = input()
    except EOFError:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


def _transfer(arguments: argparse.Namespace) -> int:
    with _Accounts(arguments) as accounts:
        account = accounts.account(arguments.OLD)
        operations.transferAccount(accounts.store, accounts.config, account, arguments.NEW)
    print(f"moved the account of {account.ssid} to {arguments.NEW}")
    return 0


def _addUser(arguments: argparse.Namespace) -> int:
    with _Accounts(arguments) as accounts:
        account = accounts.account(arguments.SSID)
        user = operations.change(accounts.store.addUser, account.ssid,
                                 arguments.name or arguments.USERNAME, arguments.USERNAME, None)
    print(f"added user {user.user_id}, {user.username}, to {account.ssid} (no password)")
    return 0


def _changeUser(arguments: argparse.Namespace, done: str, change) -> int:
    """Make C{change(accounts, account, user)} to user N of the SSID, then say what was C{done}."""
    with _Accounts(arguments) as accounts:
        account = accounts.account(arguments.SSID)
        user = accounts.user(account, arguments.N)
        change(accounts, account, user)
    print(f"{done} user {user.user_id}, {user.username}, of {account.ssid}")
    return 0


def _removeUser(arguments: argparse.Namespace) -> int:
    def remove(accounts: _Accounts, account: Account, user) -> None:
        operations.removeUser(accounts.store, account, user)
    return _changeUser(arguments, "removed", remove)


def _setPassword(arguments: argparse.Namespace) -> int:
    def setPassword(accounts: _Accounts, account: Account, user) -> None:
        password = newPassword(user.username)
        operations.setPasswordHash(accounts.store, account, user, hash_password(password))
    return _changeUser(arguments, "set the password of", setPassword)


def _clearPassword(arguments: argparse.Namespace) -> int:
    def clearPassword(accounts: _Accounts, account: Account, user) -> None:
        operations.setPasswordHash(accounts.store, account, user, None)
    return _changeUser(arguments, "cleared the password of", clearPassword)


def newPassword(whose: str, shortest: int = MIN_PASSWORD_LENGTH) -> str:
    """The new password of C{whose}: typed twice at a terminal, or one line from a pipe."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {whose}: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ; nothing changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not shortest <= len(password) <= MAX_PASSWORD_LENGTH:
        raise CommandError(f"a password has {shortest} to {MAX_PASSWORD_LENGTH} "
                           "characters; nothing changed")
    return password
