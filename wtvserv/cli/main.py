"""
C{wtvserv}: one command for the operator, a subcommand per job, each
declared in its own module of this package (L{COMMANDS}).

The older names C{wtvserv-logs}, C{wtvserv-ban}, C{wtvserv-tellyscript} and
C{wtvserv-box} stay, as L{wtvserv.cli.aliases}.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from wtvserv import __version__
from wtvserv.cli import accounts, bans, box, console, db, logs, status, switches, tellyscript
from wtvserv.cli.common import CommandError, addDataOptions
from wtvserv.operations import Refused
from wtvserv.store.errors import StorageBusy, StorageUnavailable

COMMANDS = (accounts, switches, status, logs, bans, db, tellyscript, console, box)


def buildParser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wtvserv",
        description="Look after a wtvserv service: accounts, switches, status, "
                    "reports, bans, storage, TellyScripts, the web console, and a simulated "
                    "box to try it with. "
                    "The server itself runs with twistd wtvserv.")
    parser.add_argument("--version", action="version", version=f"wtvserv {__version__}")
    addDataOptions(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.addCommand(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    @param argv: the arguments after the program name (C{sys.argv[1:]}
        when L{None}).
    @return: the exit status: 0, 1 after a one-line message on stderr, or 2
        for a usage mistake (argparse's).
    """
    arguments = buildParser().parse_args(argv)
    # The pool's own warnings (each failed reconnection) would be more
    # lines for one problem; what it comes to is said once, below.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    try:
        return arguments.run(arguments)
    except (CommandError, Refused, StorageBusy, StorageUnavailable) as error:
        # The database may go away, or stay locked, after a command opened it.
        print(f"wtvserv: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wtvserv: interrupted", file=sys.stderr)
        return 130

