"""
The packed file a box is sent (PROTOCOL.md 14.2): a 36-byte big-endian
header, then the LZSS-compressed token stream.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from wtvserv.tellyscript import lzss
from wtvserv.tellyscript.errors import ScriptError

TELLYSCRIPT = b"ANDY"
DIALSCRIPT = b"VKAT"
MAGICS = (TELLYSCRIPT, DIALSCRIPT)
HEADER = struct.Struct(">4s8I")
#: Offset 32 of every known file; its meaning is not known.
UNKNOWN1 = 0x0101FFFF


def checksum(tokens: bytes) -> int:
    """@return: the file's checksum of C{tokens}: CRC-32 without its final inversion."""
    return ~zlib.crc32(tokens) & 0xFFFFFFFF


def scriptIdFromDraws(high: int, low: int) -> int:
    """
    @return: a script id as the anchor makes one from two random 16-bit
        numbers: bit 31 kept, the low 31 bits rounded down to ten thousands
        plus 6969 (or 56679 with bit 31 set), all modulo 2**32. Read as a
        signed number it ends in 6969, except in two overflowing corners.
    """
    drawn = (high << 16 | low) & 0xFFFFFFFF
    top = drawn & 0x80000000
    ending = 56679 if top else 6969
    return (top | ((drawn & 0x7FFFFFFF) // 10000 * 10000 + ending)) & 0xFFFFFFFF


@dataclass(frozen=True)
class Header:
    magic: bytes
    versionMajor: int
    versionMinor: int
    scriptId: int
    scriptMod: int
    compressedLength: int
    decompressedLength: int
    checksum: int
    unknown1: int = UNKNOWN1

    @property
    def dialscript(self) -> bool:
        return self.magic == DIALSCRIPT


@dataclass(frozen=True)
class Unpacked:
    """
    A file read back. C{actualChecksum} is the checksum of C{tokens}, which
    a damaged file's header does not match.
    """

    header: Header
    tokens: bytes
    actualChecksum: int

    @property
    def intact(self) -> bool:
        """Whether the tokens are as long as, and sum to what, the header says."""
        return (self.actualChecksum == self.header.checksum
                and len(self.tokens) == self.header.decompressedLength)


def pack(tokens: bytes, scriptId: int, scriptMod: int, magic: bytes = TELLYSCRIPT,
         versionMajor: int = 1, versionMinor: int = 1) -> bytes:
    """
    @param scriptMod: when the script was made, in Unix seconds.
    @return: the file: header, then C{tokens} compressed.
    """
    data = lzss.compress(tokens)
    header = Header(magic, versionMajor, versionMinor, scriptId, scriptMod, len(data),
                    len(tokens), checksum(tokens))
    return HEADER.pack(header.magic, header.versionMajor, header.versionMinor, header.scriptId,
                       header.scriptMod, header.compressedLength, header.decompressedLength,
                       header.checksum, header.unknown1) + data


def readHeader(data: bytes) -> Header:
    """@raise ScriptError: when C{data} is shorter than a header or has no known magic."""
    if len(data) < HEADER.size or data[:4] not in MAGICS:
        raise ScriptError("not a packed TellyScript (no ANDY or VKAT header)")
    return Header(*HEADER.unpack_from(data))


def unpack(data: bytes) -> Unpacked:
    """
    Read a file as the anchor does: decompress until the header's
    decompressed length, whatever the checksum says; bytes after the
    compressed data are ignored.

    @raise ScriptError: for a missing header or compressed data cut short.
    """
    header = readHeader(data)
    body = data[HEADER.size:]
    if len(body) < header.compressedLength:
        raise ScriptError(f"the header announces {header.compressedLength} bytes of data, "
                          f"the file has {len(body)}")
    tokens = lzss.expand(body[:header.compressedLength], header.decompressedLength)
    return Unpacked(header, tokens, checksum(tokens))
