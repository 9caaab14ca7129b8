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

from wtvserv.bans import KINDS, BanEntryError, parseEntry
from wtvserv.cli.common import (CommandError, addDataOptions, openStoresFor, replaceFile,
                                settings)


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


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error}") from None


def _shared(arguments: argparse.Namespace):
    """The stores of a PostgreSQL deployment, whose bans every host applies; else L{None}."""
    if arguments.file:
        return None
    config = settings(arguments)
    return openStoresFor(config) if config.storageURL is not None else None


def _list(arguments: argparse.Namespace) -> int:
    stores = _shared(arguments)
    if stores is not None:
        try:
            for kind, value, note in stores.shared.bans():
                print(kind, value, *([f"# {note}"] if note else []))
        finally:
            stores.close()
        return 0
    for entry in _entries(_lines(_path(arguments))):
        print(*entry)
    return 0


def _asked(arguments: argparse.Namespace) -> tuple[str, str]:
    try:
        return parseEntry(arguments.kind, arguments.value)
    except BanEntryError as problem:
        raise CommandError(str(problem)) from None


def _add(arguments: argparse.Namespace) -> int:
    entry = _asked(arguments)
    stores = _shared(arguments)
    if stores is not None:
        try:
            added = stores.shared.addBan(*entry, " ".join((arguments.why or "").split()))
        finally:
            stores.close()
        print(f"banned {' '.join(entry)}" if added else f"{' '.join(entry)} is already banned")
        return 0
    path = _path(arguments)
    lines = _lines(path)
    if entry in _entries(lines):
        print(f"{' '.join(entry)} is already banned")
        return 0
    note = f"  # {' '.join(arguments.why.split())}" if arguments.why else ""
    _write(path, [*lines, f"{' '.join(entry)}{note}"])
    print(f"banned {' '.join(entry)}")
    return 0


def _remove(arguments: argparse.Namespace) -> int:
    entry = _asked(arguments)
    stores = _shared(arguments)
    if stores is not None:
        try:
            if not stores.shared.removeBan(*entry):
                raise CommandError(f"{' '.join(entry)} is not banned")
        finally:
            stores.close()
        print(f"unbanned {' '.join(entry)}")
        return 0
    path = _path(arguments)
    lines = _lines(path)
    if entry not in _entries(lines):
        raise CommandError(f"{' '.join(entry)} is not banned")
    _write(path, [line for line in lines if _entry(line) != entry])
    print(f"unbanned {' '.join(entry)}")
    return 0


def _write(path: Path, lines: list[str]) -> None:
    try:
        replaceFile(path, "".join(line + "\n" for line in lines))
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error}") from None


def _entry(line: str) -> tuple[str, str] | None:
    kind, _, value = line.split("#", 1)[0].strip().partition(" ")
    try:
        return parseEntry(kind, value.strip())
    except BanEntryError:
        return None


def _entries(lines: list[str]) -> list[tuple[str, str]]:
    return [entry for entry in map(_entry, lines) if entry is not None]
