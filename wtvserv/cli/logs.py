"""
C{wtvserv logs} (alias C{wtvserv-logs}): read what boxes reported through C{wtv-log}.

    wtvserv logs --data DIR list [--ssid SSID] [--limit N]
    wtvserv logs --data DIR show ID

Everything a box sent is printed with non-printable characters escaped, so a
report cannot play tricks on the operator's terminal.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from wtvserv.cli.common import CommandError, addDataOptions, openStoresFor, settings
from wtvserv.logstore import LOG_DB_NAME, LogEntry
from wtvserv.store.stores import Stores

HEX_DUMP_WIDTH = 16
_TEXT_WHITESPACE = frozenset(b"\t\n\r")


def addCommand(commands) -> None:
    parser = commands.add_parser("logs", help="read what boxes reported",
                                 description="Read what boxes reported through wtv-log.")
    addDataOptions(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one line per report, newest first")
    listing.add_argument("--ssid", help="only the reports of this SSID")
    listing.add_argument("--limit", type=int, default=100,
                         help="at most this many reports (default 100)")
    listing.set_defaults(run=_list)
    showing = actions.add_parser("show", help="one report, fields and body")
    showing.add_argument("id", type=int, metavar="ID")
    showing.set_defaults(run=_show)


def _stores(arguments: argparse.Namespace) -> Stores:
    """The server's stores: its SQLite files, or the PostgreSQL of C{[storage] url}."""
    config = settings(arguments)
    database = config.dataDir / LOG_DB_NAME
    if config.storageURL is None and not database.is_file():
        raise CommandError(f"no log database at {database}")
    return openStoresFor(config)


def _list(arguments: argparse.Namespace) -> int:
    stores = _stores(arguments)
    try:
        for entry in stores.logs.list(ssid=arguments.ssid, limit=arguments.limit):
            print(summary_line(entry))
    finally:
        stores.close()
    return 0


def _show(arguments: argparse.Namespace) -> int:
    stores = _stores(arguments)
    try:
        entry = stores.logs.get(arguments.id)
    finally:
        stores.close()
    if entry is None:
        raise CommandError(f"no report with id {arguments.id}")
    print(summary_line(entry))
    for name, value in entry.fields.items():
        print(f"{escape_text(name)}={escape_text(value)}")
    print()
    print(render_body(entry.body), end="")
    return 0


def summary_line(entry: LogEntry) -> str:
    """
    @return: id, UTC time, SSID, kind and size of a report, on one line, and
        the sending address when it was not the SSID's ticket holder.
    """
    when = datetime.fromtimestamp(entry.time, timezone.utc)
    size = f"{entry.length} bytes"
    if entry.truncated:
        size += " (truncated)"
    sender = "" if entry.sender is None else f"  (unverified, from {escape_text(entry.sender)})"
    return (f"{entry.id}  {when:%Y-%m-%d %H:%M:%S}Z  "
            f"{escape_text(entry.ssid)}  {entry.kind}  {size}{sender}")


def escape_text(text: str) -> str:
    """@return: C{text} with each non-printable character backslash-escaped."""
    return "".join(character if character.isprintable()
                   else character.encode("unicode_escape").decode("ascii")
                   for character in text)


def render_body(body: bytes) -> str:
    """
    @return: C{body} as text with non-printable bytes shown as C{\\xNN} when
        it looks like text, else as a hex dump; ends with a newline unless
        empty.
    """
    if not body:
        return ""
    rendered = escape_bytes(body) if looks_like_text(body) else hex_dump(body)
    return rendered if rendered.endswith("\n") else rendered + "\n"


def looks_like_text(body: bytes) -> bool:
    """
    @return: whether C{body} has no NUL byte and at least nine bytes in ten
        are printable ASCII or tab, line feed and carriage return.
    """
    if b"\0" in body:
        return False
    texty = sum(1 for byte in body
                if 0x20 <= byte < 0x7F or byte in _TEXT_WHITESPACE)
    return texty * 10 >= len(body) * 9


def escape_bytes(body: bytes) -> str:
    """
    @return: C{body} with printable ASCII, tabs and line ends kept (CR LF
        becomes LF) and every other byte shown as C{\\xNN}.
    """
    text = body.replace(b"\r\n", b"\n")
    return "".join(chr(byte) if 0x20 <= byte < 0x7F or byte in b"\t\n"
                   else f"\\x{byte:02x}" for byte in text)


def hex_dump(body: bytes) -> str:
    """@return: lines of offset, 16 bytes in hex, and those bytes as ASCII."""
    lines = []
    for offset in range(0, len(body), HEX_DUMP_WIDTH):
        chunk = body[offset:offset + HEX_DUMP_WIDTH]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        ascii_part = "".join(chr(byte) if 0x20 <= byte < 0x7F else "."
                             for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  |{ascii_part}|\n")
    return "".join(lines)

