"""
Headers the built-in services share: the box's clock and locale, and the
service lists of PROTOCOL.md 7.
"""

from __future__ import annotations

from dataclasses import replace
from email.utils import formatdate
from functools import lru_cache, wraps

from wtvserv.directory import DONT_ENCRYPT_REQUESTS
from wtvserv.interfaces import IServiceContext
from wtvserv.web import Box, error

# The wildcard entry points at wtv-star, the page boxes fall back to.
STAR = "wtv-star"
WILDCARD = "wtv-*"


def clockHeaders(context: IServiceContext) -> list[tuple[str, str]]:
    """The time zone and date a box sets its clock from."""
    zone = context.config.timezone
    return [("wtv-client-time-zone", zone),
            ("wtv-client-time-dst-rule", zone.split()[0]),
            ("wtv-client-date", _httpDate(int(context.reactor.seconds())))]


@lru_cache(maxsize=1)
def _httpDate(second: int) -> str:
    """The date of a whole second (all the header shows), made once per second."""
    return formatdate(second, usegmt=True)


def localeHeaders(context: IServiceContext) -> list[tuple[str, str]]:
    return [("wtv-country", context.config.country),
            ("wtv-language-header", context.config.language)]


def serviceHeaders(context: IServiceContext, names: list[str] | None = None,
                   reset: bool = False, inClear: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """
    C{wtv-service} lines for C{names} (every enabled service when L{None}),
    with C{wtv-*} announced right after wtv-star, as boxes are used to; the
    services named in C{inClear} are announced without encryption.
    """
    directory = context.directory
    lines = [("wtv-service", "reset")] if reset else []
    for name in directory.names() if names is None else names:
        entry = directory.get(name)
        if entry is None:
            continue
        if name in inClear:
            entry = replace(entry, flags=entry.flags | DONT_ENCRYPT_REQUESTS)
        lines.append(("wtv-service", entry.header()))
        if name == STAR:
            wildcard = entry.header().replace(f"name={STAR} ", f"name={WILDCARD} ", 1)
            lines.append(("wtv-service", wildcard))
    return lines


def requireSSID(handler):
    """
    Wrap C{handler} so a box that did not say who it is (no
    C{wtv-client-serial-number}) gets a 400 instead.
    """
    @wraps(handler)
    def checked(box: Box):
        if not box.ssid:
            return error(400, "Your box did not identify itself. Please try again.")
        return handler(box)
    return checked
