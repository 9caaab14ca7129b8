"""
wtv-register: sign-up for a box that has no account (PROTOCOL.md 9).

Reached after a successful challenge, so the box holds a ticket; the pages
need that ticket but no user. The account is created in one transaction,
then the box logs in again with C{?new_registration=1}.
"""

from __future__ import annotations

from twisted.logger import Logger

from wtvserv.accounts import (
    MAX_HUMAN_NAME_LENGTH,
    MAX_USERNAME_LENGTH,
    AccountError,
    AccountExists,
    check_human_name,
    check_username,
)
from wtvserv.activity import SIGNUP
from wtvserv.interfaces import IServiceContext
from wtvserv.passwords import MAX_PASSWORD_LENGTH, hash_password
from wtvserv.services import pages
from wtvserv.services.common import serviceHeaders
from wtvserv.throttle import SlidingWindow, minutesText
from wtvserv.web import Box, Response, WTVService, error, html, relogin

log = Logger()
NAME = "wtv-register"
CLOSED = "Sign-ups are closed for now. Please try again later."
NEXT = "wtv-head-waiter:/login?new_registration=1"
MIN_PASSWORD_LENGTH = 4
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
        self.signups = SlidingWindow(context.reactor, config.registrationsPerAddress,
                                     config.registrationWindow, exempt=context.exemptFromLimits)

    def _tooMany(self, box: Box) -> Response | None:
        """Sign-ups per client address are limited, so one host cannot fill the store."""
        if not self.signups.exceeded(box.address):
            return None
        log.warn("{client}: sign-up refused, too many from this address", client=box.address)
        wait = minutesText(self.signups.retryAfter(box.address))
        return error(403, "Too many accounts were made from your connection. "
                          f"Please wait {wait} and try again.")

    def _refuse(self, box: Box) -> Response | None:
        """Pages need a box that passed the challenge and has no account yet."""
        if box.request.ticketError is not None:
            return error(403, box.request.ticketError.message)
        if box.ticket is None:
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
            saying what is wrong. C{registering=true} (minisrv's forms, which
            come after its agreement page) counts as agreeing.
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
        if problem is None and self.context.accounts.usernameTaken(username):
            problem = f"The user name {username} is taken. Please choose another."
        return problem if problem is not None else (name, username, password)

    def review(self, box: Box):
        """minisrv's C{ValidateAccountInfo}: check, then show what will be stored."""
        refusal = self._refuse(box)
        if refusal is not None:
            return refusal
        checked = self._check(box.form)
        if isinstance(checked, str):
            return self._again(box.form, checked)
        return html(pages.registrationReview(echoed(box.form)),
                    headers=[("wtv-noback-all", f"{NAME}:")])

    def validate(self, box: Box):
        refusal = self._refuse(box)
        if refusal is not None:
            return refusal
        if box.form.get("Change") or box.form.get("change"):
            return html(pages.registrationForm(echoed(box.form)))
        checked = self._check(box.form)
        if isinstance(checked, str):
            return self._again(box.form, checked)
        refusal = self._tooMany(box)
        if refusal is not None:
            return refusal
        if self.context.accounts.userCount() >= self.context.config.maxUsersTotal:
            log.warn("sign-up refused: the store holds its maximum of users")
            return error(503, CLOSED)
        name, username, password = checked
        if not password:
            return self._create(None, box, name, username)
        hashing = self.context.inWorkerThread(hash_password, password)
        return hashing.addCallback(self._create, box, name, username)

    def _create(self, passwordHash: str | None, box: Box, name: str, username: str):
        try:
            account = self.context.accounts.createAccount(box.ssid, name, username, passwordHash)
        except AccountExists:
            return error(403, "This box already has an account. Please sign in instead.")
        except AccountError as problem:
            return self._again(box.form, problem.message)
        self.signups.record(box.address)
        log.info("{ssid} at {client}: registered user {username}",
                 ssid=box.loggedSSID, client=box.address, username=username)
        self.context.activity.record(SIGNUP)
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

    def _again(self, fields: dict[str, str], problem: str) -> Response:
        return html(pages.registrationForm(echoed(fields), problem))


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
