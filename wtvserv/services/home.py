"""
wtv-home: where a logged-in box lands. Written only against the public
author's API (L{wtvserv.web}), so it is also the first example to read.
"""

from __future__ import annotations

from wtvserv.interfaces import IServiceContext
from wtvserv.web import Box, WTVService, escape, page

NAME = "wtv-home"


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService(NAME, context)

    @service.route("/home")
    def home(box: Box) -> str:
        user = box.user
        links = "".join(f'<li><a href="{escape(url, quote=True)}">{escape(title)}</a></li>\n'
                        for title, url in context.homeLinks)
        return page("Home", f"""<p>Hello, {escape(user.human_name)}!</p>
<p>You are signed in as <b>{escape(user.username)}</b>.</p>
<ul>
{links}</ul>""")

    return service
