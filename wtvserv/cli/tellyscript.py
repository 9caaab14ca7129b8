"""
C{wtvserv tellyscript} (alias C{wtvserv-tellyscript}): check a script
before a box gets it.

    wtvserv tellyscript pack lc2.tsf [-o lc2.tok] [--var DialinNumber=18005551234]
    wtvserv tellyscript unpack lc2.tok [-o lc2.tokens]
    wtvserv tellyscript print lc2.tsf|lc2.tok|lc2.tokens

C{pack} compiles a source exactly as the server does at start (same
checks, same script id) and writes the C{.tok}; C{unpack} checks a packed
file's header, length and checksum and can write its token stream; C{print}
shows what a box would run, as text, whatever the input. Problems are one
line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from wtvserv.cli.common import CommandError
from wtvserv.tellyscript.catalog import (
    OPENISP_MINOR,
    asDialScript,
    packSource,
    readScriptFile,
)
from wtvserv.tellyscript.detokenizer import detokenize
from wtvserv.tellyscript.errors import ScriptError
from wtvserv.tellyscript.packfile import MAGICS, Unpacked, unpack
from wtvserv.tellyscript.tokens import END_OF_SCRIPT

EXIT_ERROR = 1
PACKED, TOKENS, SOURCE = "packed", "tokens", "source"


def classify(data: bytes) -> str | None:
    """
    @return: what C{data} holds, as the anchor guesses it: L{PACKED} by its
        magic, L{TOKENS} when it has both a NUL and an C{FF} byte, else
        L{SOURCE}; L{None} for four bytes or fewer.
    """
    if len(data) <= 4:
        return None
    if data[:4] in MAGICS:
        return PACKED
    if b"\0" in data and bytes([END_OF_SCRIPT]) in data:
        return TOKENS
    return SOURCE


def describe(unpacked: Unpacked) -> list[str]:
    """@return: the header of a packed file, one field per line."""
    header = unpacked.header
    kind = "DialScript, text/dialscript" if header.dialscript else "TellyScript, text/tellyscript"
    signed = header.scriptId - (1 << 32) if header.scriptId >= 1 << 31 else header.scriptId
    made = datetime.fromtimestamp(header.scriptMod, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    state = "matches" if unpacked.intact else \
        f"DAMAGED: the tokens ({len(unpacked.tokens)} bytes) sum to 0x{unpacked.actualChecksum:08x}"
    return [f"magic        {header.magic.decode('latin-1')} ({kind})",
            f"version      {header.versionMajor}.{header.versionMinor}",
            f"script id    {header.scriptId} (0x{header.scriptId:08x}, signed {signed})",
            f"script mod   {header.scriptMod} ({made})",
            f"compressed   {header.compressedLength} bytes",
            f"tokens       {header.decompressedLength} bytes",
            f"checksum     0x{header.checksum:08x} ({state})"]


def _run(arguments: argparse.Namespace) -> int:
    path = Path(arguments.file)
    try:
        data = readScriptFile(path)
        if arguments.action == "pack":
            return _pack(path, data, arguments)
        if arguments.action == "unpack":
            return _unpack(path, data, arguments.output)
        return _print(path, data, arguments)
    except ScriptError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"{error.filename}: {error.strerror}" if error.filename
                           else str(error)) from None


def _compile(path: Path, data: bytes, arguments) -> bytes:
    minor = OPENISP_MINOR if arguments.openisp else 1
    packed = packSource(path, data, dict(arguments.var), minor, dict.fromkeys(arguments.define, True),
                        arguments.minify)
    return asDialScript(packed) if arguments.dialscript else packed


def _pack(path: Path, data: bytes, arguments) -> int:
    output = Path(arguments.output) if arguments.output else path.with_suffix(".tok")
    if output.resolve() == path.resolve():
        raise CommandError(f"{output} is the source; name another output with -o")
    packed = _compile(path, data, arguments)
    output.write_bytes(packed)
    print(f"wrote {output} ({len(packed)} bytes)")
    print("\n".join(describe(unpack(packed))))
    return 0


def _unpack(path: Path, data: bytes, output: str | None) -> int:
    unpacked = unpack(data)
    print("\n".join(describe(unpacked)))
    if output:
        Path(output).write_bytes(unpacked.tokens)
        print(f"wrote {output} ({len(unpacked.tokens)} token bytes)")
    return 0 if unpacked.intact else EXIT_ERROR


def _print(path: Path, data: bytes, arguments) -> int:
    kind = classify(data)
    if kind is None:
        raise CommandError(f"{path}: too short to be a script")
    if kind == PACKED:
        unpacked = unpack(data)
        print("/*\n" + "\n".join(describe(unpacked)) + "\n*/")
        tokens = unpacked.tokens
    elif kind == TOKENS:
        tokens = data
    else:
        tokens = unpack(_compile(path, data, arguments)).tokens
    text = detokenize(tokens)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0 if kind != PACKED or unpack(data).intact else EXIT_ERROR


def _variable(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not (sep and name):
        raise argparse.ArgumentTypeError(f"expected Name=Value, not {text!r}")
    return name, value


def addCommand(commands) -> None:
    parser = commands.add_parser(
        "tellyscript", help="pack, check or print a TellyScript",
        description="Tokenize and pack a TellyScript source, or check and print a packed one.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help in (("pack", "compile a source and write the .tok a box is sent"),
                       ("unpack", "check a .tok and show its header (exit 1 if damaged)"),
                       ("print", "print any script (source, .tok or tokens) as text")):
        command = actions.add_parser(name, help=help)
        command.set_defaults(run=_run)
        command.add_argument("file", metavar="FILE")
        if name != "print":
            command.add_argument("-o", "--output", metavar="OUT",
                                 help="the .tok to write (pack: default FILE.tok) or "
                                 "the token stream (unpack)")
        if name == "unpack":
            continue
        command.add_argument("--var", action="append", default=[], type=_variable,
                             metavar="NAME=VALUE", help="a %%Name%% value (repeatable)")
        command.add_argument("--define", action="append", default=[], metavar="NAME",
                             help="define NAME for #ifdef (repeatable)")
        command.add_argument("--minify", action="store_true",
                             help="rename names to short ones, as minisrv does")
        command.add_argument("--dialscript", action="store_true",
                             help="pack as a DialScript (VKAT), as UltimateTV boxes get")
        command.add_argument("--openisp", action="store_true",
                             help="version 1.3, as OpenISP scripts carry")

