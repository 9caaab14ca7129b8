"""
Whatever bytes a box sends, split however, the protocol never raises and
only ever writes well-formed WTVP responses.
"""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_protocol import RecordingService, connect, rememberKeys, secureOn

STATUS = re.compile(rb"\d{3} [^\n]*\nConnection: (Keep-Alive|close)\n")
PIECES = st.sampled_from([b"GET wtv-test:/a\r\n", b"POST wtv-test:/b\r\n", b"SECURE ON\r\n",
                          b"Content-length: 3\r\n", b"Content-length: 99999999\r\n",
                          b"wtv-client-serial-number: 8112345600B0026b\r\n",
                          b"wtv-ticket: AAAA\r\n", b"wtv-incarnation: 7\r\n", b"\r\n", b"\n",
                          b"x: y\r\n", b"\x00\xff", b"abc"])
STREAMS = st.lists(st.one_of(PIECES, st.binary(max_size=40)), max_size=30)


def feed(protocol, chunks):
    for chunk in chunks:
        protocol.dataReceived(chunk)


def wellFormed(output: bytes) -> bool:
    return output == b"" or bool(STATUS.match(output))


@settings(max_examples=300, deadline=None)
@given(STREAMS)
def test_plaintext_garbage_never_raises(chunks):
    protocol, transport, clock = connect(RecordingService())
    feed(protocol, chunks)
    clock.advance(400)
    assert wellFormed(transport.value())


@settings(max_examples=300, deadline=None)
@given(STREAMS)
def test_garbage_after_secure_on_never_raises(chunks):
    protocol, transport, clock = connect(RecordingService())
    rememberKeys(protocol.factory.sessions)
    feed(protocol, [secureOn(3), *chunks])
    clock.advance(400)
    assert wellFormed(transport.value())
