"""What the storage backends raise, the same whichever backend is in use."""

import sqlite3


class UnknownSchemaVersion(Exception):
    """The database was written by a newer wtvserv than this one."""


class IntegrityError(sqlite3.IntegrityError):
    """
    A unique, primary-key or foreign-key constraint refused a write, on
    either backend. A subclass of C{sqlite3.IntegrityError} so that code
    written against the SQLite store alone keeps catching it.
    """


class StorageUnavailable(Exception):
    """The database cannot be reached or opened; the message says why."""


class StorageBusy(Exception):
    """Another transaction held what a statement needed for too long; try again."""
