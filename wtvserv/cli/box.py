"""
C{wtvserv box} (alias C{wtvserv-box}): power a simulated box on against a
server and print every step. Exits 0 when the box reaches its home page
(and, with C{--get}, when that URL answers).

    wtvserv-box                          # 127.0.0.1, wtv-1800's port 1615
    wtvserv-box 192.168.1.20:11615 --profile classic
    wtvserv-box --get wtv-home:/home     # the page on stdout, the steps on stderr
    wtvserv-box --make-ssid              # a new serial number with a valid check byte
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

from wtvserv.box.client import Box
from wtvserv.box.errors import BoxError
from wtvserv.box.messages import DEFAULT_TIMEOUT
from wtvserv.box.profile import PROFILE_KINDS, make_profile, make_ssid
from wtvserv.cli.common import CommandError

LOG_CHECK_URL = "wtv-log:/log?type=boxcheck"
WTV_1800_PORT = 1615


def _address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = text, str(WTV_1800_PORT)
    if not host or not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"expected HOST or HOST:PORT, not {text!r}")
    return host, int(port)


def addArguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", type=_address, nargs="?", metavar="HOST[:PORT]",
                        default=("127.0.0.1", WTV_1800_PORT),
                        help=f"where the server's wtv-1800 listens (default "
                             f"127.0.0.1:{WTV_1800_PORT})")
    parser.add_argument("--profile", choices=PROFILE_KINDS, default="plus",
                        help="box model (default: plus)")
    parser.add_argument("--ssid", help="the box's serial number")
    parser.add_argument("--make-ssid", action="store_true",
                        help="print a new serial number with a valid check byte, and exit")
    parser.add_argument("--name", help="human name typed at registration")
    parser.add_argument("--username", help="username typed at registration")
    parser.add_argument("--password", help="password (registration and password page)")
    parser.add_argument("--user", dest="choose_user",
                        help="user to pick on a choose-user page")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds allowed for each read (default: 10)")
    parser.add_argument("--get", metavar="URL",
                        help="after logging in, fetch URL and print its body (the steps "
                             "then go to stderr)")
    parser.add_argument("--send-every-header", action="store_true",
                        help="debugging: send the identity headers on every "
                        "request, not once per connection as real boxes do")
    parser.add_argument("--log-post", action="store_true",
                        help=f"after logging in, POST a report to {LOG_CHECK_URL}")
    parser.set_defaults(run=_run)


def addCommand(commands) -> None:
    addArguments(commands.add_parser(
        "box", help="power a simulated box on against a server",
        description="Power a simulated WebTV box on against a WTVP server."))


def build_parser() -> argparse.ArgumentParser:
    """@return: the parser of C{wtvserv-box}, for tests that call L{run} themselves."""
    parser = argparse.ArgumentParser(prog="wtvserv-box")
    addArguments(parser)
    return parser


def _profile(options: argparse.Namespace):
    changes = {"ssid": options.ssid, "human_name": options.name,
               "username": options.username, "password": options.password,
               "choose_user": options.choose_user}
    return make_profile(options.profile, **{
        key: value for key, value in changes.items() if value is not None})


def _report(box: Box) -> bytes:
    """@return: the small text body posted with C{--log-post}."""
    lines = [f"ssid={box.profile.ssid}", f"profile={box.profile.kind}",
             f"requests={len(box.history)}", f"incarnation={box.incarnation}"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


async def run(options: argparse.Namespace) -> bytes | None:
    """
    Power on, post the check report and fetch the URL when asked.

    @return: the body of C{--get}'s URL, or L{None}.
    @raise BoxError: at the first failure.
    """
    host, port = options.address
    log = (lambda line: print(line, file=sys.stderr)) if options.get else print
    async with Box(host, port, _profile(options), log=log, timeout=options.timeout,
                   send_every_header=options.send_every_header) as box:
        await box.power_on()
        if options.log_post:
            _check(LOG_CHECK_URL, await box.post(LOG_CHECK_URL, _report(box)))
        if options.get:
            return _check(options.get, await box.get(options.get)).body
    return None


def _check(url: str, response):
    if not 200 <= response.status < 300:
        raise BoxError(f"{url}: {response.status} {response.reason}")
    return response


def _run(options: argparse.Namespace) -> int:
    if options.make_ssid:
        print(make_ssid(secrets.randbelow(1 << 24)))
        return 0
    try:
        body = asyncio.run(run(options))
    except BoxError as error:
        raise CommandError(str(error)) from None
    if body is None:
        print("ok")
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
