"""
Box serial numbers (SSIDs, the C{wtv-client-serial-number} header).

A classic SSID is 16 hex digits::

    TT UUUUUU MM RRRR CC
    box type, unit id, manufacturer, region, check byte

The check byte is a CRC-8 (reflected, polynomial 0x8C, initial value 0) over
the 7 bytes of the first 14 digits. Hex digits are compared without regard to
case.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_SSID_LENGTH = 32

#: SSIDs that do not follow the hex layout and are accepted as they are:
#: Dreamcast (C{1SEGA...}) and the MSN TV simulator.
EXEMPT_PREFIXES = ("1SEGA", "MSTVSIMU")

_WELL_FORMED = re.compile(r"[A-Za-z0-9]{1,%d}" % MAX_SSID_LENGTH)
_HEX = re.compile(r"[0-9A-Fa-f]+")

_BOX_TYPES = {"01": "Internal", "71": "MAME", "81": "Retail", "91": "Viewer"}
_REGIONS = {"B002": "US/Canada", "B102": "Japan"}
_MANUFACTURERS = {
    "00": "Sony", "10": "Philips", "50": "Philips", "40": "Mitsubishi",
    "70": "Samsung", "80": "EchoStar", "90": "RCA",
}
UNKNOWN = "Unknown"


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX.fullmatch(text) is not None


@lru_cache(maxsize=16_384)
def ssid_crc(first14hex: str) -> str:
    """
    The check byte of an SSID; cached, since every request's SSID is
    checked and a box always sends the same one.

    @param first14hex: the first 14 hex digits of an SSID.
    @return: the check byte as 2 lower-case hex digits.
    @raise ValueError: when C{first14hex} is not 14 hex digits.
    """
    if not _is_hex(first14hex, 14):
        raise ValueError(f"not 14 hex digits: {first14hex!r}")
    crc = 0
    for byte in bytes.fromhex(first14hex):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return f"{crc:02x}"


def is_well_formed(ssid: object) -> bool:
    """
    @return: whether C{ssid} is 1 to 32 ASCII letters and digits, the only
        SSIDs the server accepts at all.
    """
    return isinstance(ssid, str) and _WELL_FORMED.fullmatch(ssid) is not None


def check_ssid(ssid: object, exempt_prefixes: tuple[str, ...] = EXEMPT_PREFIXES) -> bool:
    """
    @return: whether C{ssid} is well formed and either carries a correct check
        byte (in either case) or starts with one of C{exempt_prefixes}.
    """
    if not is_well_formed(ssid):
        return False
    if ssid.startswith(exempt_prefixes):
        return True
    if not _is_hex(ssid, 16):
        return False
    return ssid_crc(ssid[:14]) == ssid[14:].lower()


def parse_ssid(ssid: str) -> dict[str, str]:
    """
    Name the parts of a classic SSID (the check byte is not verified; see
    L{check_ssid}).

    @return: C{box_type}, C{unit_id}, C{manufacturer}, C{region} (names, or
        L{UNKNOWN}) and C{crc} (lower case).
    @raise ValueError: when C{ssid} is not 16 hex digits.
    """
    if not isinstance(ssid, str) or not _is_hex(ssid, 16):
        raise ValueError(f"not a 16-digit SSID: {ssid!r}")
    region = _REGIONS.get(ssid[10:14].upper(), UNKNOWN)
    manufacturer_code = ssid[8:10].upper()
    if manufacturer_code == "00" and region == "Japan":
        manufacturer = "Panasonic"
    else:
        manufacturer = _MANUFACTURERS.get(manufacturer_code, UNKNOWN)
    return {
        "box_type": _BOX_TYPES.get(ssid[0:2], UNKNOWN),
        "unit_id": ssid[2:8],
        "manufacturer": manufacturer,
        "region": region,
        "crc": ssid[14:16].lower(),
    }


def mask_ssid(ssid: str) -> str:
    """
    An SSID as logs show it by default: box type and region stay readable,
    the unit's own digits do not (C{8112********026b}).
    """
    if len(ssid) <= 8:
        return "*" * len(ssid)
    return ssid[:4] + "*" * (len(ssid) - 8) + ssid[-4:]


class SSIDPolicy:
    """
    Which serial numbers the service talks to: well formed always; with a
    correct check byte unless validation is off or the SSID is exempt (an
    emulator's); and not on the operator's ban list.
    """

    def __init__(self, bans, validate: bool = True,
                 exemptPrefixes: tuple[str, ...] = EXEMPT_PREFIXES,
                 exempt: tuple[str, ...] = (), fullInLogs: bool = False) -> None:
        self.bans = bans
        self.validate = validate
        self.exemptPrefixes = tuple(exemptPrefixes)
        self.exempt = frozenset(s.lower() for s in exempt)
        self.fullInLogs = fullInLogs
        # Whether an SSID is well formed and checks out depends on nothing
        # else: every request of a box asks again, so the last answers are
        # kept (bans, which change, are looked at every time). Only strings
        # that could be SSIDs are kept, so a box sending long junk in the
        # header fills nothing: at most 1,024 short strings.
        self._remembered = lru_cache(maxsize=1024)(self._findMalformation)
        # How each connection's SSID is logged: likewise fixed, kept alike.
        self._shownInLog = lru_cache(maxsize=1024)(self._forLog)

    def refusal(self, ssid: str) -> tuple[int, str, str] | None:
        """
        @return: L{None} for an acceptable SSID, else C{(status, message for
            the box, reason for the log)}.
        """
        if not isinstance(ssid, str):
            return 400, "Your box sent an invalid serial number.", "malformed SSID"
        if len(ssid) <= MAX_SSID_LENGTH:
            malformation = self._remembered(ssid)
        else:
            malformation = self._findMalformation(ssid)
        if malformation is not None:
            return malformation
        if self.bans.ssidBanned(ssid):
            return 403, "This service is not available to your box.", "SSID banned"
        return None

    def _findMalformation(self, ssid: str) -> tuple[int, str, str] | None:
        if not is_well_formed(ssid):
            return 400, "Your box sent an invalid serial number.", "malformed SSID"
        if self.validate and ssid.lower() not in self.exempt \
                and not check_ssid(ssid, self.exemptPrefixes):
            return 400, "Your box sent an invalid serial number.", "SSID check byte wrong"
        return None

    def forLog(self, ssid: str | None) -> str:
        """@return: C{ssid} as it may appear in the log (C{-} for none)."""
        if not ssid:
            return "-"
        if isinstance(ssid, str) and len(ssid) <= MAX_SSID_LENGTH:
            return self._shownInLog(ssid)
        return self._forLog(ssid)

    def _forLog(self, ssid: str) -> str:
        if not is_well_formed(ssid):
            return "(malformed)"
        return ssid if self.fullInLogs else mask_ssid(ssid)
