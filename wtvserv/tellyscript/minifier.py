"""
minisrv's minifier (PROTOCOL.md 14.8): comments out, whitespace squeezed,
and every name that is not a keyword or a built-in renamed to C{a}, C{b},
... in order of first appearance.

It makes smaller scripts but knows only the built-ins listed here: a script
calling another ROM function would call a renamed one. Two deliberate
differences from the anchor: names starting with C{_} keep their names
(Fiji's ROM calls hooks by those names), and no name is renamed to a keyword.
"""

from __future__ import annotations

import re

from wtvserv.tellyscript.tokens import KEYWORDS

BUILTINS = frozenset("""
    setbaud setflowcontrol setdtr enablemodem sendstr waitfor getline setprogresstext
    setprogresspercentage setprogressmode setworkingnumber getphonesettings getpreregnumber
    getserialnumber getsecret setusername setpassword setpapmode startppp getpppresult
    setnameservice setconnectionstats ticks delay printf sprintf strcpy strcat atoi version
    alert dialerror setfullpopnumber setlocalpopcount setconnectretrycount setani computefcs
    modem_parseresult main""".split())
KEPT = BUILTINS | frozenset(KEYWORDS)

_TOKEN = re.compile(r"""
     (?P<space>\s+)
    |(?P<comment>//[^\n]*|/\*[\s\S]*?\*/)
    |(?P<keyword>(?:int|char|if|else|while|return|void)\b)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<number>0x[0-9A-Fa-f]+|[0-9]+)
    |(?P<literal>"(?:\\[\s\S]|[^"\\])*"|'(?:\\[\s\S]|[^'\\])*')
    |(?P<punctuation>[{};,\[\]()])
    |(?P<operator>==|!=|<=|>=|[-+*/=<>!&|%]+)
    |(?P<other>[\s\S])
""", re.VERBOSE)
_WORDS = ("name", "number")


def shortName(index: int) -> str:
    """@return: the C{index}th short name: C{a} .. C{z}, C{aa}, C{ab}, ..."""
    name = ""
    index += 1
    while index:
        index, letter = divmod(index - 1, 26)
        name = chr(ord("a") + letter) + name
    return name


class _Renamer:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.count = 0

    def __call__(self, name: str) -> str:
        if name in KEPT or name.startswith("_"):
            return name
        if name not in self.names:
            short = shortName(self.count)
            while short in KEPT:
                self.count += 1
                short = shortName(self.count)
            self.count += 1
            self.names[name] = short
        return self.names[name]


def minify(text: str) -> str:
    """@return: C{text} minified; its line breaks survive, squeezed."""
    rename, out, previous = _Renamer(), [], None
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind == "comment":
            continue
        if kind == "space":
            out.append(value.replace("\r", "\n").replace("\n\n", "\n")
                       if "\n" in value or "\r" in value else " ")
        else:
            if kind == "name":
                value = rename(value)
            if kind in _WORDS and previous in _WORDS:
                out.append(" ")
            out.append(value + " " if kind == "keyword" else value)
        previous = kind
    return "".join(out).replace("\n\n\n", "\n")
