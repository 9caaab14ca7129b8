"""
A simulated WebTV box for end-to-end tests, load generation and operators.

    box = Box("127.0.0.1", 1615, make_profile("classic"))
    home = await box.power_on()
    await box.post("wtv-log:/log?type=test", b"hello")
    await box.close()

Command line: C{python -m wtvserv.box HOST:PORT --profile classic}.
"""

from wtvserv.box.client import (
    PREREGISTER_URL,
    PROFILE_KINDS,
    RELOGIN_URL,
    Box,
    BoxError,
    BoxProfile,
    ConnectionClosed,
    Headers,
    Response,
    ServiceConnection,
    ServiceEntry,
    make_profile,
    make_ssid,
    read_response,
)

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
