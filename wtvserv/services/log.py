"""
wtv-log: stores what boxes report (logs, phone logs, crash reports) with
time, SSID and kind, and answers an empty C{200 OK} (PROTOCOL.md 8). The
store bounds what is kept; nothing a box sends names a file.
"""

from __future__ import annotations

from twisted.logger import Logger

from wtvserv.interfaces import IServiceContext
from wtvserv.services.common import requireSSID
from wtvserv.web import Box, Response, WTVService

log = Logger()
NAME = "wtv-log"
KINDS = {"/log": "log", "/phone-log": "phone-log", "/crash-log": "crash-log",
         "/post-crash-log": "crash-log", "/post-phone-log": "phone-log"}


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService(NAME, context)

    @requireSSID
    def report(box: Box) -> Response:
        query = box.query
        kind = query.get("type") or KINDS[box.request.path]
        logId = context.logs.add(box.ssid, kind, query, box.request.body)
        log.info("{ssid}: stored {kind} report {id} ({n} bytes)",
                 ssid=box.ssid, kind=kind, id=logId, n=len(box.request.body))
        return Response()

    for path in KINDS:
        service.route(path, login=False)(report)
    return service
