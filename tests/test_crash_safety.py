"""
Crash safety (issue "Hardening", item 5): the real C{twistd -n wtvserv} is
killed with SIGKILL while many boxes register or post logs, then restarted on
the same data directory.

What must hold after each crash:

 - both SQLite files pass C{PRAGMA integrity_check};
 - every row is whole: a registration is all there (account, primary user
   with every field) or not there at all; a log report is exactly what a box
   sent, byte for byte;
 - nothing a client was told is stored is lost: every box that got the
   "registered" page has its account, every log the server answered 200 is
   there;
 - the restarted server serves: a surviving box logs in again, a box whose
   registration was cut off registers again, a fresh box registers, logs
   are stored.

The kill is timed from what is really in flight: each round keeps many boxes
busy (each worker starts a new one as soon as its last is done) and kills
the server once enough of them were acknowledged, or once enough rows are
committed in the file (read while the server writes), so there is always
work cut off mid-way however fast or slow the machine is.

The test only ever opens the SQLite files read-only (C{mode=ro}), so it
never repairs what it checks. The checks themselves are tested on hand-made
broken files at the end, to show they can fail.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import itertools
import json
import os
import random
import signal
import sqlite3
import threading
import time
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.realserver import LOOPBACK_EXEMPT, RealServer
from wtvserv.accounts import (
    ACCOUNT_DB_NAME,
    AccountError,
    SQLiteAccountStore,
    check_human_name,
    check_username,
)
from wtvserv.accounts import MIGRATIONS as ACCOUNT_MIGRATIONS
from wtvserv.box import Box, BoxError, BoxProfile, make_profile, make_ssid
from wtvserv.logstore import LOG_DB_NAME, SQLiteLogStore
from wtvserv.logstore import MIGRATIONS as LOG_MIGRATIONS
from wtvserv.passwords import (
    KEY_LENGTH,
    SALT_LENGTH,
    SCHEME,
    hash_password,
    verify_password,
)
from wtvserv.services.register import NEXT as REGISTERED_NEXT

#: Boxes registering at once (each worker starts a new box when its last ends).
REGISTERING = 60
#: Boxes posting logs at once.
POSTING = 24
#: Seconds a round may take to reach its kill point; far more than needed.
ROUND_DEADLINE = 15.0
#: Seconds the boxes may take to notice the crash and give up.
SETTLE = 15.0
BOX_TIMEOUT = 10.0
POLL = 0.002
#: Seconds between the starts of two workers of a round.
STAGGER = 0.005
MAX_USERS = 6            # the server's default [accounts] max_users
#: The largest log body the server keeps whole (SQLiteLogStore's max_body).
MAX_LOG_BODY = 64 * 1024
LOG_KIND = "crash-test"


def quiet(line: str) -> None:
    """Box log sink."""


def run(coroutine):
    return asyncio.run(coroutine)


# -- Reading the files, read-only ------------------------------------------

def readOnly(path: Path) -> sqlite3.Connection:
    """A read-only connection (C{mode=ro}): nothing the test does writes."""
    connection = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True,
                                 isolation_level=None, timeout=5.0)
    return connection


def query(path: Path, sql: str, parameters=()) -> list[tuple]:
    connection = readOnly(path)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def checkIntegrity(path: Path, migrations) -> None:
    """
    @raise AssertionError: the file is corrupt (C{integrity_check}, foreign
        keys) or has not the schema version of C{migrations}.
    """
    assert Path(path).is_file(), f"{path} is missing"
    try:
        connection = readOnly(path)
        try:
            problems = connection.execute("PRAGMA integrity_check").fetchall()
            foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise AssertionError(f"{path.name} cannot be read: {error}") from None
    assert problems == [("ok",)], f"{path.name}: integrity_check: {problems[:10]}"
    assert foreign == [], f"{path.name}: foreign_key_check: {foreign[:10]}"
    assert version == len(migrations), f"{path.name}: schema version {version}"


# -- What a whole registration is ------------------------------------------

@dataclass(frozen=True)
class UserRow:
    ssid: str
    user_id: int
    username: str
    username_key: str
    human_name: str
    password_hash: str | None
    created: int


def wellFormedHash(value: str) -> bool:
    """@return: whether C{value} is a whole C{scrypt$n$r$p$salt$key}."""
    parts = value.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    if not all(part.isdigit() and int(part) > 0 for part in parts[1:4]):
        return False
    try:
        salt, key = (b64decode(part, validate=True) for part in parts[4:])
    except (binascii.Error, ValueError):
        return False
    return len(salt) == SALT_LENGTH and len(key) == KEY_LENGTH


def wholeAccounts(path: Path) -> dict[str, list[UserRow]]:
    """
    Check that every account and user row of the file is whole.

    @return: each SSID's users, by user id.
    @raise AssertionError: saying which row is not.
    """
    checkIntegrity(path, ACCOUNT_MIGRATIONS)
    accounts = query(path, "SELECT ssid, created, typeof(ssid), typeof(created) FROM accounts")
    users = query(path, "SELECT ssid, user_id, username, username_key, human_name,"
                        " password_hash, created, typeof(user_id), typeof(created),"
                        " typeof(password_hash) FROM users ORDER BY ssid, user_id")
    created = {}
    for ssid, when, ssidType, whenType in accounts:
        assert (ssidType, whenType) == ("text", "integer"), f"account {ssid!r}: types {ssidType}, {whenType}"
        assert ssid and when > 0, f"account {ssid!r}: created {when!r}"
        created[ssid] = when
    byAccount: dict[str, list[UserRow]] = {ssid: [] for ssid in created}
    for row in users:
        user = UserRow(*row[:7])
        where = f"user {user.ssid!r}/{user.user_id}"
        assert user.ssid in created, f"{where}: no account (an orphan user)"
        assert row[7:9] == ("integer", "integer"), f"{where}: types {row[7:9]}"
        assert row[9] in ("null", "text"), f"{where}: password hash of type {row[9]}"
        assert 0 <= user.user_id < MAX_USERS, f"{where}: user id out of range"
        try:
            assert check_username(user.username) == user.username, f"{where}: username {user.username!r}"
            assert check_human_name(user.human_name) == user.human_name, f"{where}: name {user.human_name!r}"
        except AccountError as problem:
            raise AssertionError(f"{where}: {problem.message}") from None
        assert user.username_key == user.username.lower(), f"{where}: username_key {user.username_key!r}"
        assert user.password_hash is None or wellFormedHash(user.password_hash), \
            f"{where}: password hash {user.password_hash!r}"
        assert user.created >= created[user.ssid], f"{where}: created before its account"
        byAccount[user.ssid].append(user)
    for ssid, members in byAccount.items():
        assert members and members[0].user_id == 0, \
            f"account {ssid!r} has no primary user (users {[u.user_id for u in members]})"
        assert members[0].created == created[ssid], f"account {ssid!r}: primary user made apart"
    return byAccount


def checkRegistrations(path: Path, expected: dict[str, BoxProfile],
                       acknowledged: set[str]) -> dict[str, list[UserRow]]:
    """
    Every row whole, every registration all there or absent, and none lost
    that a box was told had succeeded.

    @param expected: the profile of every box the test ever started.
    @param acknowledged: SSIDs whose box got the "registered" page.
    @return: the accounts, as L{wholeAccounts}.
    """
    accounts = wholeAccounts(path)
    strangers = set(accounts) - set(expected)
    assert not strangers, f"accounts no box registered: {sorted(strangers)[:5]}"
    for ssid, users in accounts.items():
        profile = expected[ssid]
        assert len(users) == 1, f"{ssid}: {len(users)} users, registration makes one"
        [user] = users
        assert (user.username, user.human_name) == (profile.username, profile.human_name), \
            f"{ssid}: stored {user.username!r} / {user.human_name!r}"
        assert (user.password_hash is not None) == bool(profile.password), \
            f"{ssid}: password hash {'missing' if profile.password else 'unexpected'}"
    lost = acknowledged - set(accounts)
    assert not lost, f"{len(lost)} acknowledged registrations lost: {sorted(lost)[:5]}"
    withPasswords = [ssid for ssid in sorted(accounts) if expected[ssid].password]
    for ssid in withPasswords[:2]:          # scrypt is slow: a sample
        assert verify_password(expected[ssid].password, accounts[ssid][0].password_hash), \
            f"{ssid}: the stored hash does not match the password"
    return accounts


# -- What a whole log report is --------------------------------------------

def logQuery(ssid: str, seq: int) -> dict[str, str]:
    """The query (stored as the report's fields) of post C{seq} of C{ssid}."""
    return {"type": LOG_KIND, "seq": str(seq), "box": ssid.lower()}


def logBody(ssid: str, seq: int) -> bytes:
    """
    The body of post C{seq} of C{ssid}: random bytes of a size from empty to
    nearly the largest kept whole, so rows span overflow pages; the same
    every time it is asked for, so the test keeps none of them.
    """
    rng = random.Random(f"{ssid}/{seq}")
    size = rng.choice([0, rng.randrange(1, 200), rng.randrange(200, 8000),
                       rng.randrange(8000, MAX_LOG_BODY - 1024)])
    return f"{ssid} {seq}\n".encode() + rng.randbytes(size)


def logURL(ssid: str, seq: int) -> str:
    return "wtv-log:/log?" + "&".join(f"{name}={value}" for name, value in logQuery(ssid, seq).items())


LogKey = tuple[str, int]


def checkLogs(path: Path, sent: set[LogKey], acknowledged: set[LogKey]) -> dict[LogKey, int]:
    """
    Every report whole and exactly as sent, none twice, none lost that was
    answered 200.

    @param sent: C{(ssid, seq)} of every post the test ever started.
    @return: each stored report's id, by C{(ssid, seq)}.
    """
    checkIntegrity(path, LOG_MIGRATIONS)
    rows = query(path, "SELECT id, time, ssid, kind, fields, length, truncated, body,"
                       " typeof(time), typeof(length), typeof(truncated), typeof(body)"
                       " FROM logs ORDER BY id")
    stored: dict[LogKey, int] = {}
    for (logId, when, ssid, kind, fields, length, truncated, body, *types) in rows:
        where = f"report {logId}"
        assert types == ["real", "integer", "integer", "blob"], f"{where}: column types {types}"
        try:
            fields = json.loads(fields)
            key = (ssid, int(fields["seq"]))
        except (ValueError, KeyError, TypeError) as problem:
            raise AssertionError(f"{where}: fields {fields!r}: {problem!r}") from None
        assert key in sent, f"{where}: {key} was never sent"
        assert key not in stored, f"{where}: {key} stored twice (also {stored.get(key)})"
        assert when > 0 and kind == LOG_KIND, f"{where}: time {when!r}, kind {kind!r}"
        assert fields == logQuery(*key), f"{where}: fields {fields!r}"
        expected = logBody(*key)
        assert (length, truncated) == (len(expected), 0), f"{where}: length {length}, truncated {truncated}"
        assert bytes(body) == expected, \
            f"{where}: body of {len(body)} bytes differs from the {len(expected)} sent"
        stored[key] = logId
    lost = acknowledged - set(stored)
    assert not lost, f"{len(lost)} acknowledged reports lost: {sorted(lost)[:5]}"
    if rows:
        [(sequence,)] = query(path, "SELECT seq FROM sqlite_sequence WHERE name = 'logs'")
        assert sequence >= rows[-1][0], f"sqlite_sequence {sequence} below id {rows[-1][0]}"
    return stored


# -- One round: load, crash ------------------------------------------------

@dataclass
class Round:
    """What one load-and-kill round did and saw."""

    name: str
    started: int = 0
    finished: int = 0
    acknowledged: set = field(default_factory=set)
    #: How many were acknowledged when the last worker started.
    ackedAtRamp: int = 0
    ackedAtKill: int = 0
    inFlightAtKill: int = 0
    #: More about the moment of the kill, for the report.
    atKill: str = ""
    killedAfter: float = 0.0
    exitCode: int | None = None
    errors: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(problem)


@dataclass(frozen=True)
class Acknowledged:
    """
    Kill once C{more} more were acknowledged to the boxes than when the
    last worker started; checked on the boxes' event loop, between their
    steps, so no box moves between the check and the signal.
    """

    more: int


@dataclass(frozen=True)
class Committed:
    """
    Kill once C{more} more rows are committed to the file than when the
    last worker started, whether or not their answer has left the server;
    checked by a thread reading the file as fast as it can, so the signal
    comes within a fraction of a millisecond of the commit.
    """

    more: int


def killOnCommit(server: RealServer, dead: threading.Event, counting: tuple[Path, str],
                 more: int, deadline: float, moment: Callable[[], None]) -> threading.Thread:
    """
    Start the thread of L{Committed}: it calls C{moment}, sets C{dead} and
    SIGKILLs the server.
    """
    pid = server.process.pid       # not reaped before the thread ends: cannot be reused
    path, sql = counting

    def watch() -> None:
        connection = readOnly(path)
        try:
            base = connection.execute(sql).fetchone()[0]
            while not dead.is_set() and time.monotonic() < deadline:
                if connection.execute(sql).fetchone()[0] >= base + more:
                    moment()
                    dead.set()
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.0002)
        finally:
            connection.close()

    thread = threading.Thread(target=watch, name="kill-on-commit", daemon=True)
    thread.start()
    return thread


async def loadUntilKilled(server: RealServer, round: Round, workers: list[Callable],
                          kill: Acknowledged | Committed, counting: tuple[Path, str],
                          observe: Callable[[], object] = lambda: None,
                          snapshot: Callable[[], str] = lambda: "") -> None:
    """
    Run the C{workers} (coroutine functions given the "dead" event, set
    right before the server is killed) and, once all have started, SIGKILL
    the server at the C{kill} point; then let every worker notice and end.
    The workers start a few milliseconds apart, so they are soon at
    different steps of their work.

    @param counting: the file and the C{SELECT COUNT(*)} of L{Committed}.
    @param observe: brings C{round.acknowledged} up to date (polled).
    @param snapshot: more words on the moment of the kill, for the report.
    """
    dead = threading.Event()
    began = time.monotonic()
    deadline = began + ROUND_DEADLINE
    running = 0

    def moment() -> None:
        """Note the moment of the kill (from the thread of L{Committed} too)."""
        round.ackedAtKill = len(round.acknowledged)
        round.inFlightAtKill = round.started - round.finished
        round.killedAfter = time.monotonic() - began
        round.atKill = snapshot()

    async def poll() -> None:
        await asyncio.sleep(POLL)
        observe()

    async def watch() -> None:
        while running < len(workers) and time.monotonic() < deadline:
            await poll()
        round.ackedAtRamp = len(round.acknowledged)
        if isinstance(kill, Committed):
            thread = killOnCommit(server, dead, counting, kill.more, deadline, moment)
            while not dead.is_set() and time.monotonic() < deadline:
                await poll()
            thread.join()
        else:
            while len(round.acknowledged) < round.ackedAtRamp + kill.more \
                    and time.monotonic() < deadline:
                await poll()
        if time.monotonic() >= deadline:
            round.fail(f"the kill point was not reached within {ROUND_DEADLINE:g} s")
        if not dead.is_set():
            # No await from here to the signal: the boxes cannot move meanwhile.
            moment()
            dead.set()
        round.exitCode = server.kill()

    async def staggered(number: int, worker: Callable) -> None:
        nonlocal running
        await asyncio.sleep(number * STAGGER)
        running += 1
        await worker(dead)

    tasks = [asyncio.ensure_future(staggered(n, worker)) for n, worker in enumerate(workers)]
    await watch()
    done, pending = await asyncio.wait(tasks, timeout=SETTLE)
    for task in pending:
        task.cancel()
    assert not pending, f"{len(pending)} boxes still busy {SETTLE:g} s after the crash"
    for task in done:
        task.result()
    observe()
    assert round.exitCode == -9, f"twistd was not killed by the signal: {round.exitCode}"
    assert not round.errors, round.errors
    assert 0 < round.inFlightAtKill and round.ackedAtKill < round.started, "not killed mid-flight"


def restart(server: RealServer) -> RealServer:
    """
    A new process on the same data directory and ports (the boxes know
    them). It must say it listens on each port itself: another process may
    have taken a port while it was free, and would answer in its place.
    """
    again = RealServer(server.dataDir, ports=dict(server.ports), extraArgs=server.extraArgs)
    lines = [f"{name} starting on {port}\n" for name, port in again.ports.items()]
    before = [again.log.count(line) for line in lines]
    again.start()
    deadline = time.monotonic() + 10
    while [again.log.count(line) for line in lines] != [n + 1 for n in before]:
        if again.process.poll() is not None or time.monotonic() > deadline:
            again.stop()
            raise AssertionError(f"the restarted twistd did not listen on its ports:\n{again.log[-3000:]}")
        time.sleep(0.01)
    return again


def report(round: Round, committed: int, total: int) -> str:
    return (f"{round.name}: killed after {round.killedAfter:.2f} s with {round.inFlightAtKill} "
            f"in flight{round.atKill} and {round.ackedAtKill} acknowledged "
            f"({round.ackedAtRamp} when all were busy); {round.started} started, "
            f"{len(round.acknowledged)} acknowledged in the end, {committed} committed "
            f"({committed - len(round.acknowledged)} committed but never acknowledged); "
            f"{total} in the file")


# -- Registrations ---------------------------------------------------------

def registrationProfile(unit: int) -> BoxProfile:
    """Every third box chooses a password (hashed with scrypt in a thread)."""
    return make_profile("plus", ssid=make_ssid(unit), username=f"crash{unit:x}",
                        human_name=f"Crash Box {unit:x}",
                        password=f"pw-{unit:x}" if unit % 3 == 0 else "")


def registrationAcknowledged(box: Box) -> bool:
    """Whether the server told C{box} its account was made."""
    return any(r.method == "POST" and r.url.startswith("wtv-register:") and r.status == 200
               and r.headers.get("wtv-visit") == REGISTERED_NEXT for r in box.history)


def registered(box: Box) -> bool:
    return any(r.url.startswith("wtv-register:") for r in box.history)


async def powerOn(server: RealServer, profile: BoxProfile):
    box = Box("127.0.0.1", server.ports["wtv-1800"], profile, log=quiet, timeout=BOX_TIMEOUT)
    try:
        return box, await box.power_on()
    finally:
        await box.close()


class Registrations:
    """The registrations of the whole test, over every round."""

    def __init__(self, server: RealServer) -> None:
        self.server = server
        self.expected: dict[str, BoxProfile] = {}
        self.acknowledged: set[str] = set()
        self.units = itertools.count(0x300000)
        self.rounds: list[str] = []

    async def crash(self, name: str, kill: Acknowledged | Committed) -> Round:
        """Keep L{REGISTERING} fresh boxes registering; kill at C{kill}."""
        round = Round(name)
        boxes: list[Box] = []
        pending: list[Box] = []

        async def worker(dead: threading.Event) -> None:
            while not dead.is_set():
                profile = registrationProfile(next(self.units))
                self.expected[profile.ssid] = profile
                box = Box("127.0.0.1", self.server.ports["wtv-1800"], profile, log=quiet,
                          timeout=BOX_TIMEOUT)
                boxes.append(box)
                pending.append(box)
                round.started += 1
                try:
                    await box.power_on()
                except BoxError as error:
                    if not dead.is_set():
                        round.fail(f"{profile.ssid} before the crash: {error}")
                    return
                finally:
                    round.finished += 1
                    await box.close()

        def observe() -> None:
            for box in list(pending):
                if registrationAcknowledged(box):
                    round.acknowledged.add(box.profile.ssid)
                    pending.remove(box)

        def signingUp() -> str:
            """How many boxes sent the sign-up form and await the answer."""
            waiting = sum(1 for box in list(pending) if box.history
                          and box.history[-1].url.startswith("wtv-register:/register"))
            return f" ({waiting} of them awaiting the answer to their sign-up)"

        path = self.server.dataDir / ACCOUNT_DB_NAME
        await loadUntilKilled(self.server, round, [worker] * REGISTERING, kill,
                              (path, "SELECT COUNT(*) FROM accounts"), observe, signingUp)
        assert round.acknowledged == {box.profile.ssid for box in boxes
                                      if registrationAcknowledged(box)}
        self.acknowledged |= round.acknowledged

        # The files as the crash left them, before anything opens them for writing...
        checkRegistrations(path, self.expected, self.acknowledged)
        # ...and after the restarted server recovered them.
        self.server = restart(self.server)
        accounts = checkRegistrations(path, self.expected, self.acknowledged)
        ours = {box.profile.ssid for box in boxes}
        committed = ours & set(accounts)
        self.rounds.append(report(round, len(committed), len(accounts)))
        await self.serves(boxes, accounts)
        return round

    async def serves(self, boxes: list[Box], accounts) -> None:
        """
        After a restart: a box told "registered" (one with a password if
        any) and one whose account was committed unbeknown to it log in;
        one that was cut off and a fresh one register.
        """
        ours = [box.profile for box in boxes]
        acknowledged = [p for p in ours if p.ssid in self.acknowledged] \
            or [self.expected[min(self.acknowledged)]]
        returning = [min(acknowledged, key=lambda profile: not profile.password)]
        returning += [p for p in ours if p.ssid in accounts and p.ssid not in self.acknowledged][:1]
        again = [p for p in ours if p.ssid not in accounts][:1]
        again += [registrationProfile(next(self.units))]
        for profile in again:
            self.expected[profile.ssid] = profile
        results = await asyncio.gather(*(powerOn(self.server, p) for p in returning + again))
        for (box, home), profile in zip(results, returning + again):
            assert home.status == 200 and profile.human_name in home.text
            assert registered(box) == (profile in again), f"{profile.ssid}: registered {registered(box)}"
            if profile in again:
                self.acknowledged.add(profile.ssid)


def test_registrations_survive_sigkill_mid_flight(tmp_path):
    # Well over a hundred sign-ups an hour: lift the global rate, not the subject here.
    server = RealServer(tmp_path / "data",
                        config=LOOPBACK_EXEMPT + "[register]\ntotal = 100000\n").start()
    registrations = Registrations(server)
    try:
        async def scenario():
            # Once every box is busy, killed: once 40 more boxes were told
            # "registered"; once 40 more accounts were committed, whether or
            # not their box heard of it yet; at the next commit; at the next
            # acknowledgement.
            await registrations.crash("accounts, 40 acknowledged", Acknowledged(40))
            await registrations.crash("accounts, 40 committed", Committed(40))
            await registrations.crash("accounts, next commit", Committed(1))
            await registrations.crash("accounts, next acknowledgement", Acknowledged(1))
        run(scenario())
        checkRegistrations(server.dataDir / ACCOUNT_DB_NAME, registrations.expected,
                           registrations.acknowledged)
    finally:
        for line in registrations.rounds:
            print(line)
        registrations.server.stop()
        server.stop()


# -- Log reports -----------------------------------------------------------

class LogPosts:
    """The log posts of the whole test, over every round."""

    def __init__(self, server: RealServer, boxes: list[Box]) -> None:
        self.server = server
        self.boxes = boxes
        self.sent: set[LogKey] = set()
        self.acknowledged: set[LogKey] = set()
        self.seqs = itertools.count(1)
        self.rounds: list[str] = []

    async def post(self, box: Box, seq: int):
        key = (box.profile.ssid, seq)
        self.sent.add(key)
        return key, await box.post(logURL(*key), logBody(*key))

    async def crash(self, name: str, kill: Acknowledged | Committed) -> Round:
        """Every box posts log after log; kill at C{kill}."""
        round = Round(name)
        sent: set[LogKey] = set()

        def poster(box: Box):
            async def work(dead: threading.Event) -> None:
                while not dead.is_set():
                    seq = next(self.seqs)
                    sent.add((box.profile.ssid, seq))
                    round.started += 1
                    try:
                        key, response = await self.post(box, seq)
                    except BoxError as error:
                        if not dead.is_set():
                            round.fail(f"post {seq} of {box.profile.ssid} before the crash: {error}")
                        return
                    finally:
                        round.finished += 1
                    if response.status == 200:
                        round.acknowledged.add(key)
                    else:
                        round.fail(f"{key}: {response.status} {response.reason}")
            return work

        path = self.server.dataDir / LOG_DB_NAME
        await loadUntilKilled(self.server, round, [poster(box) for box in self.boxes], kill,
                              (path, "SELECT COUNT(*) FROM logs"))
        self.acknowledged |= round.acknowledged

        checkLogs(path, self.sent, self.acknowledged)
        self.server = restart(self.server)
        stored = checkLogs(path, self.sent, self.acknowledged)
        committed = sent & set(stored)
        self.rounds.append(report(round, len(committed), len(stored)))
        await self.serves(stored)
        return round

    async def serves(self, stored: dict[LogKey, int]) -> None:
        """After a restart, the boxes (on new connections) post again."""
        results = await asyncio.gather(*(self.post(box, next(self.seqs)) for box in self.boxes[:4]))
        for key, response in results:
            assert response.status == 200, (key, response.status, response.reason)
            self.acknowledged.add(key)
        after = checkLogs(self.server.dataDir / LOG_DB_NAME, self.sent, self.acknowledged)
        newest = max(stored.values(), default=0)
        assert all(after[key] > newest for key, _ in results), "a report id was reused"


def test_log_reports_survive_sigkill_mid_flight(tmp_path):
    noPruning = "[logs]\nper_ssid = 1000000\ntotal = 1000000\n"
    server = RealServer(tmp_path / "data", config=LOOPBACK_EXEMPT + noPruning).start()
    posts = None
    try:
        async def scenario():
            nonlocal posts
            units = range(0x500000, 0x500000 + POSTING)
            results = await asyncio.gather(*(powerOn(server, make_profile(
                "plus", ssid=make_ssid(unit), username=f"logger{unit:x}")) for unit in units))
            posts = LogPosts(server, [box for box, _ in results])
            await posts.crash("logs, 200 acknowledged", Acknowledged(200))
            await posts.crash("logs, 150 committed", Committed(150))
            await posts.crash("logs, next commit", Committed(1))
            await posts.crash("logs, next acknowledgement", Acknowledged(1))
            fresh, home = await powerOn(posts.server, make_profile("plus", ssid=make_ssid(0x5FFFFF),
                                                                   username="latecomer"))
            assert registered(fresh) and home.status == 200
            async with fresh:
                key, response = await posts.post(fresh, next(posts.seqs))
            assert response.status == 200
            posts.acknowledged.add(key)
            checkLogs(server.dataDir / LOG_DB_NAME, posts.sent, posts.acknowledged)
            for box in posts.boxes:
                await box.close()
        run(scenario())
    finally:
        for line in posts.rounds if posts else ():
            print(line)
        if posts:
            posts.server.stop()
        server.stop()


# -- The checks can fail ---------------------------------------------------

def accountFile(tmp_path: Path, name: str, change: str | None = None,
                parameters=()) -> tuple[Path, dict[str, BoxProfile]]:
    """A file with two whole registrations, then C{change} done by hand."""
    path = tmp_path / name / ACCOUNT_DB_NAME
    path.parent.mkdir()
    store = SQLiteAccountStore(path)
    profiles = {}
    for unit in (1, 3):                 # 3: with a password
        profile = registrationProfile(unit)
        profiles[profile.ssid] = profile
        store.createAccount(profile.ssid, profile.human_name, profile.username,
                            scryptHash(profile.password) if profile.password else None)
    store.close()
    if change is not None:
        connection = sqlite3.connect(path)      # foreign keys are off: anything goes
        with connection:
            connection.execute(change, parameters)
        connection.close()
    return path, profiles


@functools.lru_cache
def scryptHash(password: str) -> str:
    return hash_password(password)


SSID_1, SSID_3 = make_ssid(1), make_ssid(3)

BROKEN_ACCOUNTS = {
    "account without users": ("INSERT INTO accounts (ssid, created) VALUES (?, 1)", (make_ssid(2),)),
    "user without account": (
        "INSERT INTO users VALUES (?, 0, 'crash2', 'crash2', 'Crash Box 2', NULL, 1)", (make_ssid(2),)),
    "no primary user": ("UPDATE users SET user_id = 1 WHERE ssid = ?", (SSID_1,)),
    "half a password hash": ("UPDATE users SET password_hash = substr(password_hash, 1, 30)"
                             " WHERE ssid = ?", (SSID_3,)),
    "password hash lost": ("UPDATE users SET password_hash = NULL WHERE ssid = ?", (SSID_3,)),
    "empty name": ("UPDATE users SET human_name = '' WHERE ssid = ?", (SSID_1,)),
    "username key apart": ("UPDATE users SET username_key = 'other' WHERE ssid = ?", (SSID_1,)),
    "created as text": ("UPDATE accounts SET created = 'soon' WHERE ssid = ?", (SSID_1,)),
    "a second user": ("INSERT INTO users SELECT ssid, 1, 'crashx', 'crashx', human_name, NULL,"
                      " created FROM users WHERE ssid = ?", (SSID_1,)),
}


def test_the_account_checks_pass_whole_registrations(tmp_path):
    path, profiles = accountFile(tmp_path, "whole")
    accounts = checkRegistrations(path, profiles, set(profiles))
    assert set(accounts) == set(profiles)


@pytest.mark.parametrize("broken", sorted(BROKEN_ACCOUNTS))
def test_the_account_checks_catch_half_written_registrations(tmp_path, broken):
    change, parameters = BROKEN_ACCOUNTS[broken]
    path, profiles = accountFile(tmp_path, "broken", change, parameters)
    profiles[make_ssid(2)] = registrationProfile(2)
    with pytest.raises(AssertionError):
        checkRegistrations(path, profiles, set())


def test_the_account_checks_catch_a_lost_registration_and_a_corrupt_file(tmp_path):
    path, profiles = accountFile(tmp_path, "lost")
    with pytest.raises(AssertionError, match="acknowledged registrations lost"):
        checkRegistrations(path, {**profiles, make_ssid(2): registrationProfile(2)},
                           set(profiles) | {make_ssid(2)})
    data = bytearray(path.read_bytes())
    data[4096 + 100:4096 * 2] = b"\xa5" * (4096 - 100)     # page 2, a table page
    path.write_bytes(bytes(data))
    with pytest.raises(AssertionError):
        checkRegistrations(path, profiles, set())


def logFile(tmp_path: Path, change: str | None = None) -> tuple[Path, set[LogKey]]:
    """A file with the reports of three posts, then C{change} done by hand."""
    path = tmp_path / LOG_DB_NAME
    store = SQLiteLogStore(path)
    keys = {(make_ssid(1), seq) for seq in (1, 2, 3)}
    for ssid, seq in sorted(keys):
        store.add(ssid, LOG_KIND, logQuery(ssid, seq), logBody(ssid, seq))
    store.close()
    if change is not None:
        connection = sqlite3.connect(path)
        with connection:
            connection.execute(change)
        connection.close()
    return path, keys


BROKEN_LOGS = {
    "body cut short": "UPDATE logs SET body = substr(body, 1, length(body) / 2) WHERE id = 2",
    "body emptied": "UPDATE logs SET body = zeroblob(0) WHERE id = 3",
    "length apart": "UPDATE logs SET length = length + 1 WHERE id = 1",
    "fields cut short": "UPDATE logs SET fields = substr(fields, 1, 10) WHERE id = 1",
    "body as text": "UPDATE logs SET body = 'x' WHERE id = 1",
    "stored twice": "INSERT INTO logs (time, ssid, kind, fields, length, truncated, body)"
                    " SELECT time, ssid, kind, fields, length, truncated, body FROM logs WHERE id = 1",
    "never sent": "UPDATE logs SET fields = replace(fields, '\"3\"', '\"9\"') WHERE id = 3",
}


def test_the_log_checks_pass_whole_reports(tmp_path):
    path, keys = logFile(tmp_path)
    assert set(checkLogs(path, keys, keys)) == keys


@pytest.mark.parametrize("broken", sorted(BROKEN_LOGS))
def test_the_log_checks_catch_partial_reports(tmp_path, broken):
    path, keys = logFile(tmp_path, BROKEN_LOGS[broken])
    with pytest.raises(AssertionError):
        checkLogs(path, keys, set())


def test_the_log_checks_catch_a_lost_report(tmp_path):
    path, keys = logFile(tmp_path, "DELETE FROM logs WHERE id = 2")
    with pytest.raises(AssertionError, match="acknowledged reports lost"):
        checkLogs(path, keys, keys)
    checkLogs(path, keys, keys - {(make_ssid(1), 2)})
