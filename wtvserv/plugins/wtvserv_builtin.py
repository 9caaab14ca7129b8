"""
The built-in wtv- services, declared through the same plugin interface a
third-party service uses. Service code is imported only when a service is
built, so plugin discovery stays cheap.
"""

from importlib import import_module

from zope.interface import implementer

from wtvserv.interfaces import IWTVServicePlugin

#: Body limits: a form a box posts is a few hundred bytes; a report is kept
#: up to the log store's 64 KiB.
FORM_BODY = 4096
REPORT_BODY = 64 * 1024


@implementer(IWTVServicePlugin)
class BuiltinService:
    def __init__(self, name: str, defaultPort: int, module: str, description: str,
                 flags: int = 0, connections: int | None = None, maxBody: int = FORM_BODY) -> None:
        self.name = name
        self.maxBody = maxBody
        self.defaultPort = defaultPort
        self.flags = flags
        self.connections = connections
        self.description = description
        self._module = module

    def makeService(self, context):
        return import_module(self._module).makeService(context)


preregistration = BuiltinService(
    "wtv-1800", 1615, "wtvserv.services.preregistration",
    "pre-registration: hands out the initial key", flags=0x1, connections=1)
headWaiter = BuiltinService(
    "wtv-head-waiter", 1601, "wtvserv.services.headwaiter",
    "login: challenge, tickets, users, passwords", connections=1)
register = BuiltinService(
    "wtv-register", 1607, "wtvserv.services.register", "sign-up for new boxes",
    maxBody=2 * FORM_BODY)
logs = BuiltinService(
    "wtv-log", 1609, "wtvserv.services.log", "stores what boxes report", connections=1,
    maxBody=REPORT_BODY)
home = BuiltinService(
    "wtv-home", 1612, "wtvserv.services.home", "the home page")
star = BuiltinService(
    "wtv-star", 1603, "wtvserv.services.star",
    "the page boxes fall back to, also announced as wtv-*",
    flags=0x7)  # as known-good servers announce it: no encryption, wide open
