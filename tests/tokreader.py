"""
An independent TellyScript reader for the tests, written from PROTOCOL.md
14.2 (header) and 14.3 (LZSS decoding) alone, sharing no code with
L{wtvserv.tellyscript}, so a mistake made in both the packer and the
server's reader cannot hide. The checksum is zlib's CRC-32, inverted.
"""

from __future__ import annotations

import zlib

FIELDS = ("version_major", "version_minor", "script_id", "script_mod", "compressed_length",
          "decompressed_length", "checksum", "unknown1")


def read(packed: bytes) -> dict:
    """
    @return: the header fields by their PROTOCOL.md names, C{magic}, the
        decoded C{tokens} and the C{computed_checksum} of those tokens.
    """
    assert len(packed) >= 36, "shorter than the 36-byte header"
    fields = {"magic": packed[:4].decode("ascii")}
    for index, name in enumerate(FIELDS):
        start = 4 + 4 * index
        fields[name] = int.from_bytes(packed[start:start + 4], "big")
    data = packed[36:36 + fields["compressed_length"]]
    tokens = bytearray()
    position = 0
    while position < len(data) and len(tokens) < fields["decompressed_length"]:
        flags = data[position]
        position += 1
        for item in range(8):
            if position >= len(data) or len(tokens) >= fields["decompressed_length"]:
                break
            if flags & (1 << item):
                tokens.append(data[position])
                position += 1
            else:
                first, second = data[position], data[position + 1]
                position += 2
                back = (((second & 0xF0) << 4) | first) + 1
                assert back <= len(tokens), "a match reaches before the start"
                for _ in range((second & 0x0F) + 3):
                    tokens.append(tokens[len(tokens) - back])
    fields["tokens"] = bytes(tokens)
    fields["computed_checksum"] = zlib.crc32(bytes(tokens)) ^ 0xFFFFFFFF
    return fields
