"""
LZPF in pure Python: the fallback of L{wtvserv.crypto.lzpf} where the C
accelerator (C{_lzpf_c}) was not built, and the reference it is tested
against. Both raise the errors defined here.

Neither side keeps the ring buffer itself: the slot a prediction names
always holds the byte a known distance back (L{_source}), so both read the
data they already have.
"""

from __future__ import annotations

__all__ = ["IncompleteStream", "LZPFError", "compress", "decode", "decompress"]

WINDOW = 8192
"""Size of the ring buffer: predictions reach at most this far back."""

MAX_MATCH = 296
"""Longest match the encoder emits (the code could carry 297)."""

_TABLE_SIZE = 4096
_NO_PREDICTION = -1
_END_MARKER = 256

_SHORTER_LITERALS = {
    4: "20 65",
    5: "0a 22 2f 3c 3e 54 61 69 6e 6f 70 72 73 74",
    6: "09 2e 3d 41 45 49 4e 4f 52 63 64 68 6c 6d 77",
    7: "2c 2d 31 42 43 44 46 47 48 4c 50 53 62 66 67 75",
    8: "30 32 34 3a 4d 57 5f 6b 76 79",
    9: "0d 23 27 33 35 36 37 38 39 55 56 5a 78",
    10: "21 2a 3f 4b 59 7a",
    11: "26 28 29 3b 4a 6a 71",
    12: "51 58 7b 7c 7d 7e",
    13: "2b",
    14: "24 40",
    15: "05 07 08 0b 17 91 92 93 c7 f3 fa",
}
"""Literal code lengths below 16 bits, from PROTOCOL.md 10.2."""


class LZPFError(ValueError):
    """The bytes are not a valid LZPF stream of the expected length."""


class IncompleteStream(LZPFError):
    """
    The bytes end before the stream does: more input may complete it.
    """


def _literal_code() -> tuple[list[int], list[int]]:
    """
    Number the canonical literal code from the longest length down.

    @return: C{(codes, lengths)}, each indexed by symbol (256 is the end
        marker).
    """
    lengths = [16] * 257
    for length, symbols in _SHORTER_LITERALS.items():
        for symbol in symbols.split():
            lengths[int(symbol, 16)] = length
    codes = [0] * 257
    next_code = 0
    for length in range(16, 3, -1):
        for symbol in range(257):
            if lengths[symbol] == length:
                codes[symbol] = next_code
                next_code += 1
        next_code >>= 1
    return codes, lengths


def _match_code(length: int) -> tuple[int, int]:
    """
    @return: C{(code, number of bits)} for a match of C{length} bytes,
        including its leading C{1} flag bit.
    """
    if length <= 3:
        return 0b100 + length - 1, 3
    if length <= 10:
        return 0b111 << 3 | length - 4, 6
    if length <= 41:
        return 0b111111 << 5 | length - 11, 11
    return 0b11111111111 << 8 | length - 42, 19


def _literal_decoding_table(
    codes: list[int], lengths: list[int]
) -> tuple[list[int], list[int]]:
    """
    @return: C{(symbols, lengths)} indexed by the next 16 bits of the
        stream: the literal those bits begin with, and its length.
    """
    symbols = [0] * 65536
    sizes = [0] * 65536
    for symbol, (code, length) in enumerate(zip(codes, lengths)):
        first = code << (16 - length)
        count = 1 << (16 - length)
        symbols[first:first + count] = [symbol] * count
        sizes[first:first + count] = [length] * count
    return symbols, sizes


_LITERAL_CODES, _LITERAL_LENGTHS = _literal_code()
_MATCH_CODES = [(0, 0)] + [_match_code(n) for n in range(1, MAX_MATCH + 1)]
_DECODED_LITERALS, _DECODED_LENGTHS = _literal_decoding_table(
    _LITERAL_CODES, _LITERAL_LENGTHS)


def _hash(last3: int) -> int:
    """
    @param last3: the three bytes before the position, as a big-endian
        integer (the top byte of the spec's four-byte word never reaches
        the 12-bit result).
    @return: the index into the prediction table.
    """
    return ((last3 >> 11) ^ last3) & 0xFFF


def _source(position: int, predicted: int) -> int:
    """
    @param predicted: a position stored in the table, maybe long ago.
    @return: the position whose byte the ring slot of C{predicted} holds
        now: the newest one before C{position} in the same slot.
    """
    return position - ((position - predicted - 1) & (WINDOW - 1)) - 1


def _common_length(data: bytes, source: int, position: int, limit: int) -> int:
    """
    @return: how many bytes from C{position} on (at most C{limit}) repeat
        the bytes from C{source} on; the ranges may overlap, which makes a
        run.
    """
    # XOR two big-endian integers: the highest set bit marks the first
    # difference. A short probe first, as most matches are short.
    probe = limit if limit < 16 else 16
    while True:
        difference = (
            int.from_bytes(data[position:position + probe], "big")
            ^ int.from_bytes(data[source:source + probe], "big"))
        if difference:
            return probe - (difference.bit_length() + 7) // 8
        if probe == limit:
            return limit
        probe = limit


def compress(data: bytes) -> bytes:
    """
    @param data: the body to send.
    @return: its LZPF stream, end marker, checksum and final C{00} included.
    """
    data = bytes(data)
    size = len(data)
    literal_codes, literal_lengths = _LITERAL_CODES, _LITERAL_LENGTHS
    match_codes = _MATCH_CODES
    table = [_NO_PREDICTION] * _TABLE_SIZE
    out = bytearray()
    bits = 0  # the bits not yet in out, the oldest highest
    pending = 0  # how many
    for byte in data[:3]:
        bits = bits << literal_lengths[byte] | literal_codes[byte]
        pending += literal_lengths[byte]
    position = 3
    while position < size:
        # _hash and _source, inlined: this loop is the hot spot.
        last3 = (data[position - 3] << 16 | data[position - 2] << 8
                 | data[position - 1])
        slot = ((last3 >> 11) ^ last3) & 0xFFF
        predicted = table[slot]
        table[slot] = position
        byte = data[position]
        if predicted == _NO_PREDICTION:
            length = literal_lengths[byte]
            code = literal_codes[byte]
            position += 1
        else:
            source = position - ((position - predicted - 1) & (WINDOW - 1)) - 1
            if data[source] != byte:
                length = literal_lengths[byte] + 1  # a 0 flag, the literal
                code = literal_codes[byte]
                position += 1
            else:
                run = _common_length(
                    data, source, position, min(MAX_MATCH, size - position))
                code, length = match_codes[run]
                position += run
        bits = bits << length | code
        pending += length
        if pending >= 2048:
            # Keep the accumulator small: shifting a big int costs its size.
            spare = pending & 7
            out += (bits >> spare).to_bytes(pending >> 3, "big")
            bits &= (1 << spare) - 1
            pending = spare
    bits, pending = _append_trailer(data, table, bits, pending)
    out += bits.to_bytes(pending >> 3, "big")
    out.append(0)
    return bytes(out)


def _append_trailer(
    data: bytes, table: list[int], bits: int, pending: int
) -> tuple[int, int]:
    """
    Add the end marker (for 2+ bytes), the checksum and the padding.

    @return: the new C{(bits, pending)}, C{pending} a multiple of 8.
    """
    size = len(data)
    if size >= 2:
        length = _LITERAL_LENGTHS[_END_MARKER]
        if size >= 3:
            last3 = int.from_bytes(data[-3:], "big")
            if table[_hash(last3)] != _NO_PREDICTION:
                length += 1
        bits = bits << length | _LITERAL_CODES[_END_MARKER]
        pending += length
    bits = bits << 16 | (sum(data) & 0xFFFF)
    pending += 16
    padding = -pending & 7
    return bits << padding, pending + padding


class _BitReader:
    """
    Reads a stream most-significant bit first, at a bit position.

    @ivar position: the next bit to read.
    @ivar available: the number of bits the input really has; reads past it
        see zero bits, and L{check} tells the stream was cut short.
    """

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data) + bytes(8)
        self.available = len(data) * 8
        self.position = 0

    def peek32(self) -> int:
        """@return: the next 32 bits, without consuming them."""
        start = self.position >> 3
        window = int.from_bytes(self._data[start:start + 5], "big")
        return (window >> (8 - (self.position & 7))) & 0xFFFFFFFF

    def read(self, count: int) -> int:
        """@return: the next C{count} (at most 32) bits, consumed."""
        value = self.peek32() >> (32 - count)
        self.position += count
        return value

    def check(self) -> None:
        """
        @raise IncompleteStream: when the bits read so far run past the
            input.
        """
        if self.position > self.available:
            raise IncompleteStream("LZPF stream is cut short")


def _match_length(bits: int) -> tuple[int, int]:
    """
    @param bits: the next 32 bits of the stream, starting with the match
        flag C{1}.
    @return: C{(match length, number of bits its code takes)}.
    """
    top3 = bits >> 29
    if top3 != 0b111:
        return top3 - 0b100 + 1, 3
    extra = (bits >> 26) & 0b111
    if extra != 0b111:
        return 4 + extra, 6
    extra = (bits >> 21) & 0b11111
    if extra != 0b11111:
        return 11 + extra, 11
    return 42 + ((bits >> 13) & 0xFF), 19


def _read_event(reader: _BitReader, has_prediction: bool) -> tuple[int, int]:
    """
    Read one literal, end marker or match.

    @return: C{(symbol, 0)} for a literal or the end marker (256), or
        C{(-1, length)} for a match.
    """
    bits = reader.peek32()
    if has_prediction:
        if bits >> 31:
            length, size = _match_length(bits)
            reader.position += size
            return -1, length
        bits = (bits << 1) & 0xFFFFFFFF
        reader.position += 1
    top16 = bits >> 16
    reader.position += _DECODED_LENGTHS[top16]
    return _DECODED_LITERALS[top16], 0


def _copy_match(out: bytearray, source: int, length: int) -> None:
    """Append C{length} bytes repeating C{out} from C{source} on."""
    distance = len(out) - source
    if distance >= length:
        out += out[source:source + length]
    else:
        pattern = bytes(out[source:])
        out += (pattern * (length // distance + 1))[:length]


def decode(data: bytes, expected_length: int) -> tuple[bytes, int]:
    """
    Decode one LZPF stream at the start of C{data}.

    @param data: the stream, maybe followed by other bytes.
    @param expected_length: the uncompressed length (C{Content-length}).
    @return: C{(decoded bytes, number of bytes of C{data} the stream took)},
        the checksum, padding and final C{00} byte included.
    @raise IncompleteStream: when C{data} ends before the stream does.
    @raise LZPFError: when the stream is corrupt: an end marker too early or
        missing, output longer than C{expected_length}, a wrong checksum, or
        a non-zero padding bit or last byte.
    @raise ValueError: when C{expected_length} is negative.
    """
    if expected_length < 0:
        raise ValueError("expected length must not be negative")
    reader = _BitReader(data)
    out = bytearray()
    table = [_NO_PREDICTION] * _TABLE_SIZE
    while True:
        produced = len(out)
        predicted = _NO_PREDICTION
        if produced >= 3:
            slot = _hash(int.from_bytes(out[-3:], "big"))
            predicted = table[slot]
            table[slot] = produced
        if produced == expected_length and expected_length < 2:
            break  # such short streams carry no end marker
        symbol, length = _read_event(reader, predicted != _NO_PREDICTION)
        reader.check()
        if symbol == _END_MARKER:
            if produced != expected_length:
                raise LZPFError(
                    f"end marker after {produced} of {expected_length} bytes")
            break
        if produced == expected_length:
            raise LZPFError("no end marker after the expected length")
        if symbol >= 0:
            out.append(symbol)
            continue
        if produced + length > expected_length:
            raise LZPFError("match runs past the expected length")
        _copy_match(out, _source(produced, predicted), length)
    return bytes(out), _read_trailer(reader, out)


def _read_trailer(reader: _BitReader, out: bytearray) -> int:
    """
    Check the checksum, the padding and the final C{00} byte.

    @return: the number of bytes the whole stream took.
    """
    checksum = reader.read(16)
    padding = -reader.position & 7
    pad_bits = reader.read(padding) if padding else 0
    final_byte = reader.read(8)
    reader.check()
    if checksum != sum(out) & 0xFFFF:
        raise LZPFError("LZPF checksum does not match the decoded bytes")
    if pad_bits or final_byte:
        raise LZPFError("LZPF stream does not end in zero bits and a 00 byte")
    return reader.position >> 3


def decompress(data: bytes, expected_length: int) -> bytes:
    """
    Decode a whole body that is exactly one LZPF stream.

    @param expected_length: the uncompressed length (C{Content-length}).
    @return: the decoded bytes.
    @raise IncompleteStream: when C{data} ends before the stream does.
    @raise LZPFError: when the stream is corrupt or bytes follow it.
    """
    out, used = decode(data, expected_length)
    if used != len(data):
        raise LZPFError(f"{len(data) - used} bytes follow the LZPF stream")
    return out
