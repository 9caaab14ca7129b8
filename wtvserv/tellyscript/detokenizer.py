"""
A token stream back to text, laid out as the anchor's detokenizer does
(PROTOCOL.md 14.9), for an operator reading a script. The text does not
always tokenize back to the same bytes: constants print as 32-bit signed
numbers, and strings are not re-escaped beyond C{\\a}..C{\\r}.
"""

from __future__ import annotations

from wtvserv.tellyscript.tokens import (
    CONSTANT,
    END_OF_LINE,
    END_OF_SCRIPT,
    IDENTIFIER,
    KEYWORDS,
    PAYLOAD_TOKENS,
    SPELLING,
    STRING,
)

_SPACED = frozenset(("=", "+", "-", "/", "%", "<", ">", "<=", ">=", "==", "!=", "&&", "||",
                     "+=", "-=", "*=", "/="))
_OPEN, _CLOSE, _CLOSE_PAREN, _CLOSE_BRACKET = 0x7B, 0x7D, 0x29, 0x5D
#: After these a C{*} multiplies (spaced); after anything else it is a pointer.
_BEFORE_MULTIPLY = frozenset((IDENTIFIER, CONSTANT, _CLOSE_PAREN, _CLOSE_BRACKET))
_REESCAPED = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}
_KEYWORD_CODES = frozenset(KEYWORDS.values())


def constantText(payload: bytes) -> str:
    """
    @return: a constant as the anchor prints it: decimal below 0x1000 (and
        when negative as a signed 32-bit number), upper-case hex above,
        with the characters in a comment when every byte is 0x30..0x5A.
    """
    value = 0
    for byte in payload:
        digit = byte - 0x30 if 0x30 <= byte <= 0x3F else 0
        value = (value << 4 | digit) & 0xFFFFFFFF
    if value >= 0x80000000:
        value -= 1 << 32
    if value < 0x1000:
        return str(value)
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    comment = f" /* {raw.decode('latin-1')} */" if all(0x30 <= b <= 0x5A for b in raw) else ""
    return f"0x{value:X}{comment}"


def _stringText(payload: bytes) -> str:
    return '"' + "".join(_REESCAPED.get(b, chr(b)) for b in payload) + '"'


def _items(tokens: bytes):
    """@return: C{(code, payload)} for each token up to the first C{FF}."""
    at = 0
    while at < len(tokens) and tokens[at] != END_OF_SCRIPT:
        code = tokens[at]
        at += 1
        payload = b""
        if code in PAYLOAD_TOKENS:
            end = tokens.find(b"\0", at)
            end = len(tokens) if end < 0 else end
            payload, at = tokens[at:end], end + 1
        yield code, payload


def detokenize(tokens: bytes) -> str:
    """@return: C{tokens} as source text, one tab of indent per open brace."""
    out: list[str] = []
    depth, previous, lineStart = 0, None, False
    for code, payload in _items(tokens):
        if code == END_OF_LINE:
            if out:
                out.append("\n")
                lineStart, previous = True, code
            continue
        if lineStart:
            out.append("\t" * max(0, depth - (code == _CLOSE)))
            lineStart = False
        out.append(_text(code, payload, previous))
        depth += (code == _OPEN) - (code == _CLOSE)
        previous = code
    return "".join(out)


def _text(code: int, payload: bytes, previous: int | None) -> str:
    if code == CONSTANT:
        return constantText(payload)
    if code == IDENTIFIER:
        return payload.decode("latin-1")
    if code == STRING:
        return _stringText(payload)
    spelling = SPELLING.get(code)
    if spelling is None:
        return str(code)
    if spelling == "else":
        return " else "
    if code in _KEYWORD_CODES:
        return spelling if spelling == "break" else spelling + " "
    if spelling in _SPACED:
        return f" {spelling} "
    if spelling == "*":
        return " * " if previous in _BEFORE_MULTIPLY else "*"
    if spelling == ",":
        return ", "
    if code == _OPEN and previous == _CLOSE_PAREN:
        return " {"
    return spelling
