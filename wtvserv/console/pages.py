"""
The console's pages and the changes they make.

Every page but the sign-in page needs a live session; every POST needs the
session's CSRF token (the sign-in form: the token of its own cookie). A
change runs through L{wtvserv.operations} on the store threads, is logged
with who made it, and answers C{303} back to its page, which then shows a
one-line notice. Store calls and password hashing never run on the reactor.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from importlib.resources import files
from ipaddress import ip_address
from urllib.parse import quote, unquote

from jinja2 import Environment, PackageLoader
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from wtvserv import operations
from wtvserv.activity import LOGIN, SIGNUP
from wtvserv.cli.accounts import when
from wtvserv.cli.logs import render_body
from wtvserv.console.access import passwordIsSet, sameSecret
from wtvserv.console.chart import activityChart
from wtvserv.console.recent import RecentLog
from wtvserv.console.resource import Reply, hostName, redirect
from wtvserv.console.signin import FORM_EXPIRED, SignIn
from wtvserv.operations import Refused
from wtvserv.switches import SWITCHES, SWITCHES_FILE

log = Logger()

#: Rows a listing shows at most.
MAX_ROWS = 100
#: Reports read to find those of one kind.
REPORTS_SCANNED = 1000
_USER_NUMBER = re.compile(r"\d{1,3}")


def clock(stamp: float) -> str:
    """A time of the last hours, for the dashboard: the time of day, UTC."""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%H:%M:%SZ")


class Console:
    """
    The console of one server process: its sign-ins, the recent log, and
    the pages.

    @param server: the L{wtvserv.server.WTVServer} it shows and changes.
    """

    def __init__(self, server, recentLog: RecentLog) -> None:
        self.server = server
        self.config = server.config
        self.reactor = server.reactor
        self.recentLog = recentLog
        self.names = {name.lower() for name in self.config.consoleNames}
        self.signin = SignIn(self, self.config.consoleSessionMinutes * 60)
        self.templates = Environment(loader=PackageLoader("wtvserv.console", "templates"),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.templates.globals.update(when=when, clock=clock)
        self.templates.filters["path"] = lambda text: quote(str(text), safe="")
        self.stylesheet = files("wtvserv.console").joinpath("static/console.css").read_bytes()
        self.routes = [
            ("GET", re.compile(r"/"), self.dashboard),
            ("POST", re.compile(r"/switches"), self.setSwitch),
            ("POST", re.compile(r"/signout"), self.signin.signOut),
            ("GET", re.compile(r"/accounts"), self.accounts),
            ("GET", re.compile(r"/accounts/([^/]+)"), self.account),
            ("POST", re.compile(r"/accounts/([^/]+)/clear-password"), self.clearPassword),
            ("POST", re.compile(r"/accounts/([^/]+)/remove-user"), self.removeUser),
            ("POST", re.compile(r"/accounts/([^/]+)/transfer"), self.transfer),
            ("POST", re.compile(r"/accounts/([^/]+)/delete"), self.delete),
            ("GET", re.compile(r"/bans"), self.bans),
            ("POST", re.compile(r"/bans/add"), self.addBan),
            ("POST", re.compile(r"/bans/remove"), self.removeBan),
            ("GET", re.compile(r"/reports"), self.reports),
            ("GET", re.compile(r"/reports/(\d{1,18})"), self.report),
            ("GET", re.compile(r"/log"), self.logLines),
        ]

    # Helpers

    def onStoreThreads(self, function, *args):
        return deferToThreadPool(self.reactor, self.server.storeThreads, function, *args)

    def render(self, name: str, status: int = 200, session=None, **values) -> Reply:
        notice = None
        if session is not None:
            notice, session.notice = session.notice, None
        page = self.templates.get_template(name).render(session=session, notice=notice,
                                                        **values)
        return Reply(status, page.encode("utf-8"))

    def audit(self, session, did: str) -> None:
        log.info("console: operator from {client} {did} [sign-in {number}]",
                 client=session.address, did=did, number=session.number)

    def shown(self, ssid: str) -> str:
        """An SSID as the log shows it (masked unless [logs] full_ssids)."""
        return self.server.ssidPolicy.forLog(ssid)

    def done(self, session, location: str, notice: str) -> Reply:
        session.notice = notice
        return redirect(location)

    # Dispatch

    def knownHost(self, name: str | None) -> bool:
        """
        Whether the console answers to C{Host} C{name}: an IP address,
        localhost or a name of C{[console] names}. A page of another site
        whose name was rebound to this machine's address sends its own name,
        and is refused (DNS rebinding).
        """
        if name is None or name == "localhost" or name in self.names:
            return True
        try:
            ip_address(name)
        except ValueError:
            return False
        return True

    async def respond(self, request, form: dict[str, str]) -> Reply:
        path, method = request.path.decode("ascii", "replace"), request.method.decode("ascii")
        if not self.knownHost(hostName(request)):
            log.warn("console: a request for host {host!r} refused (not in [console] names)",
                     host=hostName(request))
            return Reply(421, b"This console answers only to its own addresses; add this "
                              b"name to [console] names to use it.\n",
                         b"text/plain; charset=utf-8")
        if path == "/static/console.css":
            return Reply(body=self.stylesheet, contentType=b"text/css; charset=utf-8")
        if path == "/favicon.ico":      # asked for by every browser; there is none
            return Reply(404, b"", b"text/plain; charset=utf-8")
        if path == "/signin":
            return await (self.signin.signIn(request, form) if method == "POST"
                          else self.signin.page(request, form))
        session = self.signin.session(request)
        if session is None:
            return redirect("/signin")
        for routeMethod, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match and routeMethod == method:
                if method == "POST" and not sameSecret(form.get("csrf"), session.csrf):
                    log.warn("console: a form without its token from {client} refused",
                             client=session.address)
                    return self.render("message.html", 403, session, title="Form expired",
                                       message=FORM_EXPIRED)
                return await handler(session, form, *map(unquote, match.groups()))
        return self.render("message.html", 404, session, title="Not found",
                           message="There is no such page.")

    # The dashboard and the switches

    async def dashboard(self, session, form) -> Reply:
        status = await self.server.status()
        activity = self.server.activity
        switches = self.server.switches.current()
        return self.render(
            "dashboard.html", session=session, connected=self.server.boxesConnected(),
            loggedIn=status["loggedIn"],
            lastHour=status["lastHour"], chart=activityChart(activity.perStep(LOGIN),
                                                             activity.perStep(SIGNUP)),
            latest=activity.latest()[:20], errors=self.recentLog.newestFirst(
                self.recentLog.errors, 20),
            switches=[(name, switches.word(name), yes, no)
                      for name, (_, yes, no) in SWITCHES.items()],
            message=switches.message if switches.maintenance else None,
            passwordSet=passwordIsSet(self.config.dataDir), now=self.reactor.seconds())

    async def setSwitch(self, session, form) -> Reply:
        name, word = form.get("name", ""), form.get("state", "")
        try:
            await self.onStoreThreads(operations.setSwitch, self.switchList(), name, word)
        except Refused as refusal:
            return self.done(session, "/", str(refusal))
        await self.server.switches.recheck()
        self.audit(session, f"set {name} {word}")
        return self.done(session, "/", f"{name.capitalize()} is {word}.")

    def switchList(self):
        if self.server.stores.shared is not None:
            return operations.DatabaseSwitches(self.server.stores.shared)
        return operations.FileSwitches(self.config.dataDir / SWITCHES_FILE)

    # Accounts

    async def accounts(self, session, form) -> Reply:
        query = form.get("q", "")
        found, total = await self.onStoreThreads(self.server.accounts.searchAccounts,
                                                 query, MAX_ROWS)
        return self.render("accounts.html", session=session, query=query, found=found,
                           total=total)

    async def account(self, session, form, ssid: str) -> Reply:
        try:
            account = await self.onStoreThreads(operations.findAccount,
                                                self.server.accounts, ssid)
        except Refused as refusal:
            return self.render("message.html", 404, session, title="No such account",
                               message=str(refusal))
        return self.render("account.html", session=session, account=account)

    async def changeUser(self, session, form, ssid: str, change, did: str,
                         notice: str) -> Reply:
        """
        Make C{change(store, account, user)} to the form's user; C{did} says
        what was done, for the log, and C{notice} for the page (a format
        with C{user} and C{ssid}).
        """
        number = form.get("user", "")

        def run():
            account = operations.findAccount(self.server.accounts, ssid)
            if not _USER_NUMBER.fullmatch(number):
                raise Refused(f"{number!r} is not a user number")
            user = operations.findUser(account, int(number))
            change(self.server.accounts, account, user)
            return account, user
        try:
            account, user = await self.onStoreThreads(run)
        except Refused as refusal:
            return self.done(session, f"/accounts/{quote(ssid, safe='')}", str(refusal))
        self.audit(session, f"{did} user {user.user_id} of {self.shown(account.ssid)}")
        return self.done(session, f"/accounts/{quote(account.ssid, safe='')}",
                         notice.format(user=user.user_id, ssid=account.ssid))

    async def clearPassword(self, session, form, ssid: str) -> Reply:
        def clear(store, account, user):
            operations.setPasswordHash(store, account, user, None)
        return await self.changeUser(session, form, ssid, clear, "cleared the password of",
                                     "Password cleared for user {user} of {ssid}.")

    async def removeUser(self, session, form, ssid: str) -> Reply:
        return await self.changeUser(session, form, ssid, operations.removeUser, "removed",
                                     "Removed user {user} of {ssid}.")

    async def transfer(self, session, form, ssid: str) -> Reply:
        new = form.get("new", "").strip()

        def run():
            account = operations.findAccount(self.server.accounts, ssid)
            operations.transferAccount(self.server.accounts, self.config, account, new)
            return account
        try:
            account = await self.onStoreThreads(run)
        except Refused as refusal:
            return self.done(session, f"/accounts/{quote(ssid, safe='')}", str(refusal))
        self.audit(session, f"moved the account of {self.shown(account.ssid)} to "
                            f"{self.shown(new)}")
        return self.done(session, f"/accounts/{quote(new, safe='')}",
                         f"Moved the account of {account.ssid} to {new}.")

    async def delete(self, session, form, ssid: str) -> Reply:
        here = f"/accounts/{quote(ssid, safe='')}"
        if form.get("confirm") != "yes":
            return self.done(session, here, "Tick the box to confirm, then delete.")

        def run():
            account = operations.findAccount(self.server.accounts, ssid)
            operations.deleteAccount(self.server.accounts, account)
            return account
        try:
            account = await self.onStoreThreads(run)
        except Refused as refusal:
            return self.done(session, here, str(refusal))
        self.audit(session, f"deleted the account of {self.shown(account.ssid)}")
        return self.done(session, "/accounts", f"Deleted the account of {account.ssid}.")

    # Bans

    def banList(self):
        if self.server.stores.shared is not None:
            return operations.DatabaseBans(self.server.stores.shared)
        return operations.FileBans(self.config.dataDir / self.config.banFile)

    async def bans(self, session, form) -> Reply:
        try:
            entries = await self.onStoreThreads(lambda: self.banList().entries())
        except Refused as refusal:
            return self.render("message.html", 500, session, title="Bans",
                               message=str(refusal))
        return self.render("bans.html", session=session, entries=entries)

    async def addBan(self, session, form) -> Reply:
        def run():
            entry = operations.banEntry("address", form.get("address", "").strip())
            return entry, self.banList().add(entry, operations.banNote(form.get("reason")))
        try:
            entry, added = await self.onStoreThreads(run)
        except Refused as refusal:
            return self.done(session, "/bans", str(refusal))
        if not added:
            return self.done(session, "/bans", f"{entry[1]} is already banned.")
        self.audit(session, f"banned {' '.join(entry)}")
        return self.done(session, "/bans", f"Banned {entry[1]}.")

    async def removeBan(self, session, form) -> Reply:
        def run():
            entry = operations.banEntry(form.get("kind", ""), form.get("value", ""))
            return entry, self.banList().remove(entry)
        try:
            entry, removed = await self.onStoreThreads(run)
        except Refused as refusal:
            return self.done(session, "/bans", str(refusal))
        if not removed:
            return self.done(session, "/bans", f"{entry[1]} is not banned.")
        what = entry[1] if entry[0] == "address" else self.shown(entry[1])
        self.audit(session, f"lifted the ban on {entry[0]} {what}")
        return self.done(session, "/bans", f"Lifted the ban on {entry[1]}.")

    # Reports and the log

    async def reports(self, session, form) -> Reply:
        ssid, kind = form.get("ssid", "").strip(), form.get("kind", "").strip()
        scanned = await self.onStoreThreads(self.server.logs.list, ssid or None,
                                            REPORTS_SCANNED if kind else MAX_ROWS)
        listed = [entry for entry in scanned if not kind or entry.kind == kind][:MAX_ROWS]
        return self.render("reports.html", session=session, ssid=ssid, kind=kind,
                           reports=listed)

    async def report(self, session, form, logId: str) -> Reply:
        entry = await self.onStoreThreads(self.server.logs.get, int(logId))
        if entry is None:
            return self.render("message.html", 404, session, title="No such report",
                               message=f"There is no report {logId}.")
        return self.render("report.html", session=session, report=entry,
                           body=render_body(entry.body))

    async def logLines(self, session, form) -> Reply:
        return self.render("log.html", session=session,
                           lines=self.recentLog.newestFirst(self.recentLog.lines, 500))
