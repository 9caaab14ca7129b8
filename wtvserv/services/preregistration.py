"""
wtv-1800: a box's first contact and the target of every relogin. It hands
out the DES key the box answers its next challenge with (C{wtv-initial-key}),
replaces the box's service list and sends it to the headwaiter (PROTOCOL.md 5).
"""

from __future__ import annotations

from base64 import b64encode

from twisted.logger import Logger

from wtvserv.interfaces import IServiceContext
from wtvserv.services.common import clockHeaders, requireSSID, serviceHeaders
from wtvserv.throttle import SlidingWindow, minutesText
from wtvserv.web import Box, Response, WTVService, error

log = Logger()

LOGIN = "wtv-head-waiter:/login"
BOOT_SERVICES = ["wtv-1800", "wtv-head-waiter", "wtv-star", "wtv-flashrom"]


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService("wtv-1800", context)
    config = context.config
    offers = SlidingWindow(context.reactor, config.preregistersPerAddress, config.loginWindow,
                           exempt=context.exemptFromLimits)

    @service.route("/preregister", login=False)
    @requireSSID
    def preregister(box: Box) -> Response:
        if offers.exceeded(box.address):
            log.warn("{client}: pre-registration refused, too many from this address",
                     client=box.address)
            wait = minutesText(offers.retryAfter(box.address))
            return error(403, f"Too many logins from your connection. Please wait {wait} "
                              "and try again.")
        offers.record(box.address)
        key = context.random(8)
        # Only offered: the box proves it holds the key by answering the
        # challenge, so a stranger claiming this SSID replaces nothing.
        context.sessions.offerKey(box.ssid, key, box.address)
        reconnect = box.query.get("reconnect") == "true"
        relogin = box.query.get("relogin") == "true"
        headers = [("wtv-initial-key", b64encode(key).decode("ascii"))]
        if reconnect:
            names = list(BOOT_SERVICES)
            if context.accounts.accountFor(box.ssid) is None:
                names.append("wtv-register")
            headers += serviceHeaders(context, names)
        else:
            headers += serviceHeaders(context, BOOT_SERVICES, reset=True)
        headers.append(("wtv-boot-url", LOGIN + "?relogin=true"))
        if not reconnect:
            headers.append(("wtv-visit", LOGIN + ("?relogin=true" if relogin else "?")))
        headers += clockHeaders(context)
        return Response(headers=headers)

    return service
