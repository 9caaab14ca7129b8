"""
C{wtvserv switch}: turn maintenance on or off and open or close
registration on a running server, which applies the change within seconds:
the file in the data directory, or with PostgreSQL storage, the row every
host reads.

    wtvserv switch --data DIR maintenance on [--message "Back at six."]
    wtvserv switch --data DIR maintenance off
    wtvserv switch --data DIR registration closed
    wtvserv switch --data DIR show
"""

from __future__ import annotations

import argparse

from wtvserv.cli.common import addDataOptions, openStoresFor, settings
from wtvserv.operations import DatabaseSwitches, FileSwitches, setSwitch
from wtvserv.switches import DEFAULT_MESSAGE, SWITCHES, SWITCHES_FILE, Switches


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "switch", help="maintenance on/off, registration open/closed",
        description="Change a switch of the running server; it applies the change within "
                    "seconds, in every process sharing the data directory (with PostgreSQL "
                    "storage: the database).")
    addDataOptions(parser)
    names = parser.add_subparsers(dest="switch", required=True, metavar="SWITCH")
    names.add_parser("show", help="how every switch is set").set_defaults(run=_show)
    for name, (_, yes, no) in SWITCHES.items():
        switch = names.add_parser(name, help=f"{yes} or {no}")
        switch.add_argument("state", choices=(yes, no))
        if name == "maintenance":
            switch.add_argument("--message", help="what boxes are shown (default: "
                                f"{DEFAULT_MESSAGE!r})")
        switch.set_defaults(run=_set)


def _run(arguments: argparse.Namespace, action) -> int:
    """
    C{action(switches)} where the server reads them: the data directory's
    file, or with PostgreSQL storage the database's setting every host reads.
    """
    config = settings(arguments)
    if config.storageURL is None:
        action(FileSwitches(config.dataDir / SWITCHES_FILE))
        return 0
    stores = openStoresFor(config)
    try:
        action(DatabaseSwitches(stores.shared))
    finally:
        stores.close()
    return 0


def describe(switches: Switches) -> list[str]:
    """@return: one line per switch, as C{show} and C{wtvserv status} print them."""
    lines = [f"{name:<13} {switches.word(name)}" for name in SWITCHES]
    if switches.maintenance:
        lines.append(f"{'message':<13} {switches.message}")
    return lines


def _show(arguments: argparse.Namespace) -> int:
    return _run(arguments, lambda switches: print("\n".join(describe(switches.read()))))


def _set(arguments: argparse.Namespace) -> int:
    def change(switches) -> None:
        changed = setSwitch(switches, arguments.switch, arguments.state,
                            getattr(arguments, "message", None))
        print("\n".join(describe(changed)))
    return _run(arguments, change)
