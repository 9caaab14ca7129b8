"""
wtv-1800: a box's first contact and the target of every relogin. It hands
out the DES key the box answers its next challenge with (C{wtv-initial-key}),
replaces the box's service list, sends it to the headwaiter (PROTOCOL.md 5)
and, when the operator configured one for the box, a TellyScript or
DialScript (14.10, 14.11).
"""

from __future__ import annotations

from base64 import b64encode
from dataclasses import replace

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from wtvserv.directory import DONT_ENCRYPT_REQUESTS
from wtvserv.interfaces import IServiceContext
from wtvserv.services.common import STAR, WILDCARD, clockHeaders, requireSSID, serviceHeaders
from wtvserv.tellyscript.catalog import Script, flashMode, scriptNumber, wantsOpenISP
from wtvserv.throttle import minutesText
from wtvserv.tickets import ExpiredTicket
from wtvserv.web import Box, Response, WTVService, error

log = Logger()


LOGIN = "wtv-head-waiter:/login"
BOOT_SERVICES = ["wtv-1800", "wtv-head-waiter", "wtv-star", "wtv-flashrom"]


def flashServiceHeaders(context: IServiceContext) -> list[tuple[str, str]]:
    """
    The service list of a classic in flash mode (14.11): no wtv-1800, the
    headwaiter without encryption, only the C{wtv-*} line of wtv-star.
    """
    directory, lines = context.directory, [("wtv-service", "reset")]
    headWaiter, star = directory.get("wtv-head-waiter"), directory.get(STAR)
    if headWaiter is not None:
        lines.append(("wtv-service", replace(headWaiter, flags=DONT_ENCRYPT_REQUESTS).header()))
    if star is not None:
        lines.append(("wtv-service", replace(star, name=WILDCARD).header()))
    return lines + serviceHeaders(context, ["wtv-flashrom"])


def unreadableTicket(box: Box) -> bool:
    """
    Whether the box holds a ticket we cannot read: another server's, or a
    damaged one. It would open the head-waiter with SECURE ON keyed by that
    ticket, which no one here can decrypt, so it is told to log in in clear,
    as boxes did on the original service; with the ticket it gets there it
    is told to encrypt again.
    """
    problem = box.request.ticketError
    return problem is not None and not isinstance(problem, ExpiredTicket)


def scriptToSend(context: IServiceContext, box: Box, flash: bool) -> Script | None:
    """
    A box in flash mode always gets its script; otherwise a box gets the
    script configured for it unless it holds it already, never on a
    relogin, and on a reconnect only when it says it holds none.
    """
    script = context.tellyscripts.forBox(box.headers, box.ssid)
    if script is None or flash:
        return script
    if box.query.get("relogin") == "true":
        return None
    if box.query.get("reconnect") == "true":
        return script if scriptNumber(box.header("wtv-script-id")) == 0 else None
    return None if script.heldBy(box.headers) else script


def makeService(context: IServiceContext) -> WTVService:
    service = WTVService("wtv-1800", context)
    config = context.config
    offers = context.rateWindow("preregistrations", config.preregistersPerAddress,
                                config.loginWindow, byAddress=True)

    @service.route("/preregister", login=False, account=False)
    @requireSSID
    def preregister(box: Box) -> Response | Deferred:
        if offers.exceeded(box.address):
            log.warn("{client}: pre-registration refused, too many from this address",
                     client=box.address)
            wait = minutesText(offers.retryAfter(box.address))
            return error(403, f"Too many logins from your connection. Please wait {wait} "
                              "and try again.")
        offers.record(box.address)
        if box.query.get("reconnect") == "true":
            # Only a reconnecting box is told of wtv-register, if it has no account.
            return box.loadAccount().addCallback(offer)
        return offer(box)

    def offer(box: Box) -> Response | Deferred:
        key = context.random(8)
        # Only offered: the box proves it holds the key by answering the
        # challenge, so a stranger claiming this SSID replaces nothing.
        context.sessions.offerKey(box.ssid, key, box.address)
        reconnect = box.query.get("reconnect") == "true"
        relogin = box.query.get("relogin") == "true"
        flash = flashMode(box.headers)
        headers = [("wtv-initial-key", b64encode(key).decode("ascii"))]
        if flash:
            headers += flashServiceHeaders(context)
            headers += [("wtv-boot-url", LOGIN + "?"), ("wtv-visit", LOGIN + "?")]
        else:
            inClear = ("wtv-head-waiter",) if unreadableTicket(box) else ()
            if reconnect:
                names = list(BOOT_SERVICES)
                if box.account is None:
                    names.append("wtv-register")
                headers += serviceHeaders(context, names, inClear=inClear)
            else:
                headers += serviceHeaders(context, BOOT_SERVICES, reset=True, inClear=inClear)
            headers.append(("wtv-boot-url", LOGIN + "?relogin=true"))
            if not reconnect:
                headers.append(("wtv-visit", LOGIN + ("?relogin=true" if relogin else "?")))
            if wantsOpenISP(box.headers):
                headers.append(("wtv-open-isp-disabled", "false"))
        headers += clockHeaders(context)
        script = scriptToSend(context, box, flash)
        if script is None:
            response = Response(headers=headers)
        else:
            log.info("{ssid} at {client}: sending {kind} {path}",
                     ssid=box.loggedSSID, client=box.address, kind=script.contentType,
                     path=script.path.name)
            response = Response(headers=headers, body=script.data,
                                contentType=script.contentType)
        if context.shared is None:
            return response
        # Several hosts: the headwaiter that gets the box may be another's.
        sharing = context.shared.offerKey(box.ssid, box.address, key,
                                          context.config.sessionLifetime,
                                          context.config.sessionCapacity)
        return sharing.addCallback(lambda _: response)

    return service
