"""
The parent service of a wtvserv process: it owns the shared parts (ticket
authority, session-key registry, account and log stores) and runs one
listening port per wtv- service, each with its own L{WTVPFactory}.
"""

from __future__ import annotations

import os
import re
import resource
import sys
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Callable

from twisted.application.service import MultiService
from twisted.application.strports import service as endpointService
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.error import CannotListenError
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from wtvserv import __version__, wire
from wtvserv.activity import LOGIN, SIGNUP, Activity
from wtvserv.admission import Admission
from wtvserv.bans import BanList, SharedBanList
from wtvserv.clients import AddressSet, ClientKeys
from wtvserv.config import Config
from wtvserv.control import (
    MAX_CONNECTIONS,
    MAX_SOCKET_PATH,
    ControlFactory,
    socketName,
    takenBy,
)
from wtvserv.crypto import challenge, lzpf, rc4
from wtvserv.directory import ServiceDirectory, ServiceEntry, isServiceName
from wtvserv.dispatch import Dispatcher
from wtvserv.encoding import BodyEncoder
from wtvserv.fdlimit import connectionsThatFit, raiseOpenFileLimit
from wtvserv.interfaces import IAccountStore, ILogStore, IServiceContext, ISharedState
from wtvserv.listening import tcpAddress
from wtvserv.protocol import Timeouts, WTVPFactory
from wtvserv.sessions import SessionKeyRegistry
from wtvserv.ssid import SSIDPolicy
from wtvserv.stalls import StallWatch
from wtvserv.store.shared import TICKET_SECRET
from wtvserv.store.stores import describe, openStores
from wtvserv.store.threaded import DeferredStore, StoreCalls
from wtvserv.sharedwindows import SharedWindows
from wtvserv.store.threads import StoreThreads
from wtvserv.switches import SWITCHES_FILE, SharedSwitchBoard, SwitchBoard
from wtvserv.tellyscript.catalog import TellyScripts
from wtvserv.throttle import SlidingWindow
from wtvserv.tickets import SECRET_LENGTH, TicketAuthority, load_or_create_secret
from wtvserv.usernames import UsernameLists, installDefaults
from wtvserv.wire import BodyBudget, Limits

log = Logger()
#: Services that keep answering under maintenance: boxes can still report.
MAINTENANCE_EXEMPT = frozenset({"wtv-log"})
_TCP_PORT = re.compile(r"^tcp:(?:port=)?(\d+)(?::|$)")
_TAKES_BACKLOG = re.compile(r"^(tcp|tcp6|ssl|unix):")
_HAS_BACKLOG = re.compile(r"(^|:)backlog=")


class StartError(Exception):
    """The server cannot start; the message is the one line to show."""


@implementer(IServiceContext)
@dataclass
class ServiceContext:
    """The shared parts handed to every service plugin."""

    tickets: object
    sessions: object
    accounts: object
    logs: object
    reactor: object
    config: Config
    directory: ServiceDirectory
    homeLinks: list[tuple[str, str]] = field(default_factory=list)
    randomSource: Callable[[int], bytes] = field(default=os.urandom)
    workers: object = None
    exemptAddresses: AddressSet = field(default_factory=AddressSet)
    tellyscripts: TellyScripts = field(default_factory=TellyScripts)
    plugins: list = field(default_factory=list)
    switches: SwitchBoard | None = None
    usernames: UsernameLists | None = None
    activity: Activity | None = None
    shared: object = None
    #: L{wtvserv.sharedwindows.SharedWindows} with PostgreSQL; else each window is this process's.
    windows: object = None

    def random(self, n: int) -> bytes:
        return self.randomSource(n)

    def inWorkerThread(self, function, *args):
        return deferToThreadPool(self.reactor, self.workers, function, *args)

    def exemptFromLimits(self, address: str) -> bool:
        return address in self.exemptAddresses

    def rateWindow(self, name: str, limit: int, seconds: float, byAddress: bool = False):
        unless = self.exemptFromLimits if byAddress else (lambda key: False)
        if self.windows is None:
            return SlidingWindow(self.reactor, limit, seconds, exempt=unless)
        return self.windows.window(name, limit, seconds, exempt=unless)

    def dataDirectory(self, name: str) -> Path:
        if not isServiceName(name):
            raise ValueError(f"not a service name: {name!r}")
        folder = self.config.dataDir / "services" / name
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder


def listenDescription(config: Config, plugin) -> str:
    """The endpoint description a service listens on, as the operator gave it."""
    settings = config.service(plugin.name)
    if settings.endpoint:
        return settings.endpoint
    port = settings.port if settings.port is not None else plugin.defaultPort
    return f"tcp:{port}:interface={quoteStringArgument(config.interface)}"


def endpointFor(config: Config, plugin) -> str:
    """
    L{listenDescription}, with the configured listen backlog unless the
    description sets its own.
    """
    description = listenDescription(config, plugin)
    if _TAKES_BACKLOG.match(description) and not _HAS_BACKLOG.search(description):
        description += f":backlog={config.listenBacklog}"
    return description


def bodyLimitFor(config: Config, plugin) -> int:
    """
    The largest request body a service takes: the configuration's
    C{[services.NAME] max_body}, else what the plugin declares
    (C{maxBody}), else C{[limits] max_body}.
    """
    configured = config.service(plugin.name).maxBody
    if configured is not None:
        return configured
    return getattr(plugin, "maxBody", None) or config.maxBody


def advertisedEntry(config: Config, plugin) -> ServiceEntry:
    """How boxes are told to reach a service: the host and port it really listens on."""
    settings = config.service(plugin.name)
    match = _TCP_PORT.match(endpointFor(config, plugin))
    port = int(match.group(1)) if match else plugin.defaultPort
    return ServiceEntry(name=plugin.name, host=settings.host or config.host, port=port,
                        flags=plugin.flags, connections=plugin.connections)


class WTVServer(MultiService):
    """
    One process hosting several wtv- services.

    @param plugins: the L{IWTVServicePlugin}s of the deployment; those whose
        service is enabled in C{config} are advertised to boxes.
    @param runHere: names of the services this process listens for (L{None}:
        all enabled ones). Other processes sharing the data directory and
        ticket secret can run the rest.
    @ivar exitOnStartError: whether a port that cannot be had ends the
        process with one line (in the foreground) or raises L{StartError}
        (daemonized: twistd then tells the terminal it forked from).
    """

    def __init__(self, config: Config, reactor, plugins: list, runHere: set[str] | None = None,
                 random: Callable[[int], bytes] = os.urandom, workers=None,
                 storeThreads=None) -> None:
        """
        @param workers: the thread pool for CPU-heavy work; by default one
            of as many threads as there are cores but one (at least one),
            started and stopped with this service.
        @param storeThreads: the thread pool every store call runs on; by
            default as many threads as the backend allows, started and
            stopped with this service.
        @raise wtvserv.tellyscript.errors.ScriptError: a configured TellyScript
            cannot be used.
        """
        super().__init__()
        self.exitOnStartError = True
        tellyscripts = TellyScripts.load(config.tellyscripts)   # before any file is opened
        self.workers = workers or ThreadPool(minthreads=0, maxthreads=max(1, (os.cpu_count() or 2) - 1),
                                             name="wtvserv-workers")
        self.config = config
        self.reactor = reactor
        dataDir = config.dataDir
        dataDir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sessions = SessionKeyRegistry(reactor, lifetime=config.sessionLifetime,
                                           capacity=config.sessionCapacity)
        installDefaults(dataDir)
        self.usernames = UsernameLists(dataDir, reactor)
        # The synchronous stores: for start-up, commands and tests. Services
        # get them through DeferredStore, on the store threads.
        self.stores = openStores(config, reactor.seconds, self.usernames.current)
        self.accounts = self.stores.accounts
        self.logs = self.stores.logs
        self.storeThreads = storeThreads or self.stores.threadPool()
        self.dispatcher = Dispatcher(reactor)
        self.storeCalls = StoreCalls(reactor, self.storeThreads,
                                     together=self.stores.databases.threads == 1,
                                     afterEvents=self.dispatcher.afterEvents)
        log.info("storage: {where}", where=describe(config))
        shared = self.stores.shared
        secret = (load_or_create_secret(dataDir) if shared is None else
                  shared.secret(TICKET_SECRET, lambda: os.urandom(SECRET_LENGTH)))
        self.tickets = TicketAuthority(secret, reactor,
                                       lifetime=config.ticketLifetime, random=random)
        self.clientKeys = ClientKeys(config.ipv6Prefix)
        if shared is None:
            self.bans = BanList(dataDir / config.banFile, reactor, config.banCheckInterval,
                                self.clientKeys)
            self.switches = SwitchBoard(dataDir / SWITCHES_FILE, reactor)
        else:
            self.bans = SharedBanList(shared, reactor, self.storeThreads,
                                      config.banCheckInterval, self.clientKeys)
            self.switches = SharedSwitchBoard(shared, reactor, self.storeThreads)
        self.windows = None if shared is None else SharedWindows(shared, reactor,
                                                                 self.storeThreads)
        self.activity = Activity(reactor)
        self.started = reactor.seconds()
        exempt = AddressSet(config.exemptAddresses, self.clientKeys)
        self.admission = Admission(self.bans, config.maxConnections,
                                   config.connectionsPerAddress, exempt)
        self.ssidPolicy = SSIDPolicy(self.bans, config.validateSSIDs,
                                     tuple(config.exemptSSIDPrefixes), tuple(config.exemptSSIDs),
                                     fullInLogs=config.logFullSSIDs)
        self.timeouts = Timeouts(idle=config.idleTimeout, header=config.headerTimeout,
                                 body=config.bodyTimeout, minBodyRate=config.minBodyRate,
                                 request=config.requestTimeout, handler=config.handlerTimeout,
                                 write=config.writeTimeout)
        self.bodyBudget = BodyBudget(config.bodyBudget)
        self.stalls = StallWatch(reactor)
        enabled = [p for p in plugins if config.service(p.name).enabled]
        self.directory = ServiceDirectory([advertisedEntry(config, p) for p in enabled])
        links = [p.homeLink for p in enabled if getattr(p, "homeLink", None)]
        self.context = ServiceContext(self.tickets, self.sessions,
                                      DeferredStore(self.accounts, IAccountStore, self.storeCalls),
                                      DeferredStore(self.logs, ILogStore, self.storeCalls),
                                      reactor, config, self.directory, links, random,
                                      self.workers, exempt, tellyscripts, enabled,
                                      switches=self.switches, usernames=self.usernames,
                                      activity=self.activity,
                                      shared=None if shared is None else
                                      DeferredStore(shared, ISharedState, self.storeCalls),
                                      windows=self.windows)
        self.encoder = BodyEncoder(inThread=self.context.inWorkerThread)
        self.factories: dict[str, WTVPFactory] = {}
        for plugin in enabled:
            if runHere is None or plugin.name in runHere:
                self._addService(plugin)
        self._addControlSocket(dataDir / socketName(runHere))

    def _addControlSocket(self, path: Path) -> None:
        """The socket C{wtvserv status} asks (L{wtvserv.control}), if its path fits."""
        if len(str(path.absolute())) > MAX_SOCKET_PATH:
            log.warn("no control socket (wtvserv status): the path {path} is longer than "
                     "{n} bytes; use a data directory with a shorter path",
                     path=str(path.absolute()), n=MAX_SOCKET_PATH)
            return
        description = f"unix:{quoteStringArgument(str(path))}:mode=600:lockfile=1"
        listener = endpointService(f"{description}:backlog={MAX_CONNECTIONS}",
                                   ControlFactory({"status": self.status}), reactor=self.reactor)
        listener.setName("control socket")
        listener.description = str(path)
        listener.setServiceParent(self)

    def status(self) -> Deferred:
        """
        What C{wtvserv status} shows of this process. Whether a box is
        logged in depends on its account's generation, read on the store
        threads like every store call.
        """
        services, candidates = {}, {}
        for name, factory in self.factories.items():
            boxes = {protocol.box.ssid for protocol in factory.connections
                     if protocol.box is not None and protocol.box.ssid}
            for protocol in factory.connections:
                ticket = protocol.box.ticket if protocol.box is not None else None
                if self._validLogin(ticket):
                    candidates.setdefault(ticket.ssid, set()).add(ticket.generation)
            services[name] = {"connections": len(factory.connections), "boxes": len(boxes)}
        reading = deferToThreadPool(self.reactor, self.storeThreads, self._currentGenerations,
                                    list(candidates))
        return reading.addCallback(self._status, services, candidates)

    def boxesConnected(self) -> int:
        """@return: how many boxes (SSIDs) have a connection to this process now."""
        return len({protocol.box.ssid for factory in self.factories.values()
                    for protocol in factory.connections
                    if protocol.box is not None and protocol.box.ssid})

    def _currentGenerations(self, ssids: list[str]) -> dict[str, int]:
        return {ssid: self.accounts.generationOf(ssid) for ssid in ssids}

    def _status(self, generations: dict[str, int], services: dict, candidates: dict) -> dict:
        loggedIn = [ssid for ssid, held in candidates.items() if generations[ssid] in held]
        switches = self.switches.current()
        return {"version": __version__, "pid": os.getpid(),
                "uptime": self.reactor.seconds() - self.started, "services": services,
                "loggedIn": len(loggedIn),
                "lastHour": {"logins": self.activity.count(LOGIN),
                             "signups": self.activity.count(SIGNUP)},
                "switches": {"maintenance": switches.maintenance, "message": switches.message,
                             "registration": switches.word("registration")}}

    def _validLogin(self, ticket) -> bool:
        """
        Whether a connection's ticket is of a logged-in user and still
        valid (not expired); of its account's generation (not deleted, moved
        or with a changed password since) is asked of the store.
        """
        return (ticket is not None and ticket.user_id is not None and ticket.password_ok
                and not self.tickets.expired(ticket))

    def _addService(self, plugin) -> None:
        try:
            service = plugin.makeService(self.context)
        except Exception:
            log.failure("{name}: the plugin failed to build its service; "
                        "the other services carry on", name=plugin.name)
            return
        factory = WTVPFactory(service, self.tickets, self.sessions, self.reactor,
                              limits=Limits(body=bodyLimitFor(self.config, plugin)),
                              timeouts=self.timeouts,
                              maxConnections=self.config.maxConnectionsPerService,
                              encode=self.encoder.encode, admission=self.admission,
                              ssidPolicy=self.ssidPolicy, clientKeys=self.clientKeys,
                              bodyBudget=self.bodyBudget, directory=self.directory,
                              maintenance=None if plugin.name in MAINTENANCE_EXEMPT
                              else self.switches)
        listener = endpointService(endpointFor(self.config, plugin), factory,
                                   reactor=self.reactor)
        listener.setName(plugin.name)
        listener.description = endpointFor(self.config, plugin)
        listener.plugin = plugin
        listener.setServiceParent(self)
        self.factories[plugin.name] = factory

    def privilegedStartService(self) -> None:
        """
        Listen on every port; one that cannot be had stops the start,
        readably: one line and an exit in the foreground, a L{StartError}
        (which twistd reports to the terminal it forked from) when
        daemonized. C{twistd wtvserv} checked the ports before forking
        (L{wtvserv.listening}), so this is for one taken since.
        """
        self._fitConnectionsToOpenFiles()
        for listener in self:
            try:
                listener.privilegedStartService()
            except CannotListenError as error:
                message = _cannotListen(listener, error, self.config.dataDir)
                log.critical("{message}", message=message)
                if self.exitOnStartError:
                    sys.exit(f"wtvserv: {message}")
                raise StartError(message) from None

    def _startLine(self) -> str:
        """Where each service listens (here) and what boxes are told of it."""
        parts = []
        for entry in map(self.directory.get, self.directory.names()):
            listener = self.namedServices.get(entry.name)
            where = listenDescription(self.config, listener.plugin) if listener else "elsewhere"
            parts.append(f"{entry.name} on {where} as {entry.host}:{entry.port}")
        return f"wtvserv {__version__} serving {self.config.dataDir}: {'; '.join(parts)}"

    def _advertisingWarnings(self) -> list[str]:
        """A service reachable from elsewhere but advertised as this machine only."""
        warnings = []
        for name, listener in self.namedServices.items():
            entry = self.directory.get(name)
            if entry is None or not ip_address(entry.host).is_loopback:
                continue
            if _listensOnEveryAddress(listenDescription(self.config, listener.plugin)):
                warnings.append(f"{name} listens on every address but tells boxes to connect "
                                f"to {entry.host}, so only this machine can use it; give "
                                "--host this machine's address as boxes reach it")
        return warnings

    def _fitConnectionsToOpenFiles(self) -> None:
        """Raise the open files limit, and keep the connection caps below it."""
        soft, hard = raiseOpenFileLimit()
        wanted = self.config.maxConnections
        fits = connectionsThatFit(wanted, soft)
        self.admission.maxConnections = fits
        for factory in self.factories.values():
            factory.maxConnections = min(factory.maxConnections, fits)
        log.info("open files: soft limit {soft}, hard limit {hard}; max_connections {fits}",
                 soft=_limitText(soft), hard=_limitText(hard), fits=fits)
        if fits < wanted:
            log.warn("max_connections lowered from {wanted} to {fits} to stay below the "
                     "open files limit of {soft}; raise the hard limit (ulimit -Hn) for more",
                     wanted=wanted, fits=fits, soft=soft)

    def startService(self) -> None:
        _logAccelerators()
        self.dispatcher.install()
        for pool in (self.workers, self.storeThreads):
            if isinstance(pool, (ThreadPool, StoreThreads)):
                pool.start()
        if self.stores.shared is not None:
            self.bans.start()
            self.switches.start()
            self.windows.start()
        self.stalls.start()
        super().startService()
        # twistd starts the services before it runs the reactor, which is
        # when it installs its signal handlers: "serving" is said after, so
        # that a SIGTERM from then on stops the server cleanly.
        self.reactor.callWhenRunning(self._sayServing)

    def _sayServing(self) -> None:
        log.info("{line}", line=self._startLine())
        for warning in self._advertisingWarnings():
            log.warn("{warning}", warning=warning)

    def stopService(self):
        """Stop listening (if started), then the thread pools, then close the stores."""
        if not self.running:
            self._closeStores()
            return None
        return super().stopService().addBoth(self._closeStores)

    def _closeStores(self, passthrough=None):
        self.stalls.stop()
        if self.stores.shared is not None:
            self.bans.stop()
            self.switches.stop()
            self.windows.stop()
        self.storeCalls.flush()
        for pool in (self.workers, self.storeThreads):
            if isinstance(pool, (ThreadPool, StoreThreads)) and pool.started:
                pool.stop()
        self.stores.close()
        return passthrough


def _listensOnEveryAddress(description: str) -> bool:
    address = tcpAddress(description)
    return address is not None and ip_address(address[0]).is_unspecified


def _cannotListen(listener, error: CannotListenError, dataDir: Path) -> str:
    """The one line that says why C{listener} could not listen."""
    if listener.name == "control socket" and isinstance(error.socketError, str):
        # Twisted's "Cannot acquire lock": another process serves from here.
        taken = takenBy(dataDir, Path(listener.description))
        if taken is not None:
            return taken
    reason = getattr(error.socketError, "strerror", None) or str(error.socketError or error)
    return f"{listener.name} cannot listen on {listener.description}: {reason}"


def _limitText(limit: int) -> str:
    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)


def _logAccelerators() -> None:
    """
    Say once, at start, whether LZPF, WTVP framing, RC4 and DES run in their C
    accelerators or in their fallbacks, and why.
    """
    for what, module, fallback in (
            ("LZPF compression", lzpf, "pure Python, some 100 times slower"),
            ("WTVP framing", wire, "pure Python, about 3 times slower"),
            ("RC4 encryption", rc4, "pycryptodome's ARC4, about 3 times slower per connection"),
            ("DES of the login challenge", challenge,
             "OpenSSL's triple DES, about 5 times slower per challenge")):
        if module.FALLBACK_REASON is None:
            log.info("{what}: C accelerator", what=what)
        else:
            log.warn("{what}: {fallback} (the C accelerator is not built: {reason})",
                     what=what, fallback=fallback, reason=module.FALLBACK_REASON)
