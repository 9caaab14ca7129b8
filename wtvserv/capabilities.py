"""
The C{wtv-capability-flags} request header: what a box says it can do.

The value is one hexadecimal number; bit C{n} (0 the least significant)
stands for entry C{n} of L{CAPABILITY_NAMES}. Read it as one integer: the
anchor server converts it in 8-digit chunks and shifts the bits of a chunk
that starts with a 0 digit (PROTOCOL.md section 11).
"""

from __future__ import annotations

import re

__all__ = ["CAPABILITY_NAMES", "RECEIVE_COMPRESSED", "hasCapability", "inMinibrowser",
           "parse_capability_flags"]

#: Headers only a box running its minibrowser (for a flash upgrade) sends
#: (PROTOCOL.md 11).
MINIBROWSER_HEADERS = ("wtv-need-upgrade", "wtv-used-8675309")


def inMinibrowser(headers) -> bool:
    """@return: whether request C{headers} come from a box in its minibrowser."""
    return any(headers.get(name) is not None for name in MINIBROWSER_HEADERS)

CAPABILITY_NAMES = (
    "client-can-do-muzac",
    "client-can-do-chat",
    "client-can-do-openISP",
    "client-can-receive-compressed-data",
    "client-can-display-spotads1",
    "client-can-print",
    "client-can-do-macromedia-flash1",
    "client-can-do-javascript",
    "client-can-do-videoflash",
    "client-can-do-videoads",
    "client-has-disk",
    "client-supports-classical-service",
    "client-open-isp-settings-valid",
    "client-can-tell-valid-open-isp",
    "client-has-tuner",
    "client-can-data-download",
    "client-supports-approx-content-len",
    "client-has-built-in-printer-port",
    "client-has-tv-experience",
    "client-can-handle-proxy-bypass",
    "client-can-handle-download-v2",
    "client-has-relogin-function",
    "client-can-display-spotads2",
    "client-can-display-30-sec-video-ads",
    "client-supports-etude-service",
    "client-can-do-av-capture",
    "client-can-do-disconnected-email",
    "client-can-do-macromedia-flash2",
    "client-has-memory-size-bit1-set",
    "client-has-memory-size-bit2-set",
    "client-has-memory-size-bit3-set",
    "client-can-do-rmf",
    "client-can-do-png",
    "client-does-broadband-data-dowload",  # sic: the name boxes use
    "client-has-softmodem",
    "client-can-do-preparsed-epg",
    "client-supports-funk-e-service",
    "client-wants-dial-script",
    "client-upgrade-visits-not-needed",
    "client-uses-flexible-videoad-paths",
    "client-non-production-build",
    "client-can-download-printer-drivers",
    "client-supports-hiphop-service",
    "client-can-use-messenger",
    "client-uses-third-party-billing",
    "client-can-do-offlineads",
    "client-has-no-dialin-support",
    "client-has-ssl-support-for-wtvp",
    "client-can-do-audio-capture",
    "client-can-do-metered-pricing",
    "client-negotiates-user-agent",
    "client-can-do-element-logging",
    "client-supports-jazz-security",
    "client-supports-MSN-service",
    "client-supports-notify-port-header",
    "client-supports-messenger-update-light",
    "client-supports-MSN-chat",
    "client-supports-MSN-chat-findu",
    "client-supports-MSN-messenger-CVR",
    "client-supports-MSN-messenger-MSNP8",
    "client-supports-MSN-chat-R9C",
)
"""Capability names by bit number."""

RECEIVE_COMPRESSED = "client-can-receive-compressed-data"
"""Bit 3: the box accepts LZPF or deflate bodies."""

_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")


def parse_capability_flags(text: str | None) -> frozenset[str]:
    """
    @param text: a C{wtv-capability-flags} header value, or L{None} when the
        header is absent.
    @return: the names of the set bits. Bits past the table are ignored; a
        missing or malformed value (anything but hex digits, surrounding
        whitespace allowed) gives an empty set.
    """
    flags = _flags(text)
    return frozenset(
        name for bit, name in enumerate(CAPABILITY_NAMES) if flags >> bit & 1)


def hasCapability(text: str | None, name: str) -> bool:
    """
    @return: whether C{name} is in L{parse_capability_flags}C{(text)}, by
        testing its one bit rather than naming all of them.
    """
    return bool(_flags(text) >> _BITS[name] & 1)


_BITS = {name: bit for bit, name in enumerate(CAPABILITY_NAMES)}


def _flags(text: str | None) -> int:
    """@return: the bits of a C{wtv-capability-flags} value; 0 when malformed."""
    if not isinstance(text, str):
        return 0
    text = text.strip()
    if not _HEX_DIGITS.fullmatch(text):
        return 0
    return int(text, 16)
