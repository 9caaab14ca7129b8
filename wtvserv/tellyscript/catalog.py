"""
The operator's scripts, loaded at start, and which box gets which
(PROTOCOL.md 14.10).

A source is compiled and packed once; its script id comes from its tokens
(so it stays the same across restarts, and a box that holds it is not sent
it again) and its script_mod is the file's modification time. A C{.tok}
file is checked and served as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from hashlib import sha256
from pathlib import Path

from wtvserv.capabilities import inMinibrowser
from wtvserv.config import TellyScriptSettings
from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.packfile import DIALSCRIPT, TELLYSCRIPT, Header, pack, readHeader, \
    scriptIdFromDraws, unpack
from wtvserv.tellyscript.source import compileSource

#: The largest script file read; the largest known is under 20 KB.
MAX_SCRIPT_FILE = 1024 * 1024
PACKED_SUFFIX = ".tok"
#: What a classic box in flash mode is served as (it sends no ROM type).
CLASSIC_ROM_TYPE = "bf0app"
FLASH_MODE_BOOTROM = "105"
SIMULATOR_SSID_PREFIX = "MSTVSIMU"
ULTIMATETV_PREFIX = "US-DTV-"
OPENISP_MINOR = 3


@dataclass(frozen=True)
class Script:
    """One packed script as a box is sent it."""

    path: Path
    data: bytes

    @property
    def header(self) -> Header:
        return readHeader(self.data)

    @property
    def contentType(self) -> str:
        return "text/dialscript" if self.header.dialscript else "text/tellyscript"

    def heldBy(self, headers) -> bool:
        """Whether the box's C{wtv-script-id} and C{wtv-script-mod} name this
        script (the id signed or unsigned)."""
        header = self.header
        return (scriptNumber(headers.get("wtv-script-id")) == header.scriptId
                and scriptNumber(headers.get("wtv-script-mod")) == header.scriptMod)


def scriptNumber(text: str | None) -> int | None:
    """@return: a header's 32-bit value, written signed or unsigned, or L{None}."""
    if text is None:
        return None
    digits = text.strip().removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        return None
    return int(text) % (1 << 32)


def packSource(path: Path, data: bytes, variables: Mapping[str, str] = {},
               versionMinor: int = 1, definitions: Mapping[str, object] = {},
               minified: bool = False) -> bytes:
    """
    Compile and pack the source C{data} read from C{path} (UTF-8, else
    Latin-1) as a TellyScript (C{ANDY}), with an id made from its tokens and
    its file's time.

    @raise ScriptError: naming the file and the line.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")     # every byte is a character there
    try:
        tokens = compileSource(text, variables, definitions, minified)
    except ScriptError as error:
        where = f", line {error.line}" if error.line else ""
        raise ScriptError(f"{path}{where}: {error.reason}") from None
    digest = int.from_bytes(sha256(bytes([versionMinor]) + tokens).digest()[:4], "big")
    return pack(tokens, scriptIdFromDraws(digest >> 16, digest & 0xFFFF),
                int(path.stat().st_mtime) & 0xFFFFFFFF, versionMinor=versionMinor)


def asDialScript(data: bytes) -> bytes:
    """@return: a packed TellyScript as a DialScript: only the magic differs."""
    return DIALSCRIPT + data[len(TELLYSCRIPT):]


class _Entry:
    """One configured file: its script in both flavours."""

    def __init__(self, path: Path, variables: dict[str, str], versionMinor: int) -> None:
        data = readScriptFile(path)
        if path.suffix == PACKED_SUFFIX:
            self.fixed: Script | None = Script(path, checkedPacked(path, data))
            return
        self.fixed = None
        packed = packSource(path, data, variables, versionMinor)
        self.flavours = {False: Script(path, packed), True: Script(path, asDialScript(packed))}

    def script(self, dialscript: bool) -> Script:
        """A C{.tok} is what it is; a source is packed as the box needs."""
        return self.fixed or self.flavours[dialscript]


def readScriptFile(path: Path) -> bytes:
    """@raise ScriptError: the file cannot be read or is too large to be a script."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SCRIPT_FILE + 1)
    except OSError as error:
        raise ScriptError(f"{path}: {error.strerror}") from None
    if len(data) > MAX_SCRIPT_FILE:
        raise ScriptError(f"{path}: larger than {MAX_SCRIPT_FILE} bytes")
    return data


def checkedPacked(path: Path, data: bytes) -> bytes:
    """@raise ScriptError: C{data} is not a whole, undamaged packed file."""
    try:
        unpacked = unpack(data)
    except ScriptError as error:
        raise ScriptError(f"{path}: {error.reason}") from None
    if not unpacked.intact:
        raise ScriptError(f"{path}: damaged (its tokens do not match the length and "
                          "checksum in its header)")
    return data


class TellyScripts:
    """
    Every configured script, and the choice of one for a box.

    @param scripts: C{(ROM-type glob, entry)} pairs, first match winning.
    @param openISP: the same, for boxes that ask for OpenISP.
    """

    def __init__(self, scripts: list = (), openISP: list = ()) -> None:
        self.scripts = list(scripts)
        self.openISP = list(openISP)

    @classmethod
    def load(cls, settings: TellyScriptSettings) -> TellyScripts:
        """
        Read, compile and pack every configured file.

        @raise ScriptError: naming the file (and the line) that cannot be used.
        """
        try:
            return cls._load(settings)
        except ScriptError as error:
            raise ScriptError(f"tellyscript {error}") from None

    @classmethod
    def _load(cls, settings: TellyScriptSettings) -> TellyScripts:
        entries: dict[tuple[Path, int], _Entry] = {}

        def entry(path: Path, minor: int) -> _Entry:
            if (path, minor) not in entries:
                entries[path, minor] = _Entry(path, settings.variables, minor)
            return entries[path, minor]

        return cls([(glob, entry(path, 1)) for glob, path in settings.scripts],
                   [(glob, entry(path, OPENISP_MINOR)) for glob, path in settings.openISP])

    def forBox(self, headers, ssid: str | None) -> Script | None:
        """
        @param headers: the box's request headers (its identity included).
        @return: the script this box should hold, or L{None} when none is
            configured for it.
        """
        romType = headers.get("wtv-client-rom-type")
        if romType is None:
            if not flashMode(headers):
                return None
            romType, openISP = CLASSIC_ROM_TYPE, False
        else:
            openISP = wantsOpenISP(headers)
        minibrowser = inMinibrowser(headers)
        dialscript = ((ssid or "").upper().startswith(SIMULATOR_SSID_PREFIX)
                      or (romType.startswith(ULTIMATETV_PREFIX) and not minibrowser))
        for glob, entry in self.openISP if openISP else self.scripts:
            if fnmatchcase(romType, glob):
                return entry.script(dialscript)
        return None


def flashMode(headers) -> bool:
    """Whether the box is a classic in flash mode: bootrom 105 and no ROM type."""
    return (headers.get("wtv-client-rom-type") is None
            and (headers.get("wtv-client-bootrom-version") or "").strip() == FLASH_MODE_BOOTROM)


def wantsOpenISP(headers) -> bool:
    """Whether the box asks for OpenISP (C{wtv-open-access: true})."""
    return (headers.get("wtv-open-access") or "").strip().lower() == "true"
