"""
The plugins of the wtvserv-extras distribution. This module is imported
whenever wtvserv looks for plugins, so it only declares them; the service
code is imported when a service is built.
"""

from zope.interface import implementer

from wtvserv.interfaces import IWTVServicePlugin


@implementer(IWTVServicePlugin)
class StarPlugin:
    name = "wtv-star"
    replacesBuiltin = True  # takes the place of wtvserv's own wtv-star
    defaultPort = 1603
    flags = 0x7  # as known-good servers announce it: no encryption, wide open
    connections = None
    description = "the fall-back page, with a link to the guestbook"

    def makeService(self, context):
        from wtvextras.star import makeService
        return makeService(context)


@implementer(IWTVServicePlugin)
class GuestbookPlugin:
    name = "wtv-guestbook"
    defaultPort = 1630
    flags = 0
    connections = None
    description = "a guestbook every signed-in box can read and sign"
    homeLink = ("Sign the guestbook", "wtv-guestbook:/")

    def makeService(self, context):
        from wtvextras.guestbook import makeService
        return makeService(context)


star = StarPlugin()
guestbook = GuestbookPlugin()
