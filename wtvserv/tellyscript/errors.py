"""The one error of the TellyScript tools."""

from __future__ import annotations


class ScriptError(Exception):
    """
    A script cannot be made or read. C{reason} says why; C{line}, when
    known, is the line of the text it was made from.
    """

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line
