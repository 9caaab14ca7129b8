"""
C{wtvserv status}: ask each running server process of a data directory,
through its control socket (L{wtvserv.control}), what it is doing.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

from wtvserv.cli.common import CommandError, addDataOptions, settings
from wtvserv.control import MAX_LINE

#: Seconds to wait for a server's answer, and the most bytes read of it.
TIMEOUT = 5.0
MAX_ANSWER = 1024 * 1024


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "status", help="what the running server is doing",
        description="Boxes connected per service, boxes logged in, logins and sign-ups in "
                    "the last hour, uptime and the switches, from every server process "
                    "of the data directory.")
    addDataOptions(parser)
    parser.add_argument("--json", action="store_true", help="print the answers as JSON")
    parser.set_defaults(run=_run)


def ask(path: Path, command: str = "status") -> dict:
    """
    @return: a server's answer to C{command} on its control socket C{path}.
    @raise CommandError: no server answers there, or not in time.
    """
    assert len(command) < MAX_LINE
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(TIMEOUT)
            client.connect(str(path))
            client.sendall(command.encode("ascii") + b"\n")
            answer = b""
            while not answer.endswith(b"\n") and len(answer) <= MAX_ANSWER:
                chunk = client.recv(65536)
                if not chunk:
                    break
                answer += chunk
    except ConnectionRefusedError:
        raise CommandError(f"no server is running at {path} (a socket left by one that "
                           "stopped)") from None
    except PermissionError:
        raise CommandError(f"cannot reach {path}: permission denied (run as the "
                           "server's user)") from None
    except TimeoutError:
        raise CommandError(f"the server at {path} did not answer within "
                           f"{TIMEOUT:.0f} s") from None
    except OSError as error:
        raise CommandError(f"cannot reach {path}: {error.strerror or error}") from None
    try:
        return json.loads(answer)
    except ValueError:
        raise CommandError(f"the server at {path} gave no readable answer") from None


def describe(status: dict) -> list[str]:
    """@return: the lines C{wtvserv status} prints for one server process."""
    hours, rest = divmod(int(status["uptime"]), 3600)
    lines = [f"wtvserv {status['version']}, process {status['pid']}, up "
             f"{hours} h {rest // 60:02d} min"]
    for name, counts in sorted(status["services"].items()):
        lines.append(f"  {name:<18} {counts['boxes']:>6} boxes  "
                     f"{counts['connections']:>6} connections")
    lines.append(f"  logged in now      {status['loggedIn']:>6} boxes")
    lines.append(f"  last hour          {status['lastHour']['logins']:>6} logins  "
                 f"{status['lastHour']['signups']:>6} sign-ups")
    switches = status["switches"]
    lines.append(f"  maintenance        {'on' if switches['maintenance'] else 'off'}"
                 + (f" ({switches['message']})" if switches["maintenance"] else ""))
    lines.append(f"  registration       {switches['registration']}")
    return lines


def _run(arguments: argparse.Namespace) -> int:
    data = settings(arguments).dataDir
    sockets = sorted(data.glob("control*.sock"))
    if not sockets:
        raise CommandError(f"no server is running with the data directory {data} "
                           "(it has no control socket)")
    answers, problems = [], []
    for path in sockets:
        try:
            answer = ask(path)
        except CommandError as problem:
            problems.append(str(problem))
            continue
        if "error" in answer:
            problems.append(f"the server at {path} says: {answer['error']}")
        else:
            answers.append(answer)
    if arguments.json:
        print(json.dumps(answers, indent=2))
    else:
        print("\n".join(line for answer in answers for line in describe(answer)))
    if problems:
        raise CommandError("; ".join(problems))
    return 0
