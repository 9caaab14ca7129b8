"""
wtv-star: boxes are sent here when a service cannot be reached (it is also
announced as C{wtv-*}). Every path shows the same page, no login needed.
"""

from wtvserv.web import Box, WTVService, page

PAGE = page("Service unavailable", """<p>The service you asked for cannot be reached
right now. Please try again in a few minutes.</p>
<p><a href="wtv-home:/home">Go home</a></p>""")


def makeService(context) -> WTVService:
    service = WTVService("wtv-star", context, wildcard=True)

    @service.route("/star", login=False)
    def star(box: Box) -> str:
        return PAGE

    service.fallback(star, login=False)
    return service
