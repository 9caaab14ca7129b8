"""
The LZSS of TellyScript files (PROTOCOL.md 14.3).

L{expand} reads any stream, 18-byte matches included. L{compress} is the
anchor's encoder, byte for byte: a 4096-byte ring whose bytes past the end
of the input take part in comparisons, candidate lists per bucket of the
next three bytes, matches of 3 to 17 bytes at most 4078 back, and never a
reference before the start of the output.
"""

from __future__ import annotations

RING = 4096
LOOKAHEAD = 18
LONGEST = 17
SHORTEST = 3
_START = RING - LOOKAHEAD


def expand(data: bytes, size: int = 0) -> bytes:
    """
    @param size: stop once the output has this many bytes (after the whole
        item that reaches it, as the anchor does); C{0}: decode everything.
    @return: the decoded bytes. A reference before the start reads zeros.
    """
    out = bytearray()
    at, end = 0, len(data)
    while at < end:
        flags = data[at]
        at += 1
        for bit in range(8):
            if at >= end or (size and len(out) >= size):
                break
            if flags >> bit & 1:
                out.append(data[at])
                at += 1
                continue
            if at + 1 >= end:
                return bytes(out)
            low, high = data[at], data[at + 1]
            at += 2
            distance = ((high & 0xF0) << 4 | low) + 1
            for _ in range((high & 0x0F) + SHORTEST):
                out.append(out[-distance] if distance <= len(out) else 0)
        if size and len(out) >= size:
            break
    return bytes(out)


class _Candidates:
    """
    Every ring position inserted, in one ordered list per bucket (the
    position's byte and a fold of the next two), as doubly linked arrays.
    """

    def __init__(self, ring: bytearray) -> None:
        self.ring = ring
        self.head: dict[int, int] = {}
        self.tail: dict[int, int] = {}
        self.next = [-1] * RING
        self.prev = [-1] * RING
        self.bucket = [-1] * RING

    def insert(self, p: int) -> tuple[int, int]:
        """
        Add position C{p}; @return: the longest match found for it, as
        C{(length, position)}, the first of equal lengths winning.
        """
        ring = self.ring
        mixed = ring[p + 1] ^ ring[p + 2]
        key = ring[p] << 4 | ((mixed ^ mixed >> 4) & 0x0F)
        best, bestAt = 0, 0
        q = self.head.get(key, -1)
        while q != -1:
            length = 1
            while length < LONGEST and ring[p + length] == ring[q + length]:
                length += 1
            if length > best:
                best, bestAt = length, q
            if length == LONGEST:
                self._replace(q, p)
                return best, bestAt
            q = self.next[q]
        self._append(key, p)
        return best, bestAt

    def remove(self, p: int) -> None:
        key = self.bucket[p]
        if key != -1:
            self._link(key, self.prev[p], self.next[p])
            self.bucket[p] = -1

    def _append(self, key: int, p: int) -> None:
        self._link(key, self.tail.get(key, -1), p)
        self._link(key, p, -1)
        self.bucket[p] = key

    def _replace(self, old: int, new: int) -> None:
        key = self.bucket[old]
        self._link(key, self.prev[old], new)
        self._link(key, new, self.next[old])
        self.bucket[new], self.bucket[old] = key, -1

    def _link(self, key: int, before: int, after: int) -> None:
        """Make C{after} follow C{before} in bucket C{key} (-1: the list's end)."""
        if before == -1:
            self.head[key] = after
        else:
            self.next[before] = after
        if after == -1:
            self.tail[key] = before
        else:
            self.prev[after] = before


def compress(data: bytes) -> bytes:
    """@return: C{data} compressed exactly as the anchor's encoder does."""
    if not data:
        return b""
    ring = bytearray(b" " * (_START + 1) + bytes(RING + LONGEST - _START - 1))
    ahead = min(LOOKAHEAD, len(data))
    ring[_START:_START + ahead] = data[:ahead]
    taken = ahead
    candidates = _Candidates(ring)
    s, r = 0, _START
    length, at = candidates.insert(r)
    out, group, mask = bytearray(), bytearray(1), 1
    while ahead > 0:
        length = min(length, ahead)
        if length >= SHORTEST:
            distance = (r - at - 1) % RING
            group += bytes((distance & 0xFF, (distance >> 4) & 0xF0 | (length - SHORTEST)))
        else:
            group[0] |= mask
            group.append(ring[r])
            length = 1
        mask <<= 1
        if mask == 0x100:
            out += group
            group, mask = bytearray(1), 1
        for _ in range(length):
            candidates.remove(s)
            if taken < len(data):
                ring[s] = data[taken]
                if s < LONGEST:
                    ring[RING + s] = data[taken]
                taken += 1
            else:
                ahead -= 1
            s, r = (s + 1) % RING, (r + 1) % RING
            if ahead > 0:
                length, at = candidates.insert(r)
    if mask != 1:
        out += group
    return bytes(out)
