"""
Shared pieces of the fuzz tests: hypothesis settings, and strategies that
start from a valid sample and damage it.

A mutation is a short list of edits drawn by hypothesis, each applied to the
result of the previous one: flip a bit, overwrite, insert or delete bytes,
cut the tail off, duplicate a slice, or splice in a token that means
something to the parser (a line end, a colon, a percent sign...). Since every
choice is a hypothesis draw, a failing case shrinks towards the fewest and
smallest edits. L{chunked} splits bytes into the reads a connection sees.

The suite runs each property a few hundred times; C{bench/fuzz_campaign.py}
runs the same properties much longer by setting C{WTVSERV_FUZZ_EXAMPLES},
which L{fuzzSettings} reads when a test module is imported.
"""

from __future__ import annotations

import os
from urllib.parse import quote_plus

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

EXAMPLES_VARIABLE = "WTVSERV_FUZZ_EXAMPLES"
#: Set (to anything) to skip explicit examples and the replay of saved
#: failures: only new cases are generated, so a property with a known
#: failure still explores.
EXPLORE_VARIABLE = "WTVSERV_FUZZ_EXPLORE_ONLY"

#: Tokens worth splicing into WTVP bytes: framing, header syntax, form syntax.
WIRE_TOKENS = (b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\n", b": ", b":", b" ", b"\x00",
               b"\xff", b"%", b"%0", b"%zz", b"%00", b"=", b"&", b"?", b"/", b"+",
               b"SECURE ON\r\n", b"GET ", b"POST ", b"Content-length: ", b"9999999999",
               b"wtv-incarnation: ", b"wtv-ticket: ", b"wtv-client-serial-number: ")

#: What base64 text is made of, and the characters that come near it.
BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
BASE64_TOKENS = (b"=", b"==", b"A", b"/", b"+", b"-", b"_", b" ", b"\t", b"\r\n", b"\x00",
                 b"\xe9", b"AAAA", b"====")

#: Field values worth a handler's while: empty, signs, floats and hex where
#: numbers go, digits C{int()} refuses although C{isdigit()} accepts them
#: (the superscripts of ISO-8859-1), markup, form syntax, NUL, a long value.
FORM_VALUES = ("", "0", "1", "255", "-1", "+1", " 1", "1.0", "1e3", "0x1", "\xb2", "1\xb9",
               "\xb3\xb3", "true", "yes", "on", "<x-fuzz>", '"', "&", "=", "%", "\x00",
               "\xe9", "A" * 300)

_EDITS = ("flip", "replace", "insert", "delete", "truncate", "duplicate", "splice")


def fuzzSettings(examples: int) -> settings:
    """
    @param examples: how many cases the property runs in the suite.
    @return: settings for a fuzz property: no deadline (the first case pays
        for imports), the slow-data health checks off, and C{examples} cases
        unless C{WTVSERV_FUZZ_EXAMPLES} asks for another number (and, with
        C{WTVSERV_FUZZ_EXPLORE_ONLY}, only generated cases).
    """
    override = os.environ.get(EXAMPLES_VARIABLE)
    phases = tuple(Phase)
    if os.environ.get(EXPLORE_VARIABLE):
        phases = tuple(phase for phase in Phase if phase not in (Phase.explicit, Phase.reuse))
    return settings(max_examples=int(override) if override else examples, deadline=None,
                    phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _byte(alphabet: bytes | None) -> st.SearchStrategy[int]:
    if alphabet is None:
        return st.integers(0, 255)
    return st.sampled_from(alphabet)


@st.composite
def _edit(draw, data: bytes, alphabet: bytes | None, tokens: tuple[bytes, ...]) -> bytes:
    """One edit of C{data}."""
    kind = draw(st.sampled_from(_EDITS))
    size = len(data)
    if size == 0 and kind in ("flip", "replace", "delete", "truncate", "duplicate"):
        kind = "insert"
    if kind == "flip":
        at, bit = draw(st.integers(0, size - 1)), draw(st.integers(0, 7))
        return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]
    if kind == "replace":
        at = draw(st.integers(0, size - 1))
        return data[:at] + bytes([draw(_byte(alphabet))]) + data[at + 1:]
    if kind == "insert":
        at = draw(st.integers(0, size))
        new = bytes(draw(st.lists(_byte(alphabet), min_size=1, max_size=8)))
        return data[:at] + new + data[at:]
    if kind == "delete":
        at = draw(st.integers(0, size - 1))
        return data[:at] + data[at + draw(st.integers(1, 16)):]
    if kind == "truncate":
        return data[:draw(st.integers(0, size - 1))]
    if kind == "duplicate":
        start = draw(st.integers(0, size - 1))
        end = draw(st.integers(start + 1, min(size, start + 64)))
        at = draw(st.integers(0, size))
        return data[:at] + data[start:end] + data[at:]
    at = draw(st.integers(0, size))
    return data[:at] + draw(st.sampled_from(tokens)) + data[at:]


@st.composite
def mutated(draw, sample: bytes | st.SearchStrategy[bytes], minEdits: int = 1,
            maxEdits: int = 4, alphabet: bytes | None = None,
            tokens: tuple[bytes, ...] = WIRE_TOKENS) -> bytes:
    """
    C{sample} (bytes, or a strategy drawing them) after C{minEdits} to
    C{maxEdits} edits. The result may equal the sample (a bit flipped twice,
    a byte replaced by itself): properties must allow for that.

    @param alphabet: the bytes inserted and written by C{insert} and
        C{replace}; any byte when L{None}. Bit flips ignore it.
    @param tokens: what C{splice} may insert.
    """
    data = draw(sample) if isinstance(sample, st.SearchStrategy) else bytes(sample)
    for _ in range(draw(st.integers(minEdits, maxEdits))):
        data = draw(_edit(data, alphabet, tokens))
    return data


def mutatedText(sample: str | st.SearchStrategy[str], minEdits: int = 1, maxEdits: int = 4,
                alphabet: bytes | None = BASE64_ALPHABET,
                tokens: tuple[bytes, ...] = BASE64_TOKENS) -> st.SearchStrategy[str]:
    """
    L{mutated} for text: the edits work on the ISO-8859-1 bytes of
    C{sample}, the character set of header values on the wire.
    """
    if isinstance(sample, st.SearchStrategy):
        raw = sample.map(lambda text: text.encode("latin-1"))
    else:
        raw = sample.encode("latin-1")
    return mutated(raw, minEdits, maxEdits, alphabet, tokens).map(
        lambda data: data.decode("latin-1"))


@st.composite
def chunked(draw, data: bytes, maxCuts: int = 8) -> list[bytes]:
    """
    C{data} split into the reads a connection might see: up to C{maxCuts}
    cuts anywhere, empty reads included.
    """
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=maxCuts)))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


_KNOWN_VALUE = st.sampled_from(FORM_VALUES)
#: Known troublemakers three times in four, any short text otherwise.
_FIELD_TEXT = st.one_of(_KNOWN_VALUE, _KNOWN_VALUE, _KNOWN_VALUE,
                        st.text(st.characters(max_codepoint=0xff), max_size=12))
#: What a form edit does to a field; mostly it changes a value.
_FIELD_EDITS = ("value", "value", "value", "name", "drop", "repeat", "add")


@st.composite
def _fieldText(draw, raw: bool) -> bytes:
    """A field name or value, percent-encoded as a form sends it, or (if C{raw}) maybe not."""
    text = draw(_FIELD_TEXT)
    if raw and draw(st.booleans()):
        return text.encode("latin-1")
    return quote_plus(text, encoding="latin-1").encode("ascii")


@st.composite
def mutatedForm(draw, sample: bytes, maxEdits: int = 3,
                tokens: tuple[bytes, ...] = WIRE_TOKENS, raw: bool = True,
                alphabet: bytes | None = None) -> bytes:
    """
    An urlencoded form (C{a=1&b=2}) with fields' values or names replaced
    (often by one of L{FORM_VALUES}), fields dropped, repeated or added,
    then a few byte-level edits of L{mutated}.

    @param raw: whether new text may go in unencoded (a body may hold any
        byte; a URL's query may not).
    @param alphabet, tokens: for the byte-level edits, as in L{mutated}.
    """
    fields = [list(field.partition(b"=")) for field in sample.split(b"&")] if sample else []
    for _ in range(draw(st.integers(0, maxEdits))):
        kind = draw(st.sampled_from(_FIELD_EDITS))
        if not fields or kind == "add":
            fields.insert(draw(st.integers(0, len(fields))),
                          [draw(_fieldText(raw)), b"=", draw(_fieldText(raw))])
            continue
        field = fields[draw(st.integers(0, len(fields) - 1))]
        if kind == "value":
            field[1:] = [b"=", draw(_fieldText(raw))]
        elif kind == "name":
            field[0] = draw(_fieldText(raw))
        elif kind == "drop":
            fields.remove(field)
        else:
            fields.append([field[0], b"=", draw(_fieldText(raw))])
    form = b"&".join(b"".join(field) for field in fields)
    return draw(mutated(form, minEdits=0, maxEdits=2, alphabet=alphabet, tokens=tokens))
