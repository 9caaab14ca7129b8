"""
Template variables (PROTOCOL.md 14.7): C{%Name%} in a source is replaced by
its value, literally.

minisrv's templates use C{%ServiceName%}, C{%DialinNumber%},
C{%DNSIP1%}/C{%DNSIP2%} (addresses as text, for messages) and
C{%DNS1%}/C{%DNS2%} (the same addresses as constants, for
C{setnameservice}); L{withDerived} fills the last two from the first.
"""

from __future__ import annotations

from collections.abc import Mapping

from wtvserv.tellyscript.errors import ScriptError

_DERIVED = (("DNS1", "DNSIP1"), ("DNS2", "DNSIP2"))


def ipToHex(address: str) -> str:
    """
    @return: a dotted-quad IPv4 address as a TellyScript constant, first
        octet most significant: C{10.0.0.50} is C{0xA000032}.
    @raise ScriptError: for anything but four numbers 0..255.
    """
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and int(p) <= 255 for p in parts):
        raise ScriptError(f"{address!r} is not an IPv4 address")
    value = 0
    for part in parts:
        value = value << 8 | int(part)
    return f"0x{value:X}"


def withDerived(values: Mapping[str, str]) -> dict[str, str]:
    """@return: C{values} plus C{DNS1}/C{DNS2} from C{DNSIP1}/C{DNSIP2} where unset."""
    result = dict(values)
    for name, source in _DERIVED:
        if name not in result and source in result:
            result[name] = ipToHex(result[source])
    return result


def substitute(text: str, values: Mapping[str, str]) -> str:
    """@return: C{text} with every C{%Name%} of C{values} replaced, in C{values}' order."""
    for name, value in values.items():
        text = text.replace(f"%{name}%", value)
    return text

