"""
wtv-star: where boxes land when a service cannot be reached, and, announced
also as C{wtv-*}, for every service they have no entry for. Every path shows
the same page, no login needed. A plugin can put its own page in its place
(C{replacesBuiltin}; C{examples/wtvserv-extras} does).
"""

from __future__ import annotations

from wtvserv.interfaces import IServiceContext
from wtvserv.services.common import STAR
from wtvserv.web import Box, WTVService, page

PAGE = page("Service unavailable", """<p>The service you asked for cannot be reached
right now. Please try again in a few minutes.</p>
<p><a href="wtv-home:/home">Go home</a></p>""")


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService(STAR, context, wildcard=True)

    def star(box: Box) -> str:
        return PAGE

    service.fallback(star, login=False, account=False)
    return service
