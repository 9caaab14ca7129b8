"""
A TellyScript source to the token stream served:
preprocess, substitute the C{%Name%} variables, tokenize (strict), and
minify when asked. Errors name the line of the source.
"""

from __future__ import annotations

from collections.abc import Mapping

from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.minifier import minify
from wtvserv.tellyscript.preprocessor import preprocessLines
from wtvserv.tellyscript.tokenizer import tokenize
from wtvserv.tellyscript.variables import substitute, withDerived


def compileSource(text: str, variables: Mapping[str, str] = {},
                  definitions: Mapping[str, object] = {}, minified: bool = False) -> bytes:
    """
    @param variables: C{%Name%} values, one line each; C{DNS1}/C{DNS2} are
        derived from C{DNSIP1}/C{DNSIP2} unless given.
    @param minified: rename names to short ones, as minisrv does (see
        L{wtvserv.tellyscript.minifier} for the risk).
    @return: the token stream.
    @raise ScriptError: with the source line of the first problem; a
        C{%Name%} left without a value is one.
    """
    lines = preprocessLines(text, definitions)
    kept = substitute("\n".join(line for _, line in lines), withDerived(variables))

    def sourceLine(line: int) -> int:
        return lines[line - 1][0] if 0 < line <= len(lines) else line

    try:
        tokens = tokenize(kept)
    except ScriptError as error:
        raise ScriptError(error.reason, sourceLine(error.line)) from None
    if not minified:
        return tokens
    try:
        return tokenize(minify(kept))
    except ScriptError as error:
        raise ScriptError(f"after minifying: {error.reason}") from None
