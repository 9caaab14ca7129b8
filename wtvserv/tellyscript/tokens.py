"""
The token bytes of a TellyScript token stream (PROTOCOL.md 14.4).

Every token is one byte; a constant, an identifier and a string carry a
payload ended by a NUL byte.
"""

from __future__ import annotations

CONSTANT = 0x43
IDENTIFIER = 0x49
STRING = 0x53
END_OF_LINE = 0x7F
END_OF_SCRIPT = 0xFF
PAYLOAD_TOKENS = frozenset({CONSTANT, IDENTIFIER, STRING})

#: The keyword tokens, by spelling.
KEYWORDS = {"break": 0x62, "char": 0x63, "else": 0x65, "for": 0x66, "if": 0x69,
            "int": 0x6C, "return": 0x72, "while": 0x77}

#: Operator and punctuation tokens, by spelling.
SYMBOLS = {"!": 0x21, "%": 0x25, "&&": 0x26, "(": 0x28, ")": 0x29, "*": 0x2A, "+": 0x2B,
           ",": 0x2C, "-": 0x2D, "/": 0x2F, ";": 0x3B, "<": 0x3C, "=": 0x3D, ">": 0x3E,
           "&": 0x40, "+=": 0x41, "-=": 0x42, "--": 0x44, "==": 0x45, ">=": 0x47,
           "<=": 0x4C, "!=": 0x4E, "++": 0x50, "[": 0x5B, "]": 0x5D,
           "{": 0x7B, "||": 0x7C, "}": 0x7D}

#: Every spelled token, by byte: C{*=} and C{/=} have codes too, which no
#: tokenizer we know of makes (PROTOCOL.md 14.4).
SPELLING = {code: text for text, code in {**KEYWORDS, **SYMBOLS, "*=": 0x4D, "/=": 0x56}.items()}
