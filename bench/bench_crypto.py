"""
Cost of the crypto on a login's path, per operation (not a test).

Run from the repository root::

    python bench/bench_crypto.py

Times what a login does: RC4 streams made and used on SECURE ON
(pycryptodome's ARC4, with the C{cryptography} package's ARC4 beside it for
comparison), the DES challenge issued and checked, a ticket sealed and
verified (AES-GCM), and RC4 throughput on a 64 KiB body. Best of several
runs, microseconds per operation on one core.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wtvserv.crypto.challenge import answer_challenge, issue_challenge  # noqa: E402
from wtvserv.crypto.rc4 import RC4Stream, ServerStreams  # noqa: E402

KEY1, KEY2, DES_KEY = os.urandom(16), os.urandom(16), os.urandom(8)
BODY = os.urandom(65536)
REQUEST = b"GET wtv-home:/home\r\nwtv-incarnation: 3\r\n\r\n"


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


def main() -> None:
    rows = [
        ("RC4: both streams of a SECURE ON (keys derived)",
         lambda: ServerStreams(KEY1, KEY2, 3)),
        ("RC4: one pycryptodome stream made, a request decrypted",
         lambda: RC4Stream(KEY1).process(REQUEST)),
    ]
    other = cryptography_arc4()
    if other is not None:
        rows.append(("RC4: one cryptography stream made, a request decrypted", other))
    stream = RC4Stream(KEY2)
    rows += [
        ("RC4: a 64 KiB body encrypted", lambda: stream.process(BODY)),
        ("DES: challenge issued", lambda: issue_challenge(DES_KEY, os.urandom)),
    ]
    issued = issue_challenge(DES_KEY, os.urandom)
    rows.append(("DES: challenge answered (the box's side)",
                 lambda: answer_challenge(DES_KEY, issued.challenge_b64)))
    rows.append(("AES-GCM: ticket sealed and verified", ticket_round_trip()))
    for name, function in rows:
        print(f"{best_microseconds(function):9.1f} us  {name}")
    per_second = len(BODY) / best_microseconds(lambda: stream.process(BODY), repeat=200)
    print(f"{per_second:9.0f} MB/s RC4 throughput (pycryptodome)")


if __name__ == "__main__":
    main()
