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
from dataclasses import replace
from contextlib import contextmanager
from typing import Callable

from wtvserv.cli.common import CommandError, addDataOptions, openStoresFor, replaceFile, settings
from wtvserv.switches import (
    DEFAULT_MESSAGE,
    SWITCHES,
    SWITCHES_FILE,
    SWITCHES_SETTING,
    SwitchError,
    Switches,
    checkMessage,
    parseSwitches,
)

_HEADER = "# The operator's switches (wtvserv switch); a running server re-reads this file.\n"


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


def _show(arguments: argparse.Namespace) -> int:
    config = settings(arguments)
    if config.storageURL is not None:
        with _sharedState(config) as shared:
            switches = _parsed(shared.setting(SWITCHES_SETTING))
    else:
        path = config.dataDir / SWITCHES_FILE
        try:
            switches = _parsed(path.read_text(encoding="utf-8") if path.exists() else None)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error}") from None
    print("\n".join(describe(switches)))
    return 0


def _change(arguments: argparse.Namespace, change: Callable[[Switches], Switches]) -> Switches:
    """
    Apply C{change} to the switches where the server reads them: in one
    transaction of the shared database, or by replacing the file in one
    step. @return: the switches now.
    """
    config = settings(arguments)
    if config.storageURL is not None:
        with _sharedState(config) as shared:
            return _parsed(shared.changeSetting(
                SWITCHES_SETTING, lambda text: _text(change(_parsed(text)))))
    path = config.dataDir / SWITCHES_FILE
    try:
        switches = change(_parsed(path.read_text(encoding="utf-8") if path.exists() else None))
        replaceFile(path, _HEADER + _text(switches))
    except OSError as error:
        raise CommandError(f"cannot change {path}: {error}") from None
    return switches


@contextmanager
def _sharedState(config):
    stores = openStoresFor(config)
    try:
        yield stores.shared
    finally:
        stores.close()


def _parsed(text: str | None) -> Switches:
    return Switches() if text is None else parseSwitches(text)


def _text(switches: Switches) -> str:
    return "".join(line + "\n" for line in switches.lines())


def describe(switches: Switches) -> list[str]:
    """@return: one line per switch, as C{show} and C{wtvserv status} print them."""
    lines = [f"{name:<13} {switches.word(name)}" for name in SWITCHES]
    if switches.maintenance:
        lines.append(f"{'message':<13} {switches.message}")
    return lines


def _set(arguments: argparse.Namespace) -> int:
    attribute, yes, _ = SWITCHES[arguments.switch]
    changes = {attribute: arguments.state == yes}
    if getattr(arguments, "message", None) is not None:
        try:
            changes["message"] = checkMessage(arguments.message)
        except SwitchError as problem:
            raise CommandError(str(problem)) from None
    elif arguments.switch == "maintenance" and arguments.state == yes:
        changes["message"] = DEFAULT_MESSAGE
    switches = _change(arguments, lambda switches: replace(switches, **changes))
    print("\n".join(describe(switches)))
    return 0
