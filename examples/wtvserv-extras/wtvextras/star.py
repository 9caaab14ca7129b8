"""
wtv-star in place of wtvserv's built-in one (its plugin says
C{replacesBuiltin = True}): the page boxes fall back to, here with a link to
the guestbook and the operator's own words from the configuration::

    [services.wtv-star]
    note = "We are moving to a new machine tonight."
"""

from wtvserv.web import Box, WTVService, escape, page


def makeService(context) -> WTVService:
    note = context.config.service("wtv-star").options.get("note", "")
    service = WTVService("wtv-star", context, wildcard=True)
    text = page("Not here yet", f"""<p>That part of the service is not here yet, or
cannot be reached right now. Please try again later.</p>
{f"<p>{escape(str(note))}</p>" if note else ""}
<p><a href="wtv-home:/home">Go home</a> or <a href="wtv-guestbook:/">sign the guestbook</a></p>""")

    def star(box: Box) -> str:
        return text

    service.fallback(star, login=False)
    return service
