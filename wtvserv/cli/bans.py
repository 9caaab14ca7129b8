"""
C{wtvserv ban} (alias C{wtvserv-ban}): change the ban list a running server reads.

    wtvserv ban --data DIR list
    wtvserv ban --data DIR add address 203.0.113.7 [--why "..."]
    wtvserv ban --data DIR add address 198.51.100.0/24
    wtvserv ban --data DIR add ssid 8112345600B0026b
    wtvserv ban --data DIR remove ssid 8112345600B0026b

C{--file PATH} names the list itself, when the configuration moved it. The
file is replaced in one step (write, then rename), so the server never reads
half of it; comments and unknown lines are kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wtvserv.bans import KINDS
from wtvserv.cli.common import CommandError, addDataOptions, openStoresFor, settings
from wtvserv.operations import DatabaseBans, FileBans, banEntry, banNote


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "ban", help="ban or unban addresses and SSIDs",
        description="Ban or unban client addresses and box serial numbers. "
                    "A running server applies the change within seconds.")
    addDataOptions(parser)
    parser.add_argument("--file", metavar="PATH", help="the ban list itself")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every ban, one per line").set_defaults(run=_list)
    for name, help, run in (("add", "ban an address, a CIDR range or an SSID", _add),
                            ("remove", "lift a ban", _remove)):
        action = actions.add_parser(name, help=help)
        action.add_argument("kind", choices=KINDS)
        action.add_argument("value")
        if name == "add":
            action.add_argument("--why", help="a comment kept beside the entry")
        action.set_defaults(run=run)


def _path(arguments: argparse.Namespace) -> Path:
    if arguments.file:
        path = Path(arguments.file)
        if not path.parent.is_dir():
            raise CommandError(f"no folder {path.parent} for the ban list")
        return path
    config = settings(arguments)
    return config.dataDir / config.banFile


def _bans(arguments: argparse.Namespace):
    """
    The ban list to change: the file (C{--file}, or the data directory's),
    or in a PostgreSQL deployment the database's, whose bans every host
    applies; and the stores to close after, if any.
    """
    if not arguments.file:
        config = settings(arguments)
        if config.storageURL is not None:
            stores = openStoresFor(config)
            return DatabaseBans(stores.shared), stores
    return FileBans(_path(arguments)), None


def _run(arguments: argparse.Namespace, action) -> int:
    bans, stores = _bans(arguments)
    try:
        action(bans)
    finally:
        if stores is not None:
            stores.close()
    return 0


def _list(arguments: argparse.Namespace) -> int:
    def show(bans) -> None:
        for kind, value, note in bans.entries():
            # The file's comments are its own; the database's notes are listed.
            shown = [f"# {note}"] if note and isinstance(bans, DatabaseBans) else []
            print(kind, value, *shown)
    return _run(arguments, show)


def _add(arguments: argparse.Namespace) -> int:
    entry = banEntry(arguments.kind, arguments.value)

    def add(bans) -> None:
        added = bans.add(entry, banNote(arguments.why))
        print(f"banned {' '.join(entry)}" if added else f"{' '.join(entry)} is already banned")
    return _run(arguments, add)


def _remove(arguments: argparse.Namespace) -> int:
    entry = banEntry(arguments.kind, arguments.value)

    def remove(bans) -> None:
        if not bans.remove(entry):
            raise CommandError(f"{' '.join(entry)} is not banned")
        print(f"unbanned {' '.join(entry)}")
    return _run(arguments, remove)
