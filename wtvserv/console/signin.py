"""
Signing in to the console and out of it: the sign-in page, its form (whose
CSRF token is that of its own cookie, as no session exists yet), the
password checked off the reactor, the one-time link, and the limit on
failures per address, counted before the slow check.
"""

from __future__ import annotations

import math
import re
import secrets

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from wtvserv.console.access import (
    LINK_FILE,
    OneTimeLink,
    Sessions,
    passwordIsSet,
    passwordMatches,
    sameSecret,
)
from wtvserv.console.http import peerName
from wtvserv.console.resource import Reply, cookie, cookieHeader, expiredCookie, redirect
from wtvserv.throttle import SlidingWindow

log = Logger()

SESSION_COOKIE = b"wtvserv-console"
SIGNIN_COOKIE = b"wtvserv-console-signin"
#: Failed sign-ins allowed per address in L{SIGNIN_WINDOW} seconds.
SIGNIN_ATTEMPTS = 5
SIGNIN_WINDOW = 300.0
#: Password checks (scrypt) running at once; more are asked to try again.
MAX_CHECKS = 4
FORM_EXPIRED = "This form has expired. Reload the page and try again."
TOKEN_BYTES = 32
#: What L{secrets.token_urlsafe} makes of L{TOKEN_BYTES}: a cookie of
#: another shape is not taken as a token.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


class SignIn:
    """
    The sessions of one console, and how they are opened and closed.

    @param console: the L{wtvserv.console.pages.Console}, for its pages and audit log.
    """

    def __init__(self, console, sessionLifetime: float) -> None:
        self.console = console
        server = console.server
        self.reactor, self.workers = server.reactor, server.workers
        self.dataDir = server.config.dataDir
        self.sessions = Sessions(self.reactor, sessionLifetime)
        self.link = OneTimeLink(self.reactor)
        self.failures = SlidingWindow(self.reactor, SIGNIN_ATTEMPTS, SIGNIN_WINDOW)
        self.checking = 0

    def session(self, request):
        """@return: the live session of the request's cookie, or L{None}."""
        return self.sessions.find(cookie(request, SESSION_COOKIE))

    async def page(self, request, form: dict[str, str]) -> Reply:
        """GET /signin: the form, or the one-time link's sign-in."""
        if "once" in form:
            return await self.withLink(request, form["once"])
        if self.session(request):
            return redirect("/")
        expired = "Your session has expired. Please sign in again."
        return self.form(request, 200, expired if cookie(request, SESSION_COOKIE) else None)

    def form(self, request, status: int = 200, problem: str | None = None) -> Reply:
        """
        The sign-in page, with its form's token (and its cookie). A token
        the browser holds already is kept: a second tab, or the browser's
        own request for an icon sent here, must not void the form on screen.
        """
        held = cookie(request, SIGNIN_COOKIE)
        token = held if held and _TOKEN.fullmatch(held) else secrets.token_urlsafe(TOKEN_BYTES)
        reply = self.console.render("signin.html", status, problem=problem, csrf=token,
                                    passwordSet=passwordIsSet(self.dataDir))
        reply.headers += [(b"Set-Cookie", cookieHeader(request, SIGNIN_COOKIE, token)),
                          (b"Set-Cookie", expiredCookie(SESSION_COOKIE))]
        return reply

    def tooMany(self, request, address: str) -> Reply | None:
        """@return: the refusal of an address that failed too often lately, else L{None}."""
        wait = math.ceil(self.failures.retryAfter(address))
        if wait <= 0:
            return None
        log.warn("console: a sign-in from {client} refused, too many attempts", client=address)
        reply = self.form(request, 429, f"Too many sign-in attempts; try again in {wait} seconds.")
        reply.headers.append((b"Retry-After", str(wait).encode()))
        return reply

    async def withLink(self, request, token: str) -> Reply:
        """GET /signin?once=TOKEN: good once, and only while no password is set."""
        address = peerName(request.getClientAddress())
        refused = self.tooMany(request, address)
        if refused is not None:
            return refused
        if passwordIsSet(self.dataDir):
            self.link.revoke()
        if not self.link.use(token):
            self.failures.record(address)
            log.warn("console: a used, expired or wrong sign-in link from {client}",
                     client=address)
            return self.form(request, 403, "This sign-in link has been used or has expired.")
        (self.dataDir / LINK_FILE).unlink(missing_ok=True)
        return self.startSession(request, address, "with the one-time link")

    async def signIn(self, request, form: dict[str, str]) -> Reply:
        """POST /signin: the password, checked on a worker thread."""
        address = peerName(request.getClientAddress())
        if not sameSecret(form.get("csrf"), cookie(request, SIGNIN_COOKIE)):
            log.warn("console: a sign-in form without its token from {client}", client=address)
            return self.form(request, 403, FORM_EXPIRED)
        refused = self.tooMany(request, address)
        if refused is not None:
            return refused
        if self.checking >= MAX_CHECKS:
            return self.form(request, 503, "The console is busy; try again in a few seconds.")
        self.failures.record(address)
        self.checking += 1
        try:
            right = await deferToThreadPool(self.reactor, self.workers, passwordMatches,
                                            self.dataDir, form.get("password", ""))
        finally:
            self.checking -= 1
        if not right:
            log.warn("console: a wrong password from {client}", client=address)
            return self.form(request, 403, "Wrong password.")
        self.failures.refund(address)
        return self.startSession(request, address, "with the password")

    def startSession(self, request, address: str, how: str) -> Reply:
        session = self.sessions.open(address)
        self.console.audit(session, f"signed in {how}")
        reply = redirect("/")
        reply.headers += [(b"Set-Cookie", cookieHeader(request, SESSION_COOKIE, session.id)),
                          (b"Set-Cookie", expiredCookie(SIGNIN_COOKIE))]
        return reply

    async def signOut(self, session, form) -> Reply:
        self.sessions.close(session.id)
        self.console.audit(session, "signed out")
        reply = redirect("/signin")
        reply.headers.append((b"Set-Cookie", expiredCookie(SESSION_COOKIE)))
        return reply

