"""
wtv-log: stores what boxes report (logs, phone logs, crash reports) with
time, SSID and kind, and answers an empty C{200 OK} (PROTOCOL.md 8). The
store bounds what is kept; nothing a box sends names a file.
"""

from __future__ import annotations

from twisted.logger import Logger

from wtvserv.interfaces import IServiceContext
from wtvserv.services.common import requireSSID
from wtvserv.throttle import SlidingWindow
from wtvserv.web import Box, Response, WTVService, error

log = Logger()
NAME = "wtv-log"
KINDS = {"/log": "log", "/phone-log": "phone-log", "/crash-log": "crash-log",
         "/post-crash-log": "crash-log", "/post-phone-log": "phone-log"}


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService(NAME, context)
    reports = SlidingWindow(context.reactor, context.config.logsPerAddress,
                            context.config.logWindow, exempt=context.exemptFromLimits)

    @requireSSID
    async def report(box: Box) -> Response:
        if reports.exceeded(box.address):
            log.warn("{client}: report refused, too many from this address", client=box.address)
            return error(403, "Too many reports from your connection. Please try later.")
        reports.record(box.address)
        query = box.query
        kind = query.get("type") or KINDS[box.request.path]
        stored = await context.logs.add(box.ssid, kind, query, box.request.body)
        log.info("{ssid}: stored {kind} report {id} ({n} bytes)",
                 ssid=box.loggedSSID, kind=kind, id=stored, n=len(box.request.body))
        return Response()

    for path in KINDS:
        service.route(path, login=False)(report)
    return service
