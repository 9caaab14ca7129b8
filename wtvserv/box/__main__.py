"""
C{python -m wtvserv.box HOST:PORT}: power a simulated box on against a
server and print every step. Exits 0 when the box reaches its home page.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from wtvserv.box.client import Box
from wtvserv.box.errors import BoxError
from wtvserv.box.messages import DEFAULT_TIMEOUT
from wtvserv.box.profile import PROFILE_KINDS, make_profile

LOG_CHECK_URL = "wtv-log:/log?type=boxcheck"


def _address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not (port.isascii() and port.isdigit()):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """@return: the command-line parser of C{wtvserv-box}."""
    parser = argparse.ArgumentParser(
        prog="wtvserv-box",
        description="Power a simulated WebTV box on against a WTVP server.")
    parser.add_argument("address", type=_address, metavar="HOST:PORT",
                        help="where the server's wtv-1800 listens")
    parser.add_argument("--profile", choices=PROFILE_KINDS, default="plus",
                        help="box model (default: plus)")
    parser.add_argument("--ssid", help="the box's serial number")
    parser.add_argument("--name", help="human name typed at registration")
    parser.add_argument("--username", help="username typed at registration")
    parser.add_argument("--password", help="password (registration and "
                        "password page)")
    parser.add_argument("--user", dest="choose_user",
                        help="user to pick on a choose-user page")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds allowed for each read (default: 10)")
    parser.add_argument("--send-every-header", action="store_true",
                        help="debugging: send the identity headers on every "
                        "request, not once per connection as real boxes do")
    parser.add_argument("--log-post", action="store_true",
                        help=f"after logging in, POST a report to "
                        f"{LOG_CHECK_URL}")
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


async def run(options: argparse.Namespace) -> None:
    """
    Power on, and post the check report when asked.

    @raise BoxError: at the first failure.
    """
    host, port = options.address
    async with Box(host, port, _profile(options),
                   timeout=options.timeout,
                   send_every_header=options.send_every_header) as box:
        await box.power_on()
        if options.log_post:
            response = await box.post(LOG_CHECK_URL, _report(box))
            if not 200 <= response.status < 300:
                raise BoxError(f"POST {LOG_CHECK_URL}: {response.status} "
                               f"{response.reason}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of C{wtvserv-box}. @return: the exit status."""
    options = build_parser().parse_args(argv)
    try:
        asyncio.run(run(options))
    except BoxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
