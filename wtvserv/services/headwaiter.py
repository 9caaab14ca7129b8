"""
wtv-head-waiter: login (PROTOCOL.md 3, 6).

C{/login} sends a challenge encrypted with the box's current DES key and a
token-carrying stage-two URL. The box answers on that URL (the official
flow) or on C{/ValidateLogin?initial_login=true} (minisrv's flow, which then
continues on C{/login-stage-two} over SECURE ON). Once the answer is right,
the box holds a ticket and one decision remains: an SSID without an account
goes to wtv-register, several users choose one, a password is asked for,
and a user who is through gets the final response with the service list.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from hashlib import sha256

from twisted.logger import Logger

from wtvserv.activity import LOGIN
from wtvserv.crypto.challenge import IssuedChallenge, issue_challenge, response_matches
from wtvserv.interfaces import IServiceContext
from wtvserv.passwords import verify_password
from wtvserv.services import pages
from wtvserv.services.common import (
    clockHeaders,
    localeHeaders,
    requireSSID,
    serviceHeaders,
)
from wtvserv.throttle import SlidingWindow, minutesText
from wtvserv.tickets import Ticket
from wtvserv.web import Box, Response, WTVService, error, html, visit

log = Logger()

NAME = "wtv-head-waiter"
STAGE_TWO = f"{NAME}:/login-stage-two"
RELOGIN_URL = f"{NAME}:/relogin?relogin=true"
RECONNECT_URL = f"{NAME}:/reconnect"
HOME = "wtv-home:/home"
TOKEN_LIFETIME = 600
CARRIED = ("relogin", "new_registration", "reconnect")


class LoginGuard:
    """
    Failed logins (wrong challenge answers and wrong passwords) counted per
    SSID and per client address, and logins per address, over one sliding
    window. Anyone who knows an SSID can answer its challenge (the initial
    key travels in clear), so guessing is limited over time, not per login.
    """

    def __init__(self, context: IServiceContext) -> None:
        config, clock = context.config, context.reactor
        exempt = context.exemptFromLimits
        self.bySSID = SlidingWindow(clock, config.loginAttempts, config.loginWindow)
        self.byAddress = SlidingWindow(clock, config.loginFailuresPerAddress, config.loginWindow,
                                       exempt=exempt)
        self.logins = SlidingWindow(clock, config.loginsPerAddress, config.loginWindow,
                                    exempt=exempt)

    def lockout(self, box: Box) -> Response | None:
        """@return: the refusal a locked-out box is told, or L{None}."""
        wait = max(self.bySSID.retryAfter(box.ssid), self.byAddress.retryAfter(box.address))
        if not wait:
            return None
        log.warn("{ssid} at {client}: login refused, too many failures",
                 ssid=box.loggedSSID, client=box.address)
        return error(403, "Too many failed login attempts. "
                          f"Please wait {minutesText(wait)} and try again.")

    def loginStarted(self, box: Box) -> Response | None:
        """Count a challenge sent; @return: a refusal when the address has had too many."""
        if self.logins.exceeded(box.address):
            log.warn("{client}: login refused, too many logins", client=box.address)
            wait = minutesText(self.logins.retryAfter(box.address))
            return error(403, f"Too many logins from your connection. Please wait {wait} "
                              "and try again.")
        self.logins.record(box.address)
        return None

    def failed(self, box: Box) -> int:
        """Count a failure. @return: the SSID's failures within the window."""
        self.byAddress.record(box.address)
        return self.bySSID.record(box.ssid)

    def succeeded(self, box: Box) -> None:
        self.bySSID.clear(box.ssid)


class HeadWaiter:
    """The login logic; L{makeService} routes URLs to its methods."""

    def __init__(self, context: IServiceContext) -> None:
        self.context = context
        self.sessions = context.sessions
        self.accounts = context.accounts
        self._tokenKey = context.random(32)
        self.guard = LoginGuard(context)

    # /login and the challenge

    def login(self, box: Box) -> Response:
        refusal = self.guard.lockout(box) or self.guard.loginStarted(box)
        if refusal is not None:
            return refusal
        key = self.sessions.currentKey(box.ssid, box.address)
        if key is None and box.ticket is not None:
            key = box.ticket.des_key
            self.sessions.setCurrentKey(box.ssid, key)
        if key is None:
            log.info("{ssid} asked to log in with no key known; sent to wtv-1800",
                     ssid=box.loggedSSID)
            return self._backToPreregistration("relogin=true")
        challenge = self._challenge(box, key)
        headers = [("Expires", "Wed, 09 Oct 1991 22:00:00 GMT"),
                   ("wtv-expire-all", f"{NAME}:"),
                   *serviceHeaders(self.context, ["wtv-log"]),
                   ("wtv-log-url", "wtv-log:/log"),
                   ("wtv-challenge", challenge.challenge_b64),
                   *localeHeaders(self.context),
                   ("wtv-relogin-url", f"{NAME}:/login?relogin=true"),
                   ("wtv-reconnect-url", RECONNECT_URL),
                   ("wtv-visit", self._stageTwoURL(box))]
        return Response(headers=headers)

    def _challenge(self, box: Box, key: bytes) -> IssuedChallenge:
        challenge = issue_challenge(key, self.context.random)
        self.sessions.setPendingChallenge(box.ssid, challenge, box.address)
        return challenge

    def _stageTwoURL(self, box: Box) -> str:
        return f"{STAGE_TWO}-wtv-token-{self._token(box.ssid)}?{_carry(box)}"

    def _token(self, ssid: str, stamp: int | None = None) -> str:
        """A C{<time>-<32 hex>} token binding a stage-two URL to an SSID and a time."""
        if stamp is None:
            stamp = int(self.context.reactor.seconds())
        mac = hmac.new(self._tokenKey, f"{ssid}:{stamp}".encode(), sha256).hexdigest()[:32]
        return f"{stamp}-{mac}"

    def _tokenValid(self, ssid: str, token: str) -> bool:
        stamp = int(token.partition("-")[0])
        fresh = 0 <= self.context.reactor.seconds() - stamp <= TOKEN_LIFETIME
        return fresh and hmac.compare_digest(token, self._token(ssid, stamp))

    def _checkAnswer(self, box: Box) -> Response | Ticket:
        """
        Check C{wtv-challenge-response} against the pending challenge.

        @return: a new ticket when it is right, else the response to send.
        """
        if box.token is not None and not self._tokenValid(box.ssid, box.token):
            return error(403, "Your login took too long. Please connect again.")
        refusal = self.guard.lockout(box)
        if refusal is not None:
            return refusal
        pending = self.sessions.pendingChallenges(box.ssid, box.address)
        if not pending:
            return self._backToPreregistration("relogin=true")
        answer = box.header("wtv-challenge-response")
        answered = next((c for c in pending if response_matches(c, answer)), None)
        if answered is None:
            return self._wrongAnswer(box)
        self.sessions.challengeAnswered(box.ssid, answered)
        return Ticket(ssid=box.ssid, key1=answered.key1, key2=answered.key2,
                      des_key=answered.new_key)

    def _wrongAnswer(self, box: Box) -> Response:
        """
        Count the failure and send a fresh challenge, or the lockout once
        there were too many. Nothing the box already proved is dropped: a
        stranger's wrong answers cannot log out the box they pretend to be.
        """
        failures = self.guard.failed(box)
        log.warn("{ssid} at {client}: wrong challenge response ({n} in the window)",
                 ssid=box.loggedSSID, client=box.address, n=failures)
        refusal = self.guard.lockout(box)
        if refusal is not None:
            return refusal
        key = self.sessions.currentKey(box.ssid, box.address)
        if key is None:
            return self._backToPreregistration("relogin=true")
        challenge = self._challenge(box, key)
        response = error(403, "Your box could not be verified. Please try again.")
        response.headers += [("wtv-challenge", challenge.challenge_b64),
                             ("wtv-visit", self._stageTwoURL(box))]
        return response

    def _backToPreregistration(self, query: str) -> Response:
        return visit(f"wtv-1800:/preregister?{query}",
                     headers=serviceHeaders(self.context, ["wtv-1800"], reset=True))

    # Stage two: after the challenge, decide where the box goes

    def stageTwo(self, box: Box) -> Response:
        if box.header("wtv-challenge-response") is not None:
            ticket = self._checkAnswer(box)
            if isinstance(ticket, Response):
                return ticket
            response = self.decide(box, ticket)
            if box.secure:
                return response
            if response.body:
                return self._continueSecurely(box, response.ticket)
            response.headers.insert(0, ("wtv-encrypted", "true"))
            return response
        if box.ticket is not None:
            return self.decide(box, box.ticket)
        return self._noLogin(box)

    def validateLogin(self, box: Box):
        """
        minisrv's C{/ValidateLogin}: the challenge answer (C{initial_login}),
        a user chosen on the choose-user page, or a typed password.
        """
        if box.header("wtv-challenge-response") is not None:
            ticket = self._checkAnswer(box)
            if isinstance(ticket, Response):
                return ticket
            return self._continueSecurely(box, ticket)
        if box.ticket is None:
            return self._noLogin(box)
        if "password" in box.form:
            return self._checkPassword(box)
        if box.form.get("user_login") == "true":
            return self._chooseUser(box)
        return self.decide(box, box.ticket)

    def _continueSecurely(self, box: Box, ticket: Ticket) -> Response:
        """
        Hand the box its ticket and send it on to stage two on a new
        connection, which it opens with SECURE ON (minisrv's ValidateLogin
        answer). A page this plaintext connection would otherwise carry
        (password, choose-user) is then sent encrypted, never in clear.
        """
        return Response(close=True, ticket=ticket,
                        headers=[("wtv-encrypted", "true"),
                                 ("wtv-visit", f"{STAGE_TWO}?{_carry(box)}")])

    def _noLogin(self, box: Box) -> Response:
        problem = box.request.ticketError
        if problem is not None:
            return error(403, problem.message)
        return error(403, "Your box did not answer the login challenge. Please connect again.")

    def decide(self, box: Box, ticket: Ticket) -> Response:
        account = self.accounts.accountFor(box.ssid)
        if account is None:
            return self._unregistered(box, ticket)
        if ticket.user_id is None or account.user(ticket.user_id) is None:
            if len(account.users) > 1:
                unchosen = replace(ticket, user_id=None, password_ok=False)
                page = html(pages.chooseUser(account), headers=[("wtv-noback-all", f"{NAME}:")])
                return page.withTicket(unchosen)
            ticket = replace(ticket, user_id=account.primary.user_id, password_ok=False)
        user = account.user(ticket.user_id)
        if user.has_password and not ticket.password_ok:
            return html(pages.password(user)).withTicket(ticket)
        return self._final(box, replace(ticket, password_ok=True), account, user)

    def _chooseUser(self, box: Box) -> Response:
        account = self.accounts.accountFor(box.ssid)
        userId = _integer(box.form.get("user_id"))
        if account is None or userId is None or account.user(userId) is None:
            return error(400, "That user could not be found. Please choose again.")
        ticket = replace(box.ticket, user_id=userId, password_ok=False)
        return visit(f"{STAGE_TWO}?{_carry(box)}").withTicket(ticket)

    def _checkPassword(self, box: Box):
        ticket = box.ticket
        account = self.accounts.accountFor(box.ssid)
        user = account.user(ticket.user_id) if account and ticket.user_id is not None else None
        if user is None:
            return error(400, "Please choose a user first.")
        typed = box.form.get("password", "")
        if not typed:
            return error(403, "Please enter your password and try again.")
        refusal = self.guard.lockout(box)
        if refusal is not None:
            return refusal
        if not user.has_password:
            return visit(f"{STAGE_TWO}?").withTicket(replace(ticket, password_ok=True))
        checking = self.context.inWorkerThread(verify_password, typed, user.password_hash)
        return checking.addCallback(self._passwordChecked, box, ticket)

    def _passwordChecked(self, right: bool, box: Box, ticket: Ticket) -> Response:
        if right:
            self.guard.succeeded(box)
            return Response(close=True, ticket=replace(ticket, password_ok=True),
                            headers=[("wtv-visit", f"{STAGE_TWO}?{_carry(box)}")])
        failures = self.guard.failed(box)
        log.warn("{ssid} at {client}: wrong password for user {user} ({n} in the window)",
                 ssid=box.loggedSSID, client=box.address, user=ticket.user_id, n=failures)
        return self.guard.lockout(box) or error(
            403, "The password you entered was incorrect. Please retype it and try again.")

    # The responses at the end of stage two

    def _unregistered(self, box: Box, ticket: Ticket) -> Response:
        headers = [*clockHeaders(self.context), *localeHeaders(self.context),
                   ("wtv-noback-all", "wtv-"),
                   *serviceHeaders(self.context, ["wtv-register", NAME, "wtv-star"]),
                   ("wtv-boot-url", f"{NAME}:/relogin?"),
                   ("wtv-phone-log-url", "wtv-log:/phone-log"),
                   ("wtv-visit", "wtv-register:/splash?")]
        return Response(headers=headers, ticket=replace(ticket, user_id=None, password_ok=False))

    def _final(self, box: Box, ticket: Ticket, account, user, reconnect: bool = False) -> Response:
        """The final login response: account settings and every enabled service."""
        headers = [("wtv-expire-all", f"{NAME}:"),
                   *localeHeaders(self.context), *clockHeaders(self.context),
                   ("wtv-noback-all", "wtv-")]
        if box.header("wtv-client-bootrom-version", "0") != "0" and not reconnect:
            headers += [("wtv-visit", "client:closeallpanels"),
                        ("wtv-expire-all", "client:closeallpanels")]
        headers += serviceHeaders(self.context, reset=True)
        headers += [("wtv-log-url", "wtv-log:/log"),
                    ("wtv-ssl-log-url", "wtv-log:/log"),
                    ("wtv-phone-log-url", "wtv-log:/phone-log"),
                    ("wtv-bypass-proxy", "false"),
                    ("user-id", str(user.user_id)),
                    ("wtv-user-name", user.username),
                    ("wtv-human-name", user.human_name),
                    ("wtv-input-timeout", "14400"),
                    ("wtv-connection-timeout", "1440"),
                    ("wtv-fader-timeout", "1440"),
                    ("wtv-inactive-timeout", "1440"),
                    ("wtv-relogin-url", RELOGIN_URL),
                    ("wtv-reconnect-url", RECONNECT_URL),
                    ("wtv-boot-url", RELOGIN_URL),
                    ("wtv-home-url", f"{HOME}?")]
        if not reconnect:
            dummy = self.context.random(4).hex()
            headers.append(("wtv-visit", f"{NAME}:/check-tellyscript?next-url={HOME}&dummy=0x{dummy}"))
        log.info("{ssid} at {client}: user {user} logged in",
                 ssid=box.loggedSSID, client=box.address, user=user.user_id)
        self.context.activity.record(LOGIN)
        return Response(headers=headers, ticket=ticket)

    # After login

    def reconnect(self, box: Box) -> Response:
        """A box that redialled resumes on its ticket, without a new challenge."""
        ticket = box.ticket
        account = self.accounts.accountFor(box.ssid)
        user = account.user(ticket.user_id) if account and ticket and ticket.user_id is not None else None
        if user is None or not ticket.password_ok:
            if box.request.ticketError is not None:
                return error(403, box.request.ticketError.message)
            return visit(f"{NAME}:/login?relogin=true")
        return self._final(box, ticket, account, user, reconnect=True)

    def relogin(self, box: Box) -> Response:
        """
        Send the box through wtv-1800 again. Its session is forgotten only
        when it proves who it is with a valid ticket: a stranger naming its
        SSID must not log it out.
        """
        if box.ssid and box.ticket is not None:
            self.sessions.forget(box.ssid)
        query = "reconnect=true" if box.query.get("reconnect") == "true" else "relogin=true"
        return self._backToPreregistration(query)

    def checkTellyscript(self, box: Box) -> Response:
        """
        The official last hop before home: go to C{next-url}, with the
        TellyScript the box should hold when its C{wtv-script-id} and
        C{wtv-script-mod} name another (PROTOCOL.md 14.12).
        """
        target = box.query.get("next-url", HOME)
        if not _isServiceURL(target, self.context):
            target = HOME
        script = self.context.tellyscripts.forBox(box.headers, box.ssid)
        if script is None or script.heldBy(box.headers):
            return visit(target)
        log.info("{ssid} at {client}: its script is not {path}; sending it",
                 ssid=box.loggedSSID, client=box.address, path=script.path.name)
        return Response(headers=[("wtv-visit", target)], body=script.data,
                        contentType=script.contentType)


def _carry(box: Box) -> str:
    """The login flags a box carries from URL to URL (PROTOCOL.md 6.1)."""
    query = box.query
    return "&".join(f"{name}={query[name]}" for name in CARRIED
                    if query.get(name) in ("true", "1"))


def _integer(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 3:
        return None
    return int(text)


def _isServiceURL(url: str, context: IServiceContext) -> bool:
    scheme = url.partition(":")[0]
    return scheme == "client" or scheme in context.directory


def makeService(context: IServiceContext) -> WTVService:
    headWaiter = HeadWaiter(context)
    service = WTVService(NAME, context)
    for path, handler in [("/login", headWaiter.login),
                          ("/login-stage-two", headWaiter.stageTwo),
                          ("/ValidateLogin", headWaiter.validateLogin),
                          ("/reconnect", headWaiter.reconnect)]:
        service.route(path, login=False)(requireSSID(handler))
    service.route("/relogin", login=False)(headWaiter.relogin)
    service.route("/check-tellyscript", login=False)(headWaiter.checkTellyscript)
    return service
