"""
The preprocessor run on a source before anything else (PROTOCOL.md 14.6):
C{#ifdef}, C{#ifndef}, C{#if 0|1}, C{#else}, C{#endif} in column 0;
C{#include} lines are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wtvserv.tellyscript.errors import ScriptError

_DIRECTIVE = re.compile(r"#(ifdef|ifndef|if|else|endif|include)(?![A-Za-z0-9_])(.*)")
_LINE_BREAK = re.compile(r"\r?\n")


def preprocessLines(text: str, definitions: Mapping[str, object] = {},
                    strict: bool = True) -> list[tuple[int, str]]:
    """
    @param definitions: names a C{#ifdef} sees as defined when their value
        is truthy (C{0}, C{False} and C{""} count as undefined).
    @param strict: also refuse an C{#if} left open at the end (the anchor
        lets it run to the end).
    @return: the lines kept, each with its line number in C{text}.
    @raise ScriptError: for C{#else}/C{#endif} without C{#if}, or an
        C{#if} other than C{#if 0} / C{#if 1}.
    """
    kept: list[tuple[int, str]] = []
    # One entry per open #if: (whether its lines are kept, its line number).
    open_: list[tuple[bool, int]] = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        keeping = all(active for active, _ in open_)
        match = _DIRECTIVE.match(line)
        if match is None:
            if keeping:
                kept.append((number, line))
            continue
        directive, rest = match.groups()
        if directive in ("ifdef", "ifndef"):
            words = rest.split()
            defined = bool(words) and bool(definitions.get(words[0]))
            open_.append((defined == (directive == "ifdef"), number))
        elif directive == "if":
            if rest.strip() not in ("0", "1"):
                raise ScriptError(f"#if takes 0 or 1, not {line!r}", number)
            open_.append((rest.strip() == "1", number))
        elif directive == "else":
            if not open_:
                raise ScriptError("#else without #if", number)
            active, start = open_.pop()
            open_.append((not active, start))
        elif directive == "endif":
            if not open_:
                raise ScriptError("#endif without #if", number)
            open_.pop()
    if strict and open_:
        raise ScriptError("this #if is never closed with #endif", open_[-1][1])
    return kept


def preprocess(text: str, definitions: Mapping[str, object] = {},
               strict: bool = True) -> str:
    """@return: the kept lines of L{preprocessLines}, joined with LF."""
    return "\n".join(line for _, line in preprocessLines(text, definitions, strict))
