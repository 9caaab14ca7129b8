"""
Which user names are refused beyond the format rules of
L{wtvserv.accounts.check_username}: reserved names (the whole name, any
case) and bad words (anywhere in the name, any case, C{_} and C{-} ignored).

Both lists are files in the data directory, C{reserved-usernames.txt} and
C{bad-words.txt}, one word per line with C{#} comments. The server copies
wtvserv's defaults (C{wtvserv/defaults/}) there when a file is missing at
start, and re-reads a file when it changes (L{wtvserv.watchedfile}); while
one is missing, its defaults hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from wtvserv.watchedfile import WatchedFile

RESERVED_FILE = "reserved-usernames.txt"
BAD_WORDS_FILE = "bad-words.txt"


def parseWords(text: str) -> frozenset[str]:
    """@return: the words of a list file, lower case, without comments and blanks."""
    words = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(word for word in words if word)


def shippedText(name: str) -> str:
    """@return: the text of wtvserv's default list C{name}."""
    return files("wtvserv").joinpath("defaults", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class UsernameRules:
    reserved: frozenset[str]
    badWords: frozenset[str]

    def problem(self, name: str) -> str | None:
        """@return: why C{name} may not be used, as a sentence for the user, or L{None}."""
        lowered = name.lower()
        if lowered in self.reserved:
            return f'The user name "{name}" is reserved. Please choose another.'
        squeezed = lowered.replace("_", "").replace("-", "")
        if any(word in lowered or word in squeezed for word in self.badWords):
            return f'The user name "{name}" is not allowed. Please choose another.'
        return None


DEFAULT_RULES = UsernameRules(parseWords(shippedText(RESERVED_FILE)),
                              parseWords(shippedText(BAD_WORDS_FILE)))


class WordList(WatchedFile[frozenset]):
    """One list file; wtvserv's defaults while it is missing."""

    what = "word list"

    def missing(self) -> frozenset[str]:
        return parseWords(shippedText(self.path.name))

    def parse(self, text: str) -> frozenset[str]:
        return parseWords(text)


class UsernameLists:
    """The two lists of a data directory, each re-read when it changes."""

    def __init__(self, dataDir: Path, clock) -> None:
        self._reserved = WordList(Path(dataDir) / RESERVED_FILE, clock)
        self._badWords = WordList(Path(dataDir) / BAD_WORDS_FILE, clock)

    def current(self) -> UsernameRules:
        return UsernameRules(self._reserved.current(), self._badWords.current())


def installDefaults(dataDir: Path) -> None:
    """Copy each default list into C{dataDir} where the operator has none."""
    for name in (RESERVED_FILE, BAD_WORDS_FILE):
        try:
            descriptor = os.open(Path(dataDir) / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                 0o644)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(shippedText(name))
