"""
Cost of the crypto on a login's path, per operation (not a test).

Run from the repository root::

    python bench/bench_crypto.py

First what a login does, each both ways where there are two: RC4 streams
set up on SECURE ON, re-keyed, and a request and a response body of a
login's sizes through them, with pycryptodome's ARC4 and with the C
accelerator (C{wtvserv.crypto._rc4_c}, when built), and a challenge issued
(L{Challenges.issue}) and its answer checked, with its fields derived as
before (a new C{hmac} object per field) and as now (copies of the keyed hash
states); the sum of those per registered login. Then the rest: the
C{cryptography} package's ARC4 for comparison, the DES challenge alone
(issued and checked), a ticket sealed and verified
(AES-GCM), RC4 throughput on a 64 KiB body. Best of several runs,
microseconds per operation on one core.
"""

from __future__ import annotations

import hmac
import os
import sys
import time
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wtvserv.crypto import rc4  # noqa: E402
from wtvserv.crypto.challenge import (  # noqa: E402
    FIELDS_LENGTH,
    answer_challenge,
    issue_challenge,
    response_matches,
)
from wtvserv.crypto.rc4 import PycryptodomeRC4Stream, ServerStreams  # noqa: E402
from wtvserv.services.challenges import Challenges  # noqa: E402

KEY1, KEY2, DES_KEY = os.urandom(16), os.urandom(16), os.urandom(8)
BODY = os.urandom(65536)
REQUEST = b"GET wtv-home:/home\r\nwtv-incarnation: 3\r\n\r\n"
#: A login's messages: most requests under 100 bytes, its pages about 450.
RESPONSE_BODY = os.urandom(450)
SSID, ORIGIN = "8112345600B0026b", "192.0.2.10"
#: A response of the right length: checking it costs what checking the
#: right one does (the expected answer is made and compared either way).
ANSWER = "A" * 96

STREAMS = {"pycryptodome": PycryptodomeRC4Stream}
if rc4.IMPLEMENTATION == "c":
    STREAMS["c"] = rc4.RC4Stream


@contextmanager
def streamsOf(name: str):
    """Make L{ServerStreams} run on the RC4 stream C{name}."""
    saved, rc4.RC4Stream = rc4.RC4Stream, STREAMS[name]
    try:
        yield
    finally:
        rc4.RC4Stream = saved


class PerFieldHMAC(Challenges):
    """L{Challenges} deriving its fields as before: a new C{hmac} object per field."""

    def __init__(self, key: bytes, clock, random) -> None:
        super().__init__(key, clock, random)
        self._key = key

    def _fields(self, challengeId: bytes, ssid: str, origin: str) -> bytes:
        about = challengeId + f"{ssid}\0{origin}".encode("utf-8", "replace")
        blocks = (hmac.new(self._key, bytes([n]) + about, sha256).digest() for n in range(3))
        return b"".join(blocks)[:FIELDS_LENGTH]


def best_microseconds(function, repeat: int = 2000, runs: int = 5) -> float:
    """@return: the fastest of C{runs} timings of C{function()}, per call."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        best = min(best, time.perf_counter() - started)
    return best / repeat * 1e6


def cryptography_arc4():
    """@return: a function making and using a C{cryptography} ARC4 stream, or None."""
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
        from cryptography.hazmat.primitives.ciphers import Cipher
    except ImportError:
        return None
    return lambda: Cipher(ARC4(KEY1), mode=None).encryptor().update(REQUEST)


def ticket_round_trip():
    """@return: a function sealing and verifying one ticket."""
    from twisted.internet.task import Clock

    from wtvserv.tickets import Ticket, TicketAuthority
    authority = TicketAuthority(os.urandom(32), Clock())
    ticket = Ticket(ssid="8112345600B0026b", key1=KEY1, key2=KEY2, des_key=DES_KEY,
                    user_id=0, password_ok=True)
    return lambda: authority.verify(authority.seal(ticket)[0], ticket.ssid)


def loginRows() -> list[tuple[str, dict[str, object], int]]:
    """
    @return: what a login does, each as a label, its function by way of
        doing it, and how often a registered login does it.
    """
    streams = {name: ServerStreams(KEY1, KEY2, 3) for name in STREAMS}
    secret = os.urandom(32)
    clock = type("Clock", (), {"seconds": staticmethod(time.time)})()
    ways = {"before": PerFieldHMAC(secret, clock, os.urandom),
            "now": Challenges(secret, clock, os.urandom)}
    return [
        ("RC4: both streams of a SECURE ON (keys derived)",
         dict.fromkeys(STREAMS, lambda: ServerStreams(KEY1, KEY2, 3)), 1),
        ("RC4: both streams re-keyed", {name: lambda s=s: s.rekey(4) for name, s in streams.items()},
         0),
        ("RC4: a 43-byte request decrypted",
         {name: lambda s=s: s.decrypt(REQUEST) for name, s in streams.items()}, 2),
        ("RC4: a 450-byte response body encrypted",
         {name: lambda s=s: s.encrypt(RESPONSE_BODY) for name, s in streams.items()}, 1),
        ("Challenge issued and checked (HMAC, DES)",
         {name: lambda c=c: response_matches(c.issue(DES_KEY, SSID, ORIGIN), ANSWER)
          for name, c in ways.items()}, 1),
    ]


def printLoginRows() -> None:
    """Print each row of L{loginRows} both ways, and their sum per registered login."""
    print(f"RC4 stream in use: {rc4.IMPLEMENTATION}"
          + (f" ({rc4.FALLBACK_REASON})" if rc4.FALLBACK_REASON else ""))
    print(f"{'us per call':48}{'before':>10}{'now':>10}   ratio")
    before = now = 0.0
    for label, functions, perLogin in loginRows():
        figures = []
        for name, function in functions.items():
            if name in STREAMS:
                with streamsOf(name):
                    figures.append(best_microseconds(function))
            else:
                figures.append(best_microseconds(function))
        before += perLogin * figures[0]
        now += perLogin * figures[-1]
        ratio = f"{figures[0] / figures[1]:7.1f}x" if len(figures) == 2 else ""
        print(f"{label:48}" + "".join(f"{figure:10.2f}" for figure in figures)
              + " " * 10 * (2 - len(figures)) + ratio)
    print(f"{'per registered login (counts: 1, 0, 2, 1, 1)':48}{before:10.1f}{now:10.1f}"
          f"{before / now:7.1f}x")


def main() -> None:
    printLoginRows()
    print()
    rows = []
    other = cryptography_arc4()
    if other is not None:
        rows.append(("RC4: one cryptography stream made, a request decrypted", other))
    stream = rc4.RC4Stream(KEY2)
    rows += [
        ("RC4: a 64 KiB body encrypted", lambda: stream.process(BODY)),
        ("DES: challenge issued and checked (random fields)",
         lambda: response_matches(issue_challenge(DES_KEY, os.urandom), ANSWER)),
    ]
    issued = issue_challenge(DES_KEY, os.urandom)
    rows.append(("DES: challenge answered (the box's side)",
                 lambda: answer_challenge(DES_KEY, issued.challenge_b64)))
    rows.append(("AES-GCM: ticket sealed and verified", ticket_round_trip()))
    for name, function in rows:
        print(f"{best_microseconds(function):9.1f} us  {name}")
    for name, kind in STREAMS.items():
        big = kind(KEY2)
        per_second = len(BODY) / best_microseconds(lambda: big.process(BODY), repeat=200)
        print(f"{per_second:9.0f} MB/s RC4 throughput ({name})")


if __name__ == "__main__":
    main()
