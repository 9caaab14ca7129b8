"""
C{wtvserv console}: look after the web console of a running server.

    wtvserv console set-password [--data DIR | --config FILE]

The password is asked twice at a terminal, or read as one line from a
pipe (C{echo pw | wtvserv console set-password}); only its hash is kept,
in C{console-password} (mode 0600) in the data directory. The server reads
it at each sign-in, so it applies at once, and a one-time sign-in link
still unused stops working.
"""

from __future__ import annotations

import argparse

from wtvserv.cli.accounts import newPassword
from wtvserv.cli.common import CommandError, addDataOptions, replaceFile, settings
from wtvserv.console.access import LINK_FILE, passwordPath
from wtvserv.passwords import hash_password

#: A console password is longer than a box user's: it opens every account.
SHORTEST = 8


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "console", help="the web console: set its password",
        description="Look after the operator's web console of the server.")
    addDataOptions(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    setting = actions.add_parser("set-password", help="set the console's password (asked "
                                 "twice, or one line from a pipe)")
    addDataOptions(setting)
    setting.set_defaults(run=_setPassword)


def _setPassword(arguments: argparse.Namespace) -> int:
    dataDir = settings(arguments).dataDir
    password = newPassword("the console", SHORTEST)
    try:
        replaceFile(passwordPath(dataDir), hash_password(password) + "\n", mode=0o600)
    except OSError as error:
        raise CommandError(f"cannot write {passwordPath(dataDir)}: {error}") from None
    (dataDir / LINK_FILE).unlink(missing_ok=True)
    print(f"set the console password ({passwordPath(dataDir)})")
    return 0
