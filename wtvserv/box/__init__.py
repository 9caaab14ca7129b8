"""
A simulated WebTV box for end-to-end tests, load generation and operators.

    box = Box("127.0.0.1", 1615, make_profile("classic"))
    home = await box.power_on()
    await box.post("wtv-log:/log?type=test", b"hello")
    await box.close()

Modules: L{profile} (who the box is), L{headers} (which headers go on
which request), L{messages} (one request or response on the wire),
L{connection} (one TCP connection), L{navigator} (where to go next) and
L{client} (the box and its power-on flow).

Command line: C{python -m wtvserv.box HOST:PORT --profile classic}.
"""

from wtvserv.box.client import Box
from wtvserv.box.connection import ServiceConnection
from wtvserv.box.errors import BoxError, ConnectionClosed
from wtvserv.box.messages import Response, read_response
from wtvserv.box.navigator import PREREGISTER_URL, RELOGIN_URL
from wtvserv.box.profile import (
    PROFILE_KINDS,
    BoxProfile,
    make_profile,
    make_ssid,
)
from wtvserv.directory import ServiceEntry
from wtvserv.wire import Headers

__all__ = [
    "PREREGISTER_URL",
    "PROFILE_KINDS",
    "RELOGIN_URL",
    "Box",
    "BoxError",
    "BoxProfile",
    "ConnectionClosed",
    "Headers",
    "Response",
    "ServiceConnection",
    "ServiceEntry",
    "make_profile",
    "make_ssid",
    "read_response",
]
