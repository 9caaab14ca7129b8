"""
Source text to a token stream (PROTOCOL.md 14.5).

With C{strict=False} the rules are the anchor's, byte for byte, including
what it silently gets wrong. The default, C{strict=True}, makes the same
bytes but refuses a source the anchor would mangle without a word: an
operator run that is no operator (C{x=-1} would mean C{x = 1}), C{*=} and
C{/=} (two tokens each), a digit run with letters (C{123abc} is 123),
constants beyond 32 bits, character constants (their payload is not hex),
string characters beyond Latin-1 or NUL, C{//} (no such comment), a
comment or string left open, and a C{%Name%} template variable left
without a value, in a string or in code (write C{a % b} for a modulo).
"""

from __future__ import annotations

import re

from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.tokens import (
    CONSTANT,
    END_OF_LINE,
    END_OF_SCRIPT,
    IDENTIFIER,
    KEYWORDS,
    STRING,
    SYMBOLS,
)

_WORD = re.compile(r"[A-Za-z0-9_]+")
_CONSTANT = re.compile(r"(0x)?([0-9A-Fa-f]+)")
_DECIMAL = re.compile(r"[0-9]+")
_HEX_PREFIX = re.compile(r"[0-9A-Fa-f]+")
_RUN = re.compile(r"[-+=<>!|&]+")
_SINGLES = "()*,/;[]{}%"
_PLACEHOLDER = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")
_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r"}


def tokenize(text: str, strict: bool = True) -> bytes:
    """
    @return: the token stream of C{text}, ending in C{FF}.
    @raise ScriptError: with the line of the first thing that is not
        TellyScript.
    """
    return _Tokenizer(text, strict).run()


class _Tokenizer:
    def __init__(self, text: str, strict: bool) -> None:
        self.text = text
        self.strict = strict
        self.out = bytearray()

    def fail(self, reason: str, at: int):
        raise ScriptError(reason, self.text.count("\n", 0, at) + 1)

    def run(self) -> bytes:
        text, at = self.text, 0
        while at < len(text):
            char = text[at]
            if text.startswith("/*", at):
                at = self.comment(at)
            elif char in " \t":
                at += 1
            elif char in "\r\n":
                self.out.append(END_OF_LINE)
                at += 1
            elif char == '"':
                at = self.string(at)
            elif char == "'":
                at = self.character(at)
            elif _WORD.match(text, at):
                at = self.word(at)
            elif char in "-+=<>!|&":
                at = self.operator(at)
            elif char in _SINGLES:
                if self.strict and char == "%":
                    self.refusePlaceholder(_PLACEHOLDER.match(text, at), at)
                if self.strict and text.startswith("//", at):
                    self.fail("// starts no comment in TellyScript; use /* */", at)
                if self.strict and text.startswith(("*=", "/="), at):
                    self.fail(f"{text[at:at + 2]} would be two tokens; write x = x {char} y", at)
                self.out.append(SYMBOLS[char])
                at += 1
            else:
                self.fail(f"invalid character {char!r}", at)
        self.out.append(END_OF_SCRIPT)
        return bytes(self.out)

    def refusePlaceholder(self, match: re.Match | None, at: int) -> None:
        if match:
            self.fail(f"%{match.group(1)}% has no value ([tellyscripts.variables] "
                      "or --var)", at)

    def comment(self, at: int) -> int:
        end = self.text.find("*/", at + 2)
        if end >= 0:
            return end + 2
        if self.strict:
            self.fail("this /* comment is never closed", at)
        return len(self.text)

    def quoted(self, at: int) -> tuple[str, int]:
        """@return: the text between the quote at C{at} and its mate, escapes
        applied, and where scanning goes on."""
        text, quote, chars = self.text, self.text[at], []
        cursor = at + 1
        while cursor < len(text):
            char = text[cursor]
            if char == quote:
                return "".join(chars), cursor + 1
            if char != "\\":
                chars.append(char)
                cursor += 1
                continue
            if cursor + 1 >= len(text):
                self.fail("a backslash ends the text", cursor)
            escaped = text[cursor + 1]
            if escaped in "xX":
                digits = _HEX_PREFIX.match(text[cursor + 2:cursor + 4])
                chars.append(chr(int(digits.group(), 16) if digits else 0))
                cursor += 4
            else:
                chars.append(_ESCAPES.get(escaped, escaped))
                cursor += 2
        if self.strict:
            self.fail(f"this {quote} is never closed", at)
        return "".join(chars), cursor

    def string(self, at: int) -> int:
        value, after = self.quoted(at)
        if self.strict:
            for char in value:
                if char == "\0" or ord(char) > 0xFF:
                    self.fail(f"a string holds bytes 01..FF, not {char!r}", at)
            self.refusePlaceholder(_PLACEHOLDER.search(value), at)
        self.out.append(STRING)
        self.out += bytes(ord(char) & 0xFF for char in value)
        self.out.append(0)
        return after

    def character(self, at: int) -> int:
        if self.strict:
            self.fail("character constants have no known encoding; "
                      "write the value in hex (0x41 for 'A')", at)
        value, after = self.quoted(at)
        self.out.append(CONSTANT)
        self.out += bytes(ord(char) & 0xFF for char in value.lstrip("0"))
        self.out.append(0)
        return after

    def word(self, at: int) -> int:
        word = _WORD.match(self.text, at).group()
        if word in KEYWORDS:
            self.out.append(KEYWORDS[word])
        elif not word[0].isdigit():
            self.out.append(IDENTIFIER)
            self.out += word.encode("ascii") + b"\0"
        else:
            self.constant(word, at)
        return at + len(word)

    def constant(self, word: str, at: int) -> None:
        match = _CONSTANT.fullmatch(word)
        if match is None:
            self.fail(f"invalid constant {word!r}", at)
        if match.group(1):
            digits = match.group(2)
        else:
            decimal = _DECIMAL.match(word).group()
            if self.strict and decimal != word:
                self.fail(f"invalid constant {word!r}: hex needs 0x", at)
            digits = format(int(decimal), "X")
        if self.strict and int(digits, 16) > 0xFFFFFFFF:
            self.fail(f"{word} does not fit in 32 bits", at)
        self.out.append(CONSTANT)
        self.out += bytes(0x30 + int(digit, 16) for digit in digits.lstrip("0"))
        self.out.append(0)

    def operator(self, at: int) -> int:
        run = _RUN.match(self.text, at).group()
        code = SYMBOLS.get(run)
        if code is None:
            code = SYMBOLS.get(run[0])
            if code is None:
                self.fail(f"invalid character {run[0]!r}", at)
            if self.strict:
                self.fail(f"{run!r} is not an operator; put spaces between operators", at)
        self.out.append(code)
        return at + len(run)
