"""
Every contract in wtvserv, in one place.

The services of one process (and of several processes sharing a data
directory) cooperate only through these interfaces: a ticket authority that
mints and checks C{wtv-ticket} values, a session-key registry that remembers
each box's DES key and RC4 session keys, an account store, a log store, and
the handlers that answer WTVP requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface

if TYPE_CHECKING:  # pragma: no cover
    from twisted.internet.defer import Deferred

    from wtvserv.accounts import Account, User
    from wtvserv.crypto.challenge import IssuedChallenge
    from wtvserv.tickets import Ticket
    from wtvserv.wire import Request, Response


class ITicketAuthority(Interface):
    """
    Mints and checks C{wtv-ticket} values.

    A ticket is opaque to the box. It must be impossible to forge, alter or
    read without the server's secret, it is bound to one SSID, it expires, and
    it carries what a service needs to resume the box's session (user, RC4
    session keys, the box's current DES key), so any process holding the same
    secret can continue a box's encrypted session.
    """

    def issue(ticket: Ticket) -> str:
        """
        @return: the base64 text to send in a C{wtv-ticket} header. The
            ticket's C{expires} is set by the authority from its lifetime.
        """

    def seal(ticket: Ticket) -> tuple[str, Ticket]:
        """
        L{issue}, also returning the contents as stamped (C{issued},
        C{expires}), so the issuer need not decrypt what it just sealed.
        """

    def verify(text: str, ssid: str) -> Ticket:
        """
        @param text: a C{wtv-ticket} header value as the box sent it.
        @param ssid: the SSID of the box presenting it.
        @return: the ticket's contents.
        @raise wtvserv.tickets.TicketError: (or a subclass) when the ticket is
            malformed, forged, altered, expired or belongs to another SSID.
            The exception's C{message} is fit to show the user. An expired
            ticket's authentic contents are on the exception's C{ticket}.
        """

    def expired(ticket: Ticket) -> bool:
        """@return: whether C{ticket} (verified earlier) is past its expiry now."""

    def derivedKey(purpose: bytes) -> bytes:
        """
        @return: 32 secret bytes for C{purpose}, derived from the ticket
            secret, so the same on every host sharing it (the head-waiter's
            challenges and stage-two tokens).
        """

    def needsRenewal(ticket: Ticket) -> bool:
        """
        @return: whether C{ticket} is past half its life, so a response to
            the box that proved it should carry a fresh one (the same
            contents, issued again).
        """


class ISessionKeyRegistry(Interface):
    """
    The keys each box holds, as far as this process knows them.

    What a box has proven (by answering a challenge) is kept apart from what
    anyone claiming its SSID was merely handed: an initial key from wtv-1800
    or a challenge not yet answered is kept per C{origin} (the client
    address) and serves that origin only, so a stranger pre-registering or
    asking for a challenge under a box's SSID changes nothing the box uses.

    Bounded in memory: entries expire after a period without use and the
    least recently used are dropped once a cap is reached.
    """

    def currentKey(ssid: str, origin: str = "") -> bytes | None:
        """
        @return: the 8-byte DES key last offered to C{origin} for C{ssid},
            to encrypt its next challenge with; L{None} when none was (the
            box must pre-register, or prove its key with its ticket).
        """

    def offerKey(ssid: str, key: bytes, origin: str = "") -> None:
        """Record an initial key handed out, in clear, to C{origin}."""

    def setPendingChallenge(ssid: str, challenge: IssuedChallenge, origin: str = "") -> None:
        """Remember the challenge just sent to C{origin}, replacing its earlier one."""

    def pendingChallenge(ssid: str, origin: str = "") -> IssuedChallenge | None:
        """@return: the challenge sent to C{origin} and not yet answered, or L{None}."""

    def challengeAnswered(ssid: str, challenge: IssuedChallenge, origin: str = "") -> None:
        """
        C{origin} answered C{challenge} correctly: it is consumed with what
        was offered to C{origin}, and its session keys are remembered.
        """

    def sessionKeys(ssid: str) -> tuple[bytes, bytes] | None:
        """@return: C{(key1, key2)} from the box's last answered challenge."""

    def forget(ssid: str) -> None:
        """Drop what the box of C{ssid} proved."""


class IAccountStore(Interface):
    """
    Subscriber accounts: one account per SSID, several users per account.

    User 0 is the primary user (the subscriber). Methods are synchronous and
    each write is one transaction.
    """

    def accountFor(ssid: str) -> Account | None:
        """@return: the account of C{ssid} with its users, or L{None}."""

    def createAccount(ssid: str, humanName: str, username: str,
                      passwordHash: str | None, maxUsers: int | None = None) -> Account:
        """
        Create an account whose primary user is C{username}, in one
        transaction with the checks.

        @param maxUsers: the most users the store may hold with it (a
            sign-up's limit); L{None} for no limit.
        @raise wtvserv.accounts.AccountExists: C{ssid} already has one.
        @raise wtvserv.accounts.UsernameTaken: C{username} is in use.
        @raise wtvserv.accounts.InvalidUsername: C{username} breaks the rules.
        @raise wtvserv.accounts.StoreFull: the store holds C{maxUsers} already.
        """

    def checkSignUp(username: str, maxUsers: int) -> None:
        """
        The checks of L{createAccount} that need the store, made before
        the slow work of a sign-up (hashing its password).

        @raise wtvserv.accounts.UsernameTaken: C{username} is in use.
        @raise wtvserv.accounts.StoreFull: the store holds C{maxUsers} users.
        """

    def addUser(ssid: str, humanName: str, username: str,
                passwordHash: str | None) -> User:
        """
        Add a further user to the account of C{ssid}.

        @raise wtvserv.accounts.TooManyUsers: the account is full.
        """

    def setPasswordHash(ssid: str, userId: int, passwordHash: str | None) -> None:
        """Replace (or with L{None}, remove) a user's password hash; bumps the generation."""

    def removeUser(ssid: str, userId: int) -> None:
        """Remove a user other than user 0; bumps the generation."""

    def deleteAccount(ssid: str) -> None:
        """Delete the account of C{ssid}; bumps the generation."""

    def transferAccount(ssid: str, newSSID: str) -> None:
        """Move an account to another box; bumps the generations of both SSIDs."""

    def generationOf(ssid: str) -> int:
        """
        @return: the generation of C{ssid}: tickets carry the one they were
            issued under, and count only while it is current. Each change
            above bumps it in the same transaction.
        """

    def accountAndGeneration(ssid: str) -> tuple[Account | None, int]:
        """
        @return: L{accountFor} and L{generationOf} of C{ssid} (a request's
            lookup: one call, so one trip to the store threads).
        """

    def bumpGeneration(ssid: str) -> None:
        """Make the tickets issued so far for C{ssid} stale (logging out)."""

    def confirm(ssid: str) -> None:
        """Note that the account of C{ssid} has completed a login."""

    def expireUnconfirmed(olderThan: float) -> list[str]:
        """
        Delete the accounts created more than C{olderThan} seconds ago that
        never completed a login. @return: their SSIDs.
        """

    def userCount() -> int:
        """@return: the number of users in the store."""

    def listAccounts() -> list[Account]:
        """@return: every account with its users, oldest first (for the operator)."""

    def accountsIgnoringCase(ssid: str) -> list[Account]:
        """@return: the accounts whose SSID is C{ssid} but for case (for the operator)."""

    def searchAccounts(text: str, limit: int) -> tuple[list[Account], int]:
        """
        @return: up to C{limit} accounts whose SSID or a user name contains
            C{text} ignoring case (all for an empty one), oldest first, and
            how many match in all (for the operator's console).
        """

    def usernameTaken(username: str) -> bool:
        """@return: whether any user has C{username} (case-insensitively)."""


class ISharedState(Interface):
    """
    What the hosts of a PostgreSQL deployment share besides accounts and
    logs (L{wtvserv.store.shared}). Each write is one transaction.
    """

    def secret(name: str, fresh: Any) -> bytes:
        """@return: the secret C{name}, stored from C{fresh()} by the first host to ask."""

    def bans() -> list[tuple[str, str, str]]:
        """@return: every ban as C{(kind, value, note)}."""

    def addBan(kind: str, value: str, note: str = "") -> bool:
        """@return: whether the ban is new."""

    def removeBan(kind: str, value: str) -> bool:
        """@return: whether there was such a ban."""

    def reserveFailures(limits: list[tuple[str, str, int]], window: float
                        ) -> tuple[float, list[int]]:
        """
        Count a password check against C{(scope, key, limit)}s before it
        runs. @return: C{(0, ids)}, or C{(seconds to wait, [])} when over a limit.
        """

    def refund(ids: list[int]) -> None:
        """Take back the failures of a check that was right."""

    def offerKey(ssid: str, origin: str, key: bytes, lifetime: float, capacity: int) -> None:
        """Record the initial key wtv-1800 handed C{origin} for C{ssid}."""

    def offeredKey(ssid: str, origin: str, lifetime: float) -> tuple[bytes, float] | None:
        """@return: the key last offered to C{origin} for C{ssid} and when, or L{None}."""

    def setting(name: str) -> str | None:
        """@return: the operator's setting C{name} (the switches), or L{None}."""

    def changeSetting(name: str, change: Any) -> str:
        """Replace setting C{name} by C{change(current value)}, atomically."""

    def exchangeCounts(host: str, rows: list, now: float, most: int) -> list:
        """Add C{host}'s rate counts; @return: the other hosts' (L{wtvserv.sharedwindows})."""

    def answerChallenge(ssid: str, challengeId: bytes, ends: float) -> bool:
        """@return: whether this is the first answer to the challenge, on any host."""


class ILogStore(Interface):
    """What boxes report through C{wtv-log}, bounded per source and in total."""

    def add(ssid: str, kind: str, fields: dict[str, str], body: bytes,
            sender: str | None = None) -> int:
        """
        Store one report: from the holder of C{ssid}'s ticket (C{sender}
        L{None}) or from the address C{sender}. @return: its id.
        """

    def list(ssid: str | None = None, limit: int = 100) -> list[Any]:
        """@return: summaries of the newest reports, newest first."""

    def get(logId: int) -> Any:
        """@return: one report with its body, or L{None}."""


class IWTVService(Interface):
    """
    Answers the WTVP requests that reach one service port.
    """

    name = Attribute("The service name, e.g. C{'wtv-log'}.")

    def handle(request: Request) -> Response | Deferred[Response]:
        """
        Answer one request.

        @param request: the parsed request, with the box's SECURE ON headers
            merged in, the verified ticket (if any) and whether the
            connection is encrypted.
        @return: the response, or a L{Deferred} that fires with it. Never
            raises: errors are answered with an error L{Response}.
        """


class IServiceContext(Interface):
    """
    What a service plugin is given to build its service: the shared parts of
    the process.
    """

    tickets = Attribute("The L{ITicketAuthority}.")
    sessions = Attribute("The L{ISessionKeyRegistry}.")
    accounts = Attribute("The L{IAccountStore}.")
    logs = Attribute("The L{ILogStore}.")
    shared = Attribute(
        "The L{ISharedState} of a PostgreSQL deployment, or L{None} (SQLite). "
        "Like the stores, its methods return Deferreds here.")
    reactor = Attribute("The reactor (time, threads, networking).")
    config = Attribute("The L{wtvserv.config.Config} of the process.")
    directory = Attribute(
        "The L{wtvserv.directory.ServiceDirectory}: every enabled service "
        "with the host, port and flags advertised to boxes.")
    homeLinks = Attribute(
        "C{(title, url)} pairs for the home page: the C{homeLink} of every "
        "enabled plugin that has one.")
    tellyscripts = Attribute(
        "The L{wtvserv.tellyscript.catalog.TellyScripts} the operator "
        "configured: which script a box should hold.")
    plugins = Attribute(
        "The L{IWTVServicePlugin}s of every enabled service, whether or not "
        "this process runs it; the head-waiter asks those providing "
        "L{ILoginHeaders} or L{IFlashUpgrade}.")
    switches = Attribute(
        "The operator's L{wtvserv.switches.SwitchBoard}: C{current()} says "
        "whether registration is open and maintenance on.")
    usernames = Attribute(
        "The operator's L{wtvserv.usernames.UsernameLists}: C{current()} "
        "gives the reserved names and bad words new user names are checked against.")
    activity = Attribute(
        "The L{wtvserv.activity.Activity} of the process: a service records "
        "C{LOGIN}s and C{SIGNUP}s there for C{wtvserv status}.")

    def random(n: int) -> bytes:
        """@return: C{n} random bytes (injectable for deterministic tests)."""

    def inWorkerThread(function, *args) -> Deferred:
        """
        Run CPU-heavy C{function(*args)} (password hashing) in a small
        thread pool sized to the machine, so the reactor thread keeps
        serving other boxes meanwhile.

        @return: a L{Deferred} firing with its result.
        """

    def dataDirectory(name: str) -> Path:
        """
        @return: a folder of its own for service C{name} under the data
            directory (created, mode 0700), where a plugin keeps its state;
            processes sharing the data directory share it.
        """

    def rateWindow(name: str, limit: int, seconds: float, byAddress: bool = False) -> Any:
        """
        @return: a L{wtvserv.throttle.SlidingWindow} of C{limit} events per
            key in C{seconds}, named C{name}: with PostgreSQL storage, the
            events of every host count (L{wtvserv.sharedwindows}).
        @param byAddress: the keys are client addresses, and those exempted
            from limits are not counted.
        """

    def exemptFromLimits(address: str) -> bool:
        """
        @return: whether the operator exempted client C{address} from the
            per-address caps and rates (C{[limits] exempt_addresses}), so a
            service limiting something per address should not count it.
        """


class IWTVServicePlugin(IPlugin):
    """
    Adds one service to a wtvserv process; found with C{getPlugins} in the
    package C{wtvserv.plugins}.

    A plugin may also have a C{homeLink} attribute, a C{(title, url)} pair
    the home page links to, a C{maxBody} attribute, the largest request
    body in bytes its service takes (C{[limits] max_body} when absent;
    C{[services.NAME] max_body} overrides either), and a true
    C{replacesBuiltin} attribute to take the place of the built-in service
    of the same name (without it, a plugin claiming a built-in's name is
    ignored).
    """

    name = Attribute(
        "The service name: the URL scheme boxes use for it, in lower case "
        "(C{'wtv-star'}, or e.g. C{'http'}); unique per process.")
    defaultPort = Attribute("The TCP port used when no endpoint is configured.")
    flags = Attribute("Service flags advertised in C{wtv-service} (an int).")
    connections = Attribute("The C{connections=} value advertised, or L{None}.")
    description = Attribute("One line for C{twistd wtvserv --help}.")

    def makeService(context: IServiceContext) -> IWTVService:
        """Build the service, given the shared parts of the process."""


class ILoginHeaders(Interface):
    """
    Optional, for a service plugin: headers its service adds to the final
    login response, e.g. a mail service's C{wtv-mail-url}. The head-waiter
    asks every enabled plugin that provides this, so no header points at a
    service that is not installed.
    """

    def loginHeaders(box: Any, user: User, reconnect: bool) -> list[tuple[str, str]]:
        """
        @param box: the L{wtvserv.web.Box} logging in (its headers, SSID...).
        @param user: the user logging in.
        @param reconnect: whether the box is only resuming after a redial
            (C{/reconnect}), with its pages still on screen.
        @return: C{(name, value)} header pairs. Names the head-waiter sets
            itself (C{wtv-ticket}, C{wtv-service}, C{wtv-visit}, ...) are
            dropped, as is everything from a plugin that raises.
        """


class IFlashUpgrade(Interface):
    """
    Optional, for a flash-upgrade service plugin: takes a box running its
    minibrowser (it sent C{wtv-need-upgrade} or C{wtv-used-8675309}) where
    it can get a new ROM, instead of home, once it has logged in.
    """

    def upgradeURL(box: Any) -> str | None:
        """
        @param box: the L{wtvserv.web.Box} logging in.
        @return: the URL (of an enabled service) to send it on to, or
            L{None} to let it go home.
        """
