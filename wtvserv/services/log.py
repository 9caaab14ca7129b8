"""
wtv-log: stores what boxes report (logs, phone logs, crash reports) with
time, SSID and kind, and answers an empty C{200 OK} (PROTOCOL.md 8). The
store bounds what is kept; nothing a box sends names a file. A report is
stored as the SSID's own only when a user of its account sent it, logged in
on the ticket's own keys (anyone can answer an SSID's challenge, but not
sign up accounts at will); any other counts against the address that sent
it (L{wtvserv.logstore}).
"""

from __future__ import annotations

from twisted.logger import Logger

from wtvserv.interfaces import IServiceContext
from wtvserv.logstore import sanitise_kind
from wtvserv.services.common import requireSSID
from wtvserv.web import Box, Response, WTVService, error

log = Logger()
NAME = "wtv-log"
KINDS = {"/log": "log", "/phone-log": "phone-log", "/crash-log": "crash-log",
         "/post-crash-log": "crash-log", "/post-phone-log": "phone-log"}


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService(NAME, context)
    reports = context.rateWindow("reports", context.config.logsPerAddress,
                                 context.config.logWindow, byAddress=True)

    @requireSSID
    async def report(box: Box) -> Response:
        if reports.exceeded(box.address):
            log.warn("{client}: report refused, too many from this address", client=box.address)
            return error(403, "Too many reports from your connection. Please try later.")
        reports.record(box.address)
        query = box.query
        kind = sanitise_kind(query.get("type") or KINDS[box.request.path])
        sender = None if box.loggedIn else box.address
        logId = await context.logs.add(box.ssid, kind, query, box.request.body, sender)
        log.info("{ssid}: stored {kind} report {id} ({n} bytes, {source})",
                 ssid=box.loggedSSID, kind=kind, id=logId, n=len(box.request.body),
                 source="from its ticket holder" if sender is None else f"from {sender}")
        return Response()

    for path in KINDS:
        service.route(path, login=False)(report)
    return service
