"""
wtv-head-waiter: login (PROTOCOL.md 3, 6).

C{/login} sends a challenge encrypted with the box's current DES key and a
token-carrying stage-two URL. The box answers on that URL (the official
flow) or on C{/ValidateLogin?initial_login=true} (minisrv's flow, which then
continues on C{/login-stage-two} over SECURE ON). Once the answer is right,
the box holds a ticket and one decision remains: an SSID without an account
goes to wtv-register, several users choose one, a password is asked for,
and a user who is through gets the final response with the service list
and a splash page that refreshes to C{/check-tellyscript}, then home. A box
whose ticket no longer counts is sent through wtv-1800 and a new login,
without a dialog.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from wtvserv.activity import LOGIN
from wtvserv.crypto.challenge import IssuedChallenge, response_matches
from wtvserv.directory import backThroughLogin
from wtvserv.interfaces import IServiceContext
from wtvserv.passwords import verify_password
from wtvserv.services import pages
from wtvserv.services.challenges import (
    LIFETIME as TOKEN_LIFETIME,
    Challenges,
    hmacFrom,
    hmacStates,
)
from wtvserv.services.common import (
    clockHeaders,
    localeHeaders,
    requireSSID,
    serviceHeaders,
)
from wtvserv.services.loginheaders import (
    featureSwitches,
    offlineUserList,
    pluginHeaders,
    upgradeURL,
)
from wtvserv.throttle import SlidingWindow, minutesText
from wtvserv.tickets import Ticket, changed
from wtvserv.web import Box, Response, WTVService, error, html, loginAgain, visit
from wtvserv.workqueue import QueueFull, WorkQueue

log = Logger()

NAME = "wtv-head-waiter"
STAGE_TWO = f"{NAME}:/login-stage-two"
RELOGIN_URL = f"{NAME}:/relogin?relogin=true"
RECONNECT_URL = f"{NAME}:/reconnect"
HOME = "wtv-home:/home"
CARRIED = ("relogin", "new_registration", "reconnect")
#: A box whose disk failed says so (PROTOCOL.md 11); it is told once per login.
BAD_DISK = "wtv-my-disk-sucks-sucks-sucks"


class LoginGuard:
    """
    Failed logins and logins, counted over one sliding window.

    Anyone who knows an SSID can answer its challenge (the initial key
    travels in clear), so a wrong answer proves nothing about the box and
    counts only against the address that sent it. Wrong passwords count per
    (SSID, address), so a stranger's guesses lock out the stranger, and per
    SSID with a much higher bound, against guessing from many addresses.
    Each password check is counted before it runs (and refunded when it was
    right), and each SSID and address has at most one check in flight, so
    simultaneous guesses cannot slip past a limit.
    """

    def __init__(self, context: IServiceContext) -> None:
        self.context = context
        config, clock = context.config, context.reactor
        self.exempt = context.exemptFromLimits
        window = config.loginWindow
        self.byAddress = context.rateWindow("login failures", config.loginFailuresPerAddress,
                                            window, byAddress=True)
        self.byBox = SlidingWindow(clock, config.loginAttempts, window)
        self.bySSID = SlidingWindow(clock, config.loginFailuresPerSSID, window)
        self.logins = context.rateWindow("logins", config.loginsPerAddress, window, byAddress=True)
        self._checking: set[str] = set()

    def refusal(self, box: Box, wait: float) -> Response | None:
        if not wait:
            return None
        log.warn("{ssid} at {client}: login refused, too many failures",
                 ssid=box.loggedSSID, client=box.address)
        return error(403, "Too many failed login attempts. "
                          f"Please wait {minutesText(wait)} and try again.")

    def challengeLockout(self, box: Box) -> Response | None:
        """@return: the refusal an address with too many failures is told, or L{None}."""
        return self.refusal(box, self.byAddress.retryAfter(box.address))

    def passwordLockout(self, box: Box) -> Response | None:
        """@return: the refusal of a password check over a limit, or L{None}."""
        return self.refusal(box, max(self.byAddress.retryAfter(box.address),
                                      self.byBox.retryAfter(_boxKey(box)),
                                      self.bySSID.retryAfter(box.ssid)))

    def loginStarted(self, box: Box) -> Response | None:
        """Count a challenge sent; @return: a refusal when the address has had too many."""
        if self.logins.exceeded(box.address):
            log.warn("{client}: login refused, too many logins", client=box.address)
            wait = minutesText(self.logins.retryAfter(box.address))
            return error(403, f"Too many logins from your connection. Please wait {wait} "
                              "and try again.")
        self.logins.record(box.address)
        return None

    def wrongAnswer(self, box: Box) -> int:
        """Count a wrong challenge answer. @return: the address's failures in the window."""
        return self.byAddress.record(box.address)

    def _inFlight(self, box: Box) -> list[str]:
        keys = [f"ssid {box.ssid}"]
        if not self.exempt(box.address):
            keys.append(f"address {box.address}")
        return keys

    def startCheck(self, box: Box) -> Response | None:
        """
        Reserve a password check: count it as a failure now and mark the
        SSID and address busy. @return: the refusal when it may not run.
        """
        if any(key in self._checking for key in self._inFlight(box)):
            log.warn("{ssid} at {client}: password refused, a check is in flight",
                     ssid=box.loggedSSID, client=box.address)
            return error(403, "Your password is being checked. "
                              "Please wait a moment and try again.")
        refusal = self.passwordLockout(box)
        if refusal is not None:
            return refusal
        self._checking.update(self._inFlight(box))
        self.byAddress.record(box.address)
        self.byBox.record(_boxKey(box))
        self.bySSID.record(box.ssid)
        return None

    def checkEnded(self, box: Box, right: bool = False, ran: bool = True) -> None:
        """
        The check of L{startCheck} is over: it was C{right}, or wrong, or
        (not C{ran}) never made, and so refunded too.
        """
        self._checking.difference_update(self._inFlight(box))
        if right or not ran:
            self.byAddress.refund(box.address)
            self.bySSID.refund(box.ssid)
        if right:
            self.byBox.clear(_boxKey(box))
        elif not ran:
            self.byBox.refund(_boxKey(box))

    def sharedLimits(self, box: Box) -> list[tuple[str, str, int]]:
        """The same limits on wrong passwords, as the shared database counts them."""
        config = self.context.config
        limits = [("box", _boxKey(box), config.loginAttempts),
                  ("ssid", box.ssid, config.loginFailuresPerSSID)]
        if not self.exempt(box.address):
            limits.append(("address", box.address, config.loginFailuresPerAddress))
        return limits

    def passwordFailures(self, box: Box) -> int:
        return self.byBox.count(_boxKey(box))


def _boxKey(box: Box) -> str:
    return f"{box.ssid} {box.address}"


class HeadWaiter:
    """The login logic; L{makeService} routes URLs to its methods."""

    def __init__(self, context: IServiceContext) -> None:
        self.context = context
        self.sessions = context.sessions
        # Both the same on every host sharing the ticket secret: the answer,
        # and the stage-two URL it comes on, may reach another host.
        self._tokenStates = hmacStates(context.tickets.derivedKey(b"wtv-head-waiter token v1"))
        self.challenges = Challenges(context.tickets.derivedKey(b"wtv-head-waiter challenge v1"),
                                     context.reactor, context.random)
        self.guard = LoginGuard(context)
        self.checks = WorkQueue(context.inWorkerThread, context.config.passwordQueue)

    # /login and the challenge

    def login(self, box: Box) -> Response | Deferred:
        refusal = self.guard.challengeLockout(box) or self.guard.loginStarted(box)
        if refusal is not None:
            return refusal
        key = self.sessions.currentKey(box.ssid, box.address)
        if key is not None:
            return self._sendChallenge(box, key)
        # The key may come from the box's ticket, which its account's generation validates.
        return box.loadAccount().addCallback(self._noKeyOffered)

    def _noKeyOffered(self, box: Box) -> Response | Deferred:
        shared = self.context.shared
        if shared is not None:
            # Several hosts: wtv-1800 may have run on another.
            finding = shared.offeredKey(box.ssid, box.address, self.context.config.sessionLifetime)
            return finding.addCallback(self._offeredElsewhere, box)
        return self._sendChallenge(box, None)

    def _offeredElsewhere(self, offered: tuple[bytes, float] | None, box: Box) -> Response:
        """
        An offer from another host's wtv-1800 counts as this host's would,
        unless the box's ticket is as new (tickets count whole seconds): a
        local offer is gone once its challenge is answered, but the shared
        one stays until it expires.
        """
        key = None
        if offered is not None and (box.ticket is None or box.ticket.issued < int(offered[1])):
            key = offered[0]
            self.sessions.offerKey(box.ssid, key, box.address)
        return self._sendChallenge(box, key)

    def _sendChallenge(self, box: Box, key: bytes | None) -> Response:
        if key is None and box.ticket is not None:
            key = box.ticket.des_key
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
        challenge = self.challenges.issue(key, box.ssid, box.address)
        self.sessions.setPendingChallenge(box.ssid, challenge, box.address)
        return challenge

    def _stageTwoURL(self, box: Box) -> str:
        return f"{STAGE_TWO}-wtv-token-{self._token(box.ssid)}?{_carry(box)}"

    def _token(self, ssid: str, stamp: int | None = None) -> str:
        """A C{<time>-<32 hex>} token binding a stage-two URL to an SSID and a time."""
        if stamp is None:
            stamp = int(self.context.reactor.seconds())
        mac = hmacFrom(self._tokenStates, f"{ssid}:{stamp}".encode()).hexdigest()[:32]
        return f"{stamp}-{mac}"

    def _tokenValid(self, ssid: str, token: str) -> bool:
        stamp = int(token.partition("-")[0])
        fresh = 0 <= self.context.reactor.seconds() - stamp <= TOKEN_LIFETIME
        return fresh and hmac.compare_digest(token, self._token(ssid, stamp))

    def _checkAnswer(self, box: Box) -> Response | Ticket | Deferred:
        """
        Check C{wtv-challenge-response} against the pending challenge: the
        one this host sent, or with several hosts, the one any host sent,
        rebuilt from the answer (L{Challenges}).

        @return: a new ticket when it is right, else the response to send
            (with several hosts, a L{Deferred} of either).
        """
        if box.token is not None and not self._tokenValid(box.ssid, box.token):
            return error(403, "Your login took too long. Please connect again.")
        refusal = self.guard.challengeLockout(box)
        if refusal is not None:
            return refusal
        response = box.header("wtv-challenge-response")
        pending = self.sessions.pendingChallenge(box.ssid, box.address)
        shared = self.context.shared
        answered = pending
        if shared is not None:
            answered = self.challenges.recall(response, box.ssid, box.address) or pending
        if answered is None:
            # Nothing was asked of this origin (or it expired): no failure.
            return self._backToPreregistration("relogin=true")
        if not response_matches(answered, response):
            return self._wrongAnswer(box)
        if shared is None:
            return self._answered(True, box, answered, pending)
        # Several hosts: the first answer on any of them counts.
        ends = Challenges.issued(answered.challenge_id) + TOKEN_LIFETIME
        answering = shared.answerChallenge(box.ssid, answered.challenge_id, ends)
        return answering.addCallback(self._answered, box, answered, pending)

    def _answered(self, first: bool, box: Box, answered: IssuedChallenge,
                  pending: IssuedChallenge | None) -> Response | Ticket:
        if not first:
            log.warn("{ssid} at {client}: a challenge answered twice; sent to log in again",
                     ssid=box.loggedSSID, client=box.address)
            return self._backToPreregistration("relogin=true")
        if pending is not None and pending.challenge_id == answered.challenge_id:
            self.sessions.challengeAnswered(box.ssid, pending, box.address)
        return Ticket(ssid=box.ssid, key1=answered.key1, key2=answered.key2,
                      des_key=answered.new_key,
                      generation=box.generation)

    def _withAnswer(self, box: Box, then) -> Response | Deferred:
        """Check the challenge's answer; with the ticket it earns, C{then(box, ticket)}."""
        checked = self._checkAnswer(box)
        if isinstance(checked, Deferred):
            return checked.addCallback(self._ticketThen, box, then)
        return self._ticketThen(checked, box, then)

    @staticmethod
    def _ticketThen(checked: Response | Ticket, box: Box, then):
        return checked if isinstance(checked, Response) else then(box, checked)

    def _wrongAnswer(self, box: Box) -> Response:
        """
        Count the failure against the address and send a fresh challenge, or
        the lockout once there were too many. Nothing the box already proved
        is dropped and the SSID is not locked: a stranger's wrong answers
        cannot log out, nor lock out, the box they pretend to be.
        """
        failures = self.guard.wrongAnswer(box)
        log.warn("{ssid} at {client}: wrong challenge response ({n} from the address "
                 "in the window)", ssid=box.loggedSSID, client=box.address, n=failures)
        refusal = self.guard.challengeLockout(box)
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
        return Response(headers=backThroughLogin(self.context.directory, query))

    # Stage two: after the challenge, decide where the box goes

    def stageTwo(self, box: Box) -> Response | Deferred:
        if box.header("wtv-challenge-response") is not None:
            return self._withAnswer(box, self._answeredAtStageTwo)
        if box.provenTicket is not None:
            return self.decide(box, box.provenTicket)
        return self._noLogin(box)

    def _answeredAtStageTwo(self, box: Box, ticket: Ticket) -> Response:
        if box.secure and not _badDisk(box):
            return self.decide(box, ticket)
        account = box.account
        if account is not None or _badDisk(box):
            # What comes next has a body (choose-user, password, the final
            # splash, the bad-disk notice): never in clear.
            return self._continueSecurely(box, _settled(ticket, account) if account else ticket)
        response = self._unregistered(box, ticket)
        response.headers.insert(0, ("wtv-encrypted", "true"))
        return response

    def validateLogin(self, box: Box):
        """
        minisrv's C{/ValidateLogin}: the challenge answer (C{initial_login}),
        a user chosen on the choose-user page, or a typed password.
        """
        if box.header("wtv-challenge-response") is not None:
            return self._withAnswer(box, self._continueSecurely)
        if box.provenTicket is None:
            return self._noLogin(box)
        if "password" in box.form:
            return self._checkPassword(box)
        if box.form.get("user_login") == "true":
            return self._chooseUser(box)
        return self.decide(box, box.provenTicket)

    def _continueSecurely(self, box: Box, ticket: Ticket) -> Response:
        """
        Hand the box its ticket and send it on to stage two (or first to
        the bad-disk notice) on a new connection, which it opens with SECURE
        ON (minisrv's ValidateLogin answer). A page this plaintext
        connection would otherwise carry (password, choose-user) is then
        sent encrypted, never in clear. The head-waiter is announced again,
        encrypted: a box that arrived with an unreadable ticket was told to
        log in in clear (see wtv-1800).
        """
        page = "/bad-disk" if _badDisk(box) else "/login-stage-two"
        return Response(close=True, ticket=ticket,
                        headers=[("wtv-encrypted", "true"),
                                 *serviceHeaders(self.context, [NAME]),
                                 ("wtv-visit", f"{NAME}:{page}?{_carry(box)}")])

    def _noLogin(self, box: Box) -> Response:
        if box.request.ticketError is not None:
            return loginAgain(self.context)
        return error(403, "Your box did not answer the login challenge. Please connect again.")

    def decide(self, box: Box, ticket: Ticket) -> Response:
        account = box.account
        if account is None:
            return self._unregistered(box, ticket)
        ticket = _settled(ticket, account)
        if ticket.user_id is None:
            page = html(pages.chooseUser(account), headers=[("wtv-noback-all", f"{NAME}:")])
            return page.withTicket(ticket)
        user = account.user(ticket.user_id)
        if not ticket.password_ok:
            return html(pages.password(user)).withTicket(ticket)
        return self._final(box, ticket, account, user)

    def _chooseUser(self, box: Box) -> Response:
        account = box.account
        userId = _integer(box.form.get("user_id"))
        if account is None or userId is None or account.user(userId) is None:
            return error(400, "That user could not be found. Please choose again.")
        ticket = replace(box.provenTicket, user_id=userId, password_ok=False)
        return visit(f"{STAGE_TWO}?{_carry(box)}").withTicket(ticket)

    def _checkPassword(self, box: Box):
        ticket = box.provenTicket
        account = box.account
        user = account.user(ticket.user_id) if account and ticket.user_id is not None else None
        if user is None:
            return error(400, "Please choose a user first.")
        typed = box.form.get("password", "")
        if not typed:
            return error(403, "Please enter your password and try again.")
        if not user.has_password:
            return visit(f"{STAGE_TWO}?").withTicket(replace(ticket, password_ok=True))
        refusal = self.guard.startCheck(box)
        if refusal is not None:
            return refusal
        shared = self.context.shared
        if shared is None:
            return self._check(box, ticket, user, typed, [])
        # Several hosts: the check is counted in the shared database too.
        reserving = shared.reserveFailures(self.guard.sharedLimits(box),
                                           self.context.config.loginWindow)
        return reserving.addCallbacks(self._reserved, self._notReserved,
                                      callbackArgs=(box, ticket, user, typed),
                                      errbackArgs=(box,))

    def _reserved(self, reserved: tuple[float, list[int]], box: Box, ticket: Ticket, user,
                  typed: str):
        wait, failures = reserved
        if wait:
            self.guard.checkEnded(box, ran=False)
            return self.guard.refusal(box, wait)
        return self._check(box, ticket, user, typed, failures)

    def _notReserved(self, failure, box: Box):
        self.guard.checkEnded(box, ran=False)
        return failure

    def _check(self, box: Box, ticket: Ticket, user, typed: str, failures: list[int]):
        """
        Check the password in the work queue.

        @param failures: the shared database's count of this check (to
            take back unless it was wrong).
        """
        try:
            checking = self.checks.submit(verify_password, typed, user.password_hash)
        except QueueFull:
            self.guard.checkEnded(box, ran=False)
            self._refund(failures)
            log.warn("{ssid} at {client}: password check refused, {n} checks waiting",
                     ssid=box.loggedSSID, client=box.address, n=len(self.checks))
            return error(503, "The service is busy. Please try again in a minute.")
        return checking.addBoth(self._passwordChecked, box, ticket, failures)

    def _refund(self, failures: list[int]) -> None:
        if failures:
            self.context.shared.refund(failures).addErrback(
                lambda failure: log.warn("a right password stays counted as wrong: {problem}",
                                         problem=failure.getErrorMessage()))

    def _passwordChecked(self, right, box: Box, ticket: Ticket, failures: list[int]):
        """The check is over: C{right} is its answer, or a Failure (e.g. cancelled)."""
        if not isinstance(right, bool):
            self.guard.checkEnded(box)
            self._refund(failures)
            return right
        self.guard.checkEnded(box, right)
        if right:
            self._refund(failures)
        if right:
            return Response(close=True, ticket=replace(ticket, password_ok=True),
                            headers=[("wtv-visit", f"{STAGE_TWO}?{_carry(box)}")])
        log.warn("{ssid} at {client}: wrong password for user {user} ({n} from the address "
                 "in the window)", ssid=box.loggedSSID, client=box.address,
                 user=ticket.user_id, n=self.guard.passwordFailures(box))
        return self.guard.passwordLockout(box) or error(
            403, "The password you entered was incorrect. Please retype it and try again.")

    # The responses at the end of stage two

    def _unregistered(self, box: Box, ticket: Ticket) -> Response:
        headers = [*clockHeaders(self.context), *localeHeaders(self.context),
                   ("wtv-noback-all", "wtv-"), *_openISP(box),
                   *serviceHeaders(self.context, ["wtv-register", NAME, "wtv-star"]),
                   ("wtv-boot-url", f"{NAME}:/relogin?"),
                   ("wtv-phone-log-url", "wtv-log:/phone-log"),
                   ("wtv-visit", "wtv-register:/splash?")]
        return Response(headers=headers, ticket=replace(ticket, user_id=None, password_ok=False))

    def _final(self, box: Box, ticket: Ticket, account, user, reconnect: bool = False) -> Response:
        """
        The final login response (PROTOCOL.md 6.4): account settings, every
        enabled service, what plugins add, and (unless the box is only
        resuming) the splash page whose META refresh goes on to
        C{/check-tellyscript}, then home or where a flash-upgrade plugin
        takes a box in its minibrowser.
        """
        context = self.context
        # After another user's login, cached wtv- pages must not be shown.
        headers = [("wtv-expire-all", f"{NAME}:" if reconnect else "wtv-"),
                   *localeHeaders(context), *clockHeaders(context),
                   ("wtv-noback-all", "wtv-")]
        if _bootROM(box) and not reconnect:
            headers += [("wtv-visit", "client:closeallpanels"),
                        ("wtv-expire-all", "client:closeallpanels")]
        headers += serviceHeaders(context, reset=True)
        if user.user_id == account.primary.user_id:
            headers.append(("wtv-offline-user-list", offlineUserList(account)))
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
                    ("wtv-home-url", f"{HOME}?"),
                    *pluginHeaders(context, box, user, reconnect),
                    *featureSwitches(context), *_openISP(box)]
        log.info("{ssid} at {client}: user {user} logged in",
                 ssid=box.loggedSSID, client=box.address, user=user.user_id)
        self.context.activity.record(LOGIN, box.ssid, box.address)
        if reconnect:
            response = Response(headers=headers, ticket=ticket)
        else:
            target = upgradeURL(context, box) or HOME
            dummy = context.random(4).hex()
            splash = pages.loginSplash(user, f"{NAME}:/check-tellyscript?next-url={target}"
                                             f"&dummy=0x{dummy}")
            response = html(splash, headers=headers).withTicket(ticket)
        if account.confirmed is None:
            return context.accounts.confirm(box.ssid).addCallback(lambda _: response)
        return response

    # After login

    def reconnect(self, box: Box) -> Response:
        """
        A box that redialled resumes on its ticket, without a new challenge,
        on a connection encrypted with the ticket's keys.
        """
        user = box.user
        if user is None:
            if box.request.ticketError is not None:
                return loginAgain(self.context)
            return visit(f"{NAME}:/login?relogin=true")
        return self._final(box, box.provenTicket, box.account, user, reconnect=True)

    def relogin(self, box: Box) -> Response:
        """
        Send the box through wtv-1800 again. A logged-in box logs out: its
        session is forgotten and its tickets go stale (the account's
        generation is bumped). Only a box logged in on its ticket's own keys
        does that: a stranger naming its SSID, even with a ticket of its own
        from answering a challenge, must not log it out.
        """
        query = "reconnect=true" if box.query.get("reconnect") == "true" else "relogin=true"
        if box.ssid and box.user is not None:
            self.sessions.forget(box.ssid)
            log.info("{ssid} at {client}: user {user} logged out",
                     ssid=box.loggedSSID, client=box.address, user=box.user.user_id)
            loggingOut = self.context.accounts.bumpGeneration(box.ssid)
            return loggingOut.addCallback(lambda _: self._backToPreregistration(query))
        return self._backToPreregistration(query)

    def badDisk(self, box: Box) -> str:
        """Tell a box whose disk failed, once per login, then go on logging in."""
        log.info("{ssid} at {client}: its disk reports a failure", ssid=box.loggedSSID,
                 client=box.address)
        return pages.badDisk(f"{STAGE_TWO}?{_carry(box)}")

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
    if not query:
        return ""
    return "&".join(f"{name}={query[name]}" for name in CARRIED
                    if query.get(name) in ("true", "1"))


def _settled(ticket: Ticket, account) -> Ticket:
    """
    C{ticket} as far as its box is logged in to C{account}: the user chosen
    when there is only one (none while several wait to be chosen), the
    password taken as checked for a user without one.
    """
    userId, passwordOk = ticket.user_id, ticket.password_ok
    if userId is None or account.user(userId) is None:
        userId = None if len(account.users) > 1 else account.primary.user_id
        passwordOk = False
    if userId is not None and not account.user(userId).has_password:
        passwordOk = True
    if (userId, passwordOk) == (ticket.user_id, ticket.password_ok):
        return ticket       # settled already, as at most requests: no copy to pay
    return changed(ticket, user_id=userId, password_ok=passwordOk)


def _badDisk(box: Box) -> bool:
    return (box.header(BAD_DISK) or "false").lower() not in ("false", "0")


def _bootROM(box: Box) -> bool:
    """Whether the box says it has a boot ROM (version 0: an emulator without one)."""
    return box.header("wtv-client-bootrom-version", "0") != "0"


def _openISP(box: Box) -> list[tuple[str, str]]:
    """Boxes with a boot ROM are told they may use their own ISP (PROTOCOL.md 6.3)."""
    return [("wtv-open-isp-disabled", "false")] if _bootROM(box) else []


def _integer(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 3:
        return None
    return int(text)


def _isServiceURL(url: str, context: IServiceContext) -> bool:
    """
    Whether C{url} is a page of an enabled service. No C{client:} URL: a
    box obeys those without asking (C{client:ResetNVAndPowerOff} erases
    it), and the login sends none through here.
    """
    scheme, colon, path = url.partition(":")
    return bool(colon) and path.startswith("/") and scheme in context.directory


def makeService(context: IServiceContext) -> WTVService:
    headWaiter = HeadWaiter(context)
    service = WTVService(NAME, context)
    service.route("/login", login=False, account=False)(requireSSID(headWaiter.login))
    for path, handler in [("/login-stage-two", headWaiter.stageTwo),
                          ("/ValidateLogin", headWaiter.validateLogin),
                          ("/reconnect", headWaiter.reconnect)]:
        service.route(path, login=False)(requireSSID(handler))
    service.route("/relogin", login=False)(headWaiter.relogin)
    service.route("/check-tellyscript", login=False, account=False)(headWaiter.checkTellyscript)
    service.route("/bad-disk", login=False, account=False)(headWaiter.badDisk)
    return service
