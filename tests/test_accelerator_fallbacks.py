"""
What every C accelerator (LZPF, the wire, RC4, DES) must do as a build: compile
without a warning, and where no compiler is found, leave an install that
works in pure Python and a server that says so once in its log.

One install without a compiler (a new virtual environment, pip offline,
C{CC=/bin/false}) serves all four: it is the slowest thing these tests do.
"""

import asyncio
import os
import shutil
import subprocess
import sysconfig

import pytest

from tests.accelerators import fallbackIn, startLine
from tests.offline import copyOfTheCheckout, offlineEnvironment
from tests.realserver import REPOSITORY, RealServer
from wtvserv.box import Box, make_profile, make_ssid

SOURCES = {
    "lzpf": REPOSITORY / "wtvserv" / "crypto" / "_lzpf_c.c",
    "wire": REPOSITORY / "wtvserv" / "_wire_c.c",
    "rc4": REPOSITORY / "wtvserv" / "crypto" / "_rc4_c.c",
    "des": REPOSITORY / "wtvserv" / "crypto" / "_des_c.c",
}


def compiler():
    """@return: the C compiler Python was built with, if it is on PATH."""
    command = (sysconfig.get_config_var("CC") or "cc").split()
    return command if shutil.which(command[0]) else None


@pytest.mark.skipif(compiler() is None, reason="no C compiler")
@pytest.mark.parametrize("extension", sorted(SOURCES))
def test_the_extension_compiles_without_warnings(extension, tmp_path):
    """Each source compiles with C{-Wall -Wextra}, every warning an error."""
    include = sysconfig.get_paths()["include"]
    result = subprocess.run(
        [*compiler(), "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{include}",
         "-c", str(SOURCES[extension]), "-o", str(tmp_path / "extension.o")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def without_compiler(tmp_path_factory):
    """
    A new virtual environment where pip installed a copy of wtvserv, offline,
    with the C compiler made unusable (C{CC=/bin/false}).

    @return: its python and pip's verbose output.
    """
    base = tmp_path_factory.mktemp("no-compiler")
    return offlineEnvironment(base, copyOfTheCheckout(base / "src"),
                              env=dict(os.environ, CC="/bin/false"), verbose=True)


@pytest.mark.parametrize("package, module, extension, expressions, expected", [
    ("wtvserv.crypto", "lzpf", "_lzpf_c", (), ("python",)),
    ("wtvserv", "wire", "_wire_c", ("wire._readHead.__module__",), ("python", "wtvserv.wire")),
    ("wtvserv.crypto", "rc4", "_rc4_c", ("rc4.RC4Stream.__name__",),
     ("pycryptodome", "PycryptodomeRC4Stream")),
    ("wtvserv.crypto", "challenge", "_des_c", (), ("openssl",)),
])
def test_without_a_compiler_the_install_works_and_falls_back(
        without_compiler, tmp_path, package, module, extension, expressions, expected):
    assert fallbackIn(without_compiler, tmp_path, package, module, extension,
                      *expressions) == expected


def test_without_a_compiler_the_server_says_so_once_for_each_and_serves_boxes(
        without_compiler, tmp_path):
    """
    A classic box signs up on the pure-Python install (its sign-up page in
    LZPF, over SECURE ON): the server's log says once for each accelerator
    what it runs instead.
    """
    python, _ = without_compiler
    seen = []
    profile = make_profile("classic", ssid=make_ssid(61), username="fallback")
    server = RealServer(tmp_path / "data", python=str(python), fromCheckout=False).start()

    async def box_signs_up():
        async with Box("127.0.0.1", server.ports["wtv-1800"], profile, log=seen.append) as box:
            return await box.power_on()

    try:
        home = asyncio.run(box_signs_up())
    finally:
        server.stop()
    log = server.log
    assert home.status == 200 and home.encrypted
    assert any("(lzpf, encrypted)" in line for line in seen), seen  # the sign-up page
    line = startLine(log, "LZPF compression")
    assert "pure Python" in line and "_lzpf_c" in line
    line = startLine(log, "WTVP framing")
    assert "pure Python" in line and "_wire_c" in line
    line = startLine(log, "RC4 encryption")
    assert "pycryptodome" in line and "_rc4_c" in line
    line = startLine(log, "DES of the login challenge")
    assert "OpenSSL" in line and "_des_c" in line
