"""
C{wtvserv db}: the schema and the backend of a deployment's storage.

    wtvserv db [--config FILE] [--data DIR] status
    wtvserv db [--config FILE] [--data DIR] migrate
    wtvserv db --config FILE copy --from DIR

C{--config} and C{--data} name the storage as C{twistd wtvserv} would:
C{[storage] url} for PostgreSQL, else the SQLite files of the data
directory. C{status} exits 1 when migrations are waiting. C{copy} moves a
SQLite deployment (the data directory C{--from}) into the configured
PostgreSQL database, row for row, in one transaction per table group, and
only into empty tables.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from wtvserv.bans import parseBanEntries
from wtvserv.cli.common import CommandError, addDataOptions, settings
from wtvserv.config import Config
from wtvserv.store.errors import StorageUnavailable, UnknownSchemaVersion
from wtvserv.store.shared import SCHEMA as SHARED_SCHEMA, TICKET_SECRET, SharedState
from wtvserv.store.stores import (POSTGRESQL_SCHEMAS, SCHEMAS, SQLITE_FILES, describe,
                                   openDatabases)
from wtvserv.tickets import SECRET_FILE_NAME, load_or_create_secret


def addCommand(commands) -> None:
    parser = commands.add_parser("db", help="storage schemas, and moving SQLite to PostgreSQL",
                                 description="The schema and the backend of the storage.")
    addDataOptions(parser)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="each table group's schema version").set_defaults(
        run=_status)
    actions.add_parser("migrate", help="bring every schema up to date").set_defaults(
        run=_migrate)
    copying = actions.add_parser("copy", help="copy a SQLite data directory into PostgreSQL")
    copying.add_argument("--from", dest="source", required=True, metavar="DIR",
                         help="the data directory of the SQLite deployment")
    copying.set_defaults(run=_copy)


def _open(config: Config, migrate: bool = True):
    try:
        return openDatabases(config, migrate)
    except (StorageUnavailable, UnknownSchemaVersion, sqlite3.Error) as error:
        raise CommandError(str(error)) from None


def _status(arguments: argparse.Namespace) -> int:
    config = settings(arguments)
    if config.storageURL is None and not all(
            (Path(config.dataDir) / name).is_file() for name in SQLITE_FILES.values()):
        raise CommandError(f"no SQLite databases in {config.dataDir} (wrong --data?)")
    databases = _open(config, migrate=False)
    pending = 0
    try:
        print(describe(config))
        for schema in SCHEMAS if config.storageURL is None else POSTGRESQL_SCHEMAS:
            version = databases.byComponent[schema.component].schemaVersion()
            known = len(schema.steps)
            pending += max(0, known - version)
            state = ("up to date" if version == known else
                     f"{known - version} migration(s) to run" if version < known else
                     "newer than this wtvserv")
            print(f"{schema.component}: version {version} of {known}, {state}")
    finally:
        databases.close()
    return 1 if pending else 0


def _migrate(arguments: argparse.Namespace) -> int:
    _open(settings(arguments)).close()
    return _status(arguments)


def _copy(arguments: argparse.Namespace) -> int:
    config = settings(arguments)
    if config.storageURL is None:
        raise CommandError("copy needs [storage] url in --config: the PostgreSQL to copy into")
    source = Path(arguments.source)
    for name in SQLITE_FILES.values():
        if not (source / name).is_file():
            raise CommandError(f"no {name} in {source}")
    sources = _open(Config(dataDir=source))       # brought up to this wtvserv's schema
    targets = _open(config)
    try:
        for schema in SCHEMAS:
            counts = copyTables(sources.byComponent[schema.component],
                                targets.byComponent[schema.component])
            print(f"{schema.component}: " + ", ".join(f"{n} {table}" for table, n in counts))
        _copyShared(source, SharedState(targets.byComponent[SHARED_SCHEMA.component]))
    finally:
        sources.close()
        targets.close()
    return 0


def _copyShared(source: Path, shared: SharedState) -> None:
    """The ticket secret (so boxes' tickets still count) and the ban file."""
    if (source / SECRET_FILE_NAME).is_file():
        secret = load_or_create_secret(source)
        if shared.secret(TICKET_SECRET, lambda: secret) == secret:
            print("ticket secret: copied")
        else:
            print("ticket secret: the database has its own, kept; boxes log in again")
    bans = source / Config.banFile
    entries = parseBanEntries(bans.read_text(encoding="utf-8", errors="replace"),
                              str(bans)) if bans.is_file() else []
    added = sum(shared.addBan(kind, value) for kind, value in entries)
    print(f"bans: {added} copied")


def copyTables(source, target) -> list[tuple[str, int]]:
    """
    Copy every table of one SQLite table group into the (empty) same tables
    of a PostgreSQL one, in one transaction, ids included; identity counters
    continue after the highest id SQLite ever gave, so no id is reused.

    @return: C{(table, rows)} in the order copied (the order the tables
        were created in, so references come after what they refer to).
    @raise CommandError: a target table already holds rows.
    """
    tables = [row[0] for row in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    counts = []
    with target.transaction():
        for table in tables:
            if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                raise CommandError(f"the database's {table} table is not empty; "
                                  "copy into an empty database")
            rows = source.execute(f"SELECT * FROM {table}")
            columns = [column[0] for column in rows.description]
            insert = (f"INSERT INTO {table} ({', '.join(columns)})"
                      f" VALUES ({', '.join('?' for _ in columns)})")
            copied = 0
            for row in rows:
                target.execute(insert, row)
                copied += 1
            _continueIdentity(source, target, table)
            counts.append((table, copied))
    return counts


def _continueIdentity(source, target, table: str) -> None:
    identities = [row[0] for row in target.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = ? AND is_identity = 'YES'", (table,))]
    for column in identities:
        highest = source.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0] or 0
        sequence = source.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                                  (table,)).fetchone()
        highest = max(highest, sequence[0] if sequence else 0)
        if highest:
            target.execute("SELECT setval(pg_get_serial_sequence(?, ?), ?)",
                           (table, column, highest))
