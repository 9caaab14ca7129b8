"""
The service author's API: route a path to a handler, read the box, answer.

A service is a L{WTVService} with routes::

    service = WTVService("wtv-hello", context)

    @service.route("/hello")
    def hello(box):
        return html(f"<html><body>Hello, {escape(box.user.human_name)}</body></html>")

A handler takes a L{Box} and returns a L{Response}, a C{str} of HTML, or a
L{Deferred} of either. Routes require a logged-in box unless declared with
C{login=False}. Encryption and compression of the answer happen on the
connection; the author does nothing for them.

The box's account is looked up on the store threads before a handler runs,
unless its route says with C{account=False} that the handler reads none of
it (nor the ticket, the user or whether the box is logged in), or only
after asking for it with L{Box.loadAccount}: a lookup is a trip to another
thread and back, the largest cost of a request that needs none.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from html import escape
from inspect import iscoroutine
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from wtvserv.directory import backThroughLogin
from wtvserv.interfaces import IServiceContext, IWTVService
from wtvserv.wire import Request, Response, errorResponse

__all__ = ["WTVService", "Box", "Response", "html", "page", "visit", "redirect",
           "error", "relogin", "loginAgain", "fileResponse", "escape", "quote"]

log = Logger()
_TOKEN = re.compile(r"-wtv-token-(\d{1,20}-[0-9A-Fa-f]{32})$")
Handler = Callable[["Box"], "Response | str | Deferred"]


_PAGE = """<html>
<head>
<title>{title}</title>
</head>
<body bgcolor="#191919" text="#42BD52" link="#36d5ff" vlink="#36d5ff">
<h2>{title}</h2>
{content}
</body>
</html>
"""


def page(title: str, content: str) -> str:
    """
    A whole page in the house style: plain HTML every WebTV browser renders.
    C{title} is text (escaped here); C{content} is HTML, so escape what came
    from a box or a user in it with L{escape}.
    """
    return _PAGE.format(title=escape(title), content=content)


def html(body: str | bytes, status: int = 200, reason: str = "OK",
         headers: list[tuple[str, str]] = (), contentType: str = "text/html") -> Response:
    """A page. Text is sent as ISO-8859-1, the character set of the boxes."""
    if isinstance(body, str):
        body = body.encode("latin-1", "xmlcharrefreplace")
    return Response(status=status, reason=reason, headers=list(headers), body=body,
                    contentType=contentType)


def visit(url: str, headers: list[tuple[str, str]] = ()) -> Response:
    """An empty C{200 OK} that sends the box on to C{url} (C{wtv-visit})."""
    return Response(headers=[*headers, ("wtv-visit", url)])


def redirect(url: str) -> Response:
    """A C{302} redirect, with C{Location} and C{wtv-visit} as boxes expect."""
    return Response(status=302, reason="Moved temporarily",
                    headers=[("Location", url), ("wtv-visit", url)])


def relogin() -> Response:
    """Send a box that is not logged in back through the login (Z's C{300})."""
    return Response(status=300, reason="Unauthorized",
                    headers=[("Location", "client:relogin")])


def loginAgain(context: IServiceContext) -> Response:
    """
    Send a box whose ticket no longer counts (expired, another server's,
    damaged) through wtv-1800 and a new login: headers only, which a box
    follows without showing a dialog.
    """
    return Response(headers=backThroughLogin(context.directory))


def error(status: int, message: str) -> Response:
    """An error the box shows: C{message} is the user-facing sentence."""
    return errorResponse(status, message)


class Box:
    """
    What a handler knows of the box that sent a request.
    """

    def __init__(self, request: Request, context: IServiceContext,
                 token: str | None = None, plainTickets: bool = False) -> None:
        """
        @param plainTickets: whether the service takes a ticket on a plain
            connection (its boxes are told not to encrypt: flag 0x1).
        """
        self.request = request
        self.context = context
        #: The SSID the request is answered for (read often: kept, not looked up).
        self.ssid: str | None = request.ssid
        self.token = token
        self.plainTickets = plainTickets
        self._account: Any = False
        self._generationNumber = 0
        self._ticket: Any = False

    @property
    def address(self) -> str:
        """
        The client as per-address limits count it: its IPv4 address, or
        its IPv6 /64 written as a network (L{wtvserv.clients}).
        """
        return self.request.address

    @property
    def loggedSSID(self) -> str:
        """The SSID as the log may show it (masked unless configured otherwise)."""
        return self.request.loggedSSID

    @property
    def headers(self):
        return self.request.headers

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.request.headers.get(name, default)

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    @property
    def form(self) -> dict[str, str]:
        """Query and POSTed form fields merged (the body wins)."""
        return self.request.form

    @property
    def secure(self) -> bool:
        return self.request.secure

    @property
    def ticket(self):
        """
        The verified ticket of the request, or L{None}; never one issued to
        another SSID than the one the request is answered for, nor one of an
        older account generation (deleted, transferred, password changed,
        logged out). It may have come in clear: see L{provenTicket}.
        """
        if self._ticket is False:
            ticket = self.request.ticket
            if ticket is not None and (ticket.ssid != self.ssid
                                       or ticket.generation != self.generation):
                ticket = None
            self._ticket = ticket
        return self._ticket

    @property
    def generation(self) -> int:
        """The SSID's account generation (0 at first), loaded with L{account}."""
        if self._account is False:
            raise RuntimeError("Box.generation is read before loadAccount() fired")
        return self._generationNumber

    @property
    def provenTicket(self):
        """
        L{ticket}, if the box showed it holds the ticket's keys: the request
        came on a connection encrypted with them (or the service takes plain
        tickets). A ticket alone, copied from a C{SECURE ON} block, is none.
        """
        if self.request.keysProven or self.plainTickets:
            return self.ticket
        return None

    @property
    def account(self):
        """
        The SSID's account, or L{None}: looked up (off the reactor thread)
        before the service answers, so reading it never waits on storage.
        """
        if self._account is False:
            raise RuntimeError("Box.account is read before loadAccount() fired")
        return self._account

    @property
    def accountLoaded(self) -> bool:
        return self._account is not False

    def loadAccount(self) -> Deferred:
        """
        Look up the SSID's account, or without one its generation (which
        tickets must match), in one call on the store threads; at once if
        this request looked them up already.

        @return: a L{Deferred} firing with this box once both are known.
        """
        if self._account is not False:
            return succeed(self)
        if not self.ssid:
            self._account = None
            return succeed(self)

        def loaded(found):
            self._account, self._generationNumber = found
            return self
        return self.context.accounts.accountAndGeneration(self.ssid).addCallback(loaded)

    @property
    def user(self):
        """The logged-in user (of a L{provenTicket}), or L{None}."""
        ticket = self.provenTicket
        if ticket is None or ticket.user_id is None or not ticket.password_ok:
            return None
        account = self.account
        return account.user(ticket.user_id) if account else None

    @property
    def loggedIn(self) -> bool:
        return self.user is not None


class _Route:
    __slots__ = ("handler", "login", "methods", "account")

    def __init__(self, handler: Handler, login: bool, methods: frozenset[str],
                 account: bool = True) -> None:
        self.handler = handler
        self.login = login
        self.methods = methods
        # Checking the login needs the account, whatever the handler reads.
        self.account = account or login


@implementer(IWTVService)
class WTVService:
    """
    A wtv- service made of routes. Requests for another service's URL are
    refused, as a box is only meant to reach a service on its own port,
    unless the service is a C{wildcard} (boxes reach wtv-star for any
    service they have no entry for, through C{wtv-*}).
    """

    def __init__(self, name: str, context: IServiceContext, wildcard: bool = False) -> None:
        self.name = name
        self.context = context
        self.wildcard = wildcard
        self._fallback: _Route | None = None
        self._routes: dict[str, _Route] = {}
        self._static: list[tuple[str, Path, bool]] = []

    def route(self, path: str, login: bool = True, methods: tuple[str, ...] = ("GET", "POST"),
              account: bool = True) -> Callable[[Handler], Handler]:
        """
        Register the decorated function for C{path} (exact match; a path
        with or without a trailing C{?} query is the same).

        @param account: L{False} when the handler reads none of the box's
            account, ticket, user or login, or only once it has called
            L{Box.loadAccount}: the request then skips the lookup.
            Ignored with C{login}, which needs the account.
        """
        def register(handler: Handler) -> Handler:
            self._routes[path] = _Route(handler, login, frozenset(methods), account)
            return handler
        return register

    def fallback(self, handler: Handler, login: bool = True, account: bool = True) -> None:
        """
        Answer every path no route or static folder matches with C{handler};
        C{account} as for L{route}.
        """
        self._fallback = _Route(handler, login, frozenset({"GET", "POST"}), account)

    def static(self, prefix: str, directory: Path, login: bool = False) -> None:
        """
        Serve the files under C{directory} at C{prefix}/... . Nothing outside
        C{directory} can be reached: not with C{..}, encoded or not, nor an
        absolute path, nor a symbolic link.
        """
        self._static.append((prefix.rstrip("/") + "/", Path(directory).resolve(), login))

    def handle(self, request: Request) -> Response | Deferred:
        if request.service != self.name and not self.wildcard:
            # The box's own bytes are never repeated back: only our name.
            return errorResponse(400, f"{self.name} cannot serve that address.", close=True)
        path, token = splitToken(request.path)
        box = Box(request, self.context, token, self._takesPlainTickets())
        if self._needsAccount(box, path):
            return box.loadAccount().addCallback(self._answerRenewing, path)
        return self._answerRenewing(box, path)

    def _needsAccount(self, box: Box, path: str) -> bool:
        """
        Whether the account must be looked up before answering: for the
        route's handler or login check, a static folder's login check, or a
        ticket that may be renewed (which only its generation tells).
        """
        request = box.request
        if (request.keysProven and request.ticket is not None
                and self.context.tickets.needsRenewal(request.ticket)):
            return True
        route = self._routes.get(path)
        if route is not None:
            return route.account
        if any(login and request.path.startswith(prefix) for prefix, _, login in self._static):
            return True
        return self._fallback is not None and self._fallback.account

    def _answerRenewing(self, box: Box, path: str) -> Response | Deferred:
        """L{_answer}, then L{_renewing}: now, or once the handler's L{Deferred} fires."""
        result = self._answer(box, path)
        if isinstance(result, Deferred):
            return result.addCallback(self._renewing, box)
        return self._renewing(result, box)

    def _answer(self, box: Box, path: str) -> Response | str | Deferred:
        route = self._routes.get(path)
        if route is None:
            found = self._serveStatic(box)
            if found is not None or self._fallback is None:
                return found or error(404, "The service could not find the requested page.")
            route = self._fallback
        if box.request.method not in route.methods:
            return error(405, "That page cannot be used this way.")
        if route.login and not box.loggedIn:
            return self._notLoggedIn(box)
        result = route.handler(box)
        return Deferred.fromCoroutine(result) if iscoroutine(result) else result

    def _renewing(self, result: Response | str | bytes, box: Box) -> Response:
        """
        C{result} as a response; one to a logged-in box whose ticket is past
        half its life also carries the ticket issued afresh (same contents,
        new expiry, the same account generation), so a box left on keeps its
        login. Only a ticket of the current generation that the box proved
        on a connection encrypted with its keys is renewed: a copied ticket,
        replayed in clear or in a SECURE ON block, stays as old as it is.
        """
        response = _asResponse(result)
        if response.ticket is not None or not box.accountLoaded:
            # Unloaded, the ticket did not need renewing (see _needsAccount).
            return response
        ticket = box.provenTicket
        if (ticket is not None and box.request.keysProven
                and box.loggedIn and self.context.tickets.needsRenewal(ticket)):
            response.ticket = ticket
        return response

    def _takesPlainTickets(self) -> bool:
        entry = self.context.directory.get(self.name)
        return entry is not None and not entry.encrypts

    def _notLoggedIn(self, box: Box) -> Response:
        problem = box.request.ticketError
        if problem is not None:
            log.info("{service}: {ssid} at {client} sent back through login: {problem}",
                     service=self.name, ssid=box.loggedSSID, client=box.address,
                     problem=problem.message)
            return loginAgain(self.context)
        return relogin()

    def _serveStatic(self, box: Box) -> Response | None:
        path = box.request.path
        for prefix, root, login in self._static:
            if path.startswith(prefix):
                if login and not box.loggedIn:
                    return self._notLoggedIn(box)
                target = safeJoin(root, path[len(prefix):])
                if target is not None:
                    return fileResponse(target)
        return None


def splitToken(path: str) -> tuple[str, str | None]:
    """
    Split a C{-wtv-token-<digits>-<32 hex>} suffix off a path, as the
    official service appended to some URLs (PROTOCOL.md 6.1).

    @return: the path without it, and the token's C{<digits>-<hex>}.
    """
    if "-wtv-token-" not in path:
        return path, None       # most paths: no search to run
    match = _TOKEN.search(path)
    if match is None:
        return path, None
    return path[:match.start()], match.group(1)


def _asResponse(result: Response | str | bytes) -> Response:
    if isinstance(result, Response):
        return result
    return html(result)


def safeJoin(root: Path, relative: str) -> Path | None:
    """
    @return: the regular file C{relative} names under C{root}, or L{None}
        when it is missing or any step would leave C{root}: C{..}, an
        absolute path, a NUL, or a symbolic link anywhere on the way.
    """
    if "\x00" in relative or "\\" in relative:
        return None
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts or any(part == ".." for part in parts):
        return None
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return None
    return current if stat.S_ISREG(mode) else None


def fileResponse(path: Path) -> Response:
    """A file's bytes with a type guessed from its name; static, so cacheable."""
    contentType = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = path.read_bytes()
    stamp = path.stat()
    return Response(body=data, contentType=contentType,
                    cacheKey=(str(path), stamp.st_mtime_ns, stamp.st_size))
