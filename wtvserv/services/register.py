"""
wtv-register: sign-up for a box that has no account (PROTOCOL.md 9).

Reached after a successful challenge, so the box holds a ticket; the pages
need that ticket but no user. The account is created in one transaction,
then the box logs in again with C{?new_registration=1}.

Sign-ups are limited per address and in all (so strangers cannot fill
C{[accounts] max_total} and close sign-up for everyone), each counted before
its password is hashed and refunded when it fails. An account that never
completes a login within C{[register] unconfirmed_grace} is deleted.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from wtvserv.accounts import (
    MAX_HUMAN_NAME_LENGTH,
    MAX_USERNAME_LENGTH,
    AccountError,
    AccountExists,
    StoreFull,
    UsernameTaken,
    check_human_name,
    check_username,
)
from wtvserv.activity import SIGNUP
from wtvserv.interfaces import IServiceContext
from wtvserv.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from wtvserv.services import pages
from wtvserv.services.common import serviceHeaders
from wtvserv.throttle import minutesText
from wtvserv.web import Box, Response, WTVService, error, html, loginAgain, relogin
from wtvserv.workqueue import QueueFull, WorkQueue

log = Logger()
NAME = "wtv-register"
CLOSED = "Sign-ups are closed for now. Please try again later."
NEXT = "wtv-head-waiter:/login?new_registration=1"
AGREED = ("yes", "on", "true", "1")
#: The longest value each field shown again can hold; the rest of a longer
#: one is cut before it is echoed, so no answer is larger than its form.
ECHOED_LENGTHS = {"subscriber_name": MAX_HUMAN_NAME_LENGTH,
                  "subscriber_username": MAX_USERNAME_LENGTH,
                  "subscriber_password": MAX_PASSWORD_LENGTH,
                  "subscriber_password_again": MAX_PASSWORD_LENGTH,
                  "subscriber_contact": 64, "subscriber_contact_method": 16,
                  "agreement": 8, "registering": 8}


def echoed(fields: dict[str, str]) -> dict[str, str]:
    """@return: the fields a page shows again, each cut to its longest."""
    return {name: fields[name][:length] for name, length in ECHOED_LENGTHS.items()
            if name in fields}


class Registration:
    def __init__(self, context: IServiceContext) -> None:
        self.context = context
        config = context.config
        self.signups = context.rateWindow("signups", config.registrationsPerAddress,
                                          config.registrationWindow, byAddress=True)
        self.everyone = context.rateWindow("all signups", config.registrationsTotal,
                                           config.registrationWindow)
        self.hashing = WorkQueue(context.inWorkerThread, config.passwordQueue)

    def _reserve(self, box: Box) -> Response | None:
        """
        Count a sign-up before the slow work, so simultaneous ones cannot
        slip past the limits. @return: the refusal when over one.
        """
        if self.signups.exceeded(box.address):
            log.warn("{client}: sign-up refused, too many from this address", client=box.address)
            wait = minutesText(self.signups.retryAfter(box.address))
            return error(403, "Too many accounts were made from your connection. "
                              f"Please wait {wait} and try again.")
        if self.everyone.exceeded(""):
            log.warn("{client}: sign-up refused, {n} sign-ups in the last {window:.0f} s",
                     client=box.address, n=self.everyone.limit, window=self.everyone.window)
            wait = minutesText(self.everyone.retryAfter(""))
            return error(403, "Many boxes are signing up right now. "
                              f"Please wait {wait} and try again.")
        self.signups.record(box.address)
        self.everyone.record("")
        return None

    def _refund(self, box: Box) -> None:
        self.signups.refund(box.address)
        self.everyone.refund("")

    def expireUnconfirmed(self) -> Deferred:
        """Delete the accounts that never completed a login within the grace period."""
        grace = self.context.config.unconfirmedGrace
        sweeping = self.context.accounts.expireUnconfirmed(grace)
        return sweeping.addCallbacks(self._swept, self._notSwept, callbackArgs=(grace,))

    def _swept(self, expired: list[str], grace: float) -> None:
        if expired:
            log.info("deleted {n} accounts that did not complete a login within {grace:.0f} s "
                     "of signing up", n=len(expired), grace=grace)

    def _notSwept(self, failure) -> None:
        # Busy, closing or unreachable: the next sweep tries again.
        log.warn("unconfirmed accounts not swept: {problem}", problem=failure.getErrorMessage())

    def _refuse(self, box: Box) -> Response | None:
        """Pages need a box that passed the challenge and has no account yet."""
        if box.request.ticketError is not None:
            return loginAgain(self.context)
        if box.provenTicket is None:
            return relogin()
        if box.account is not None:
            return error(403, "This box already has an account. Please sign in instead.")
        if not self.context.switches.current().registrationOpen:
            return error(503, CLOSED)
        return None

    def splash(self, box: Box):
        return self._refuse(box) or html(pages.registrationSplash())

    def form(self, box: Box):
        return self._refuse(box) or html(pages.registrationForm(echoed(box.form)))

    def _check(self, fields: dict[str, str]) -> tuple[str, str, str] | str:
        """
        @return: the cleaned name, user name and password, or a sentence
            saying what is wrong (without asking the store).
            C{registering=true} (minisrv's forms, which come after its
            agreement page) counts as agreeing.
        """
        try:
            name = check_human_name(fields.get("subscriber_name", ""))
            username = check_username(fields.get("subscriber_username", ""),
                                      self.context.usernames.current())
        except AccountError as problem:
            return problem.message
        password = fields.get("subscriber_password", "")
        problem = _passwordProblem(password, fields.get("subscriber_password_again"))
        agreed = (fields.get("agreement", "").lower() in AGREED
                  or fields.get("registering") == "true")
        if problem is None and not agreed:
            problem = "Please tick the box to agree before signing up."
        return problem if problem is not None else (name, username, password)

    async def review(self, box: Box):
        """minisrv's C{ValidateAccountInfo}: check, then show what will be stored."""
        refusal = self._refuse(box)
        if refusal is not None:
            return refusal
        checked = self._check(box.form)
        if isinstance(checked, str):
            return self._again(box.form, checked)
        if await self.context.accounts.usernameTaken(checked[1]):
            return self._again(box.form, _taken(checked[1]))
        return html(pages.registrationReview(echoed(box.form)),
                    headers=[("wtv-noback-all", f"{NAME}:")])

    async def validate(self, box: Box):
        refusal = self._refuse(box)
        if refusal is not None:
            return refusal
        if box.form.get("Change") or box.form.get("change"):
            return html(pages.registrationForm(echoed(box.form)))
        checked = self._check(box.form)
        if isinstance(checked, str):
            return self._again(box.form, checked)
        name, username, password = checked
        if password:
            # Worth a store call of its own only before a hash is made:
            # creating the account checks again, in its transaction.
            try:
                await self.context.accounts.checkSignUp(username,
                                                        self.context.config.maxUsersTotal)
            except AccountError as problem:
                return self._refused(box, username, problem)
        refusal = self._reserve(box)
        if refusal is not None:
            return refusal
        passwordHash = None
        if password:
            try:
                hashing = self.hashing.submit(hash_password, password)
            except QueueFull:
                self._refund(box)
                log.warn("{client}: sign-up refused, {n} password hashes waiting",
                         client=box.address, n=len(self.hashing))
                return error(503, "The service is busy. Please try again in a minute.")
            try:
                passwordHash = await hashing
            except Exception:
                self._refund(box)
                raise
        return await self._create(passwordHash, box, name, username)

    async def _create(self, passwordHash: str | None, box: Box, name: str, username: str):
        try:
            account = await self.context.accounts.createAccount(
                box.ssid, name, username, passwordHash, self.context.config.maxUsersTotal)
        except AccountError as problem:
            self._refund(box)
            return self._refused(box, username, problem)
        log.info("{ssid} at {client}: registered user {username}",
                 ssid=box.loggedSSID, client=box.address, username=username)
        self.context.activity.record(SIGNUP, box.ssid, box.address)
        return html(pages.registered(account.primary),
                    headers=[("wtv-noback-all", f"{NAME}:"),
                             ("wtv-expire-all", "wtv-"),
                             ("wtv-visit", NEXT)])

    def finish(self, box: Box) -> Response:
        """
        minisrv's C{FinishRegistration}: a registered box logs in afresh
        through wtv-1800 (PROTOCOL.md 9, step 6).
        """
        if box.account is None:
            return relogin()
        headers = [("wtv-noback-all", f"{NAME}:"), ("wtv-expire-all", "wtv-"),
                   *serviceHeaders(self.context, ["wtv-1800", "wtv-head-waiter", "wtv-star"],
                                   reset=True),
                   ("wtv-relogin-url", "wtv-1800:/preregister?relogin=true"),
                   ("wtv-reconnect-url", "wtv-1800:/preregister?reconnect=true"),
                   ("wtv-boot-url", "wtv-1800:/preregister?relogin=true"),
                   ("Location", "client:relogin")]
        return Response(status=300, reason="Moved", headers=headers, close=True)

    def _refused(self, box: Box, username: str, problem: AccountError) -> Response:
        """The answer to a sign-up the account store refused."""
        if isinstance(problem, StoreFull):
            log.warn("sign-up refused: the store holds its maximum of users")
            return error(503, CLOSED)
        if isinstance(problem, AccountExists):
            return error(403, "This box already has an account. Please sign in instead.")
        if isinstance(problem, UsernameTaken):
            return self._again(box.form, _taken(username))
        return self._again(box.form, problem.message)

    def _again(self, fields: dict[str, str], problem: str) -> Response:
        return html(pages.registrationForm(echoed(fields), problem))


def _taken(username: str) -> str:
    return f"The user name {username} is taken. Please choose another."


def _passwordProblem(password: str, again: str | None) -> str | None:
    if not password:
        return None
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return (f"A password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} "
                "characters, or leave it empty.")
    if again is not None and again != password:
        return "The two passwords differ. Please type them again."
    return None


def makeService(context: IServiceContext) -> WTVService:
    registration = Registration(context)
    sweep = LoopingCall(registration.expireUnconfirmed)
    sweep.clock = context.reactor
    sweep.start(min(3600.0, max(60.0, context.config.unconfirmedGrace / 10)), now=False)
    service = WTVService(NAME, context)
    service.route("/splash", login=False)(registration.splash)
    service.route("/register", login=False)(registration.form)
    service.route("/ValidateRegistration", login=False)(registration.validate)
    # minisrv's URLs for the same steps (PROTOCOL.md 9), for boxes scripted against it.
    service.route("/ValidateAgreement", login=False)(registration.form)
    service.route("/ValidateAccountInfo", login=False)(registration.review)
    service.route("/ValidateReviewAccountInfo", login=False)(registration.validate)
    service.route("/FinishRegistration", login=False)(registration.finish)
    return service
