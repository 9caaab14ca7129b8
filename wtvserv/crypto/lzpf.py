"""
LZPF, the compression of WTVP bodies sent with C{wtv-lzpf: 0}.

LZPF is an LZP scheme: both sides hash the last three bytes to pick one
earlier position, the "prediction", and the stream only says whether the
coming bytes repeat what followed that position (a match, given by its
length) or not (a literal, in a fixed prefix code tuned for English HTML).
The stream ends with an end marker, the 16-bit sum of the input bytes, zero
padding to a byte and one C{00} byte. The receiver must know the
uncompressed length: a WTVP response keeps it in C{Content-length}.

The layout is PROTOCOL.md section 10.2. One deliberate difference from the
anchor server: the byte is compared with the prediction I{before} it is
stored in the 8 KiB ring, so a prediction exactly 8192 bytes back is
decodable (the anchor's encoder wrongly reports a match there).

Two implementations give the same bytes and the same errors: a C
accelerator (C{_lzpf_c}, built by C{pip install} where a compiler is
present) and the pure-Python fallback (C{_lzpf_python}).
L{IMPLEMENTATION} says which one this process uses, and
L{FALLBACK_REASON} why it is not the C one.
"""

from __future__ import annotations

from wtvserv.accelerators import importedOrWhyNot
from wtvserv.crypto import _lzpf_python
from wtvserv.crypto._lzpf_python import MAX_MATCH, WINDOW, IncompleteStream, LZPFError

__all__ = ["FALLBACK_REASON", "IMPLEMENTATION", "IncompleteStream", "LZPFError",
           "MAX_MATCH", "WINDOW", "compress", "decode", "decompress"]

_lzpf_c, FALLBACK_REASON = importedOrWhyNot("wtvserv.crypto._lzpf_c")
"""C{FALLBACK_REASON}: why the C accelerator is not in use, or L{None} when it is."""
_codec = _lzpf_python if _lzpf_c is None else _lzpf_c

IMPLEMENTATION = "python" if _codec is _lzpf_python else "c"
"""C{"c"} or C{"python"}: which codec L{compress} and L{decode} are."""

compress = _codec.compress
decode = _codec.decode
decompress = _codec.decompress
