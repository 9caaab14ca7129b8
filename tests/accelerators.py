"""
What the tests of each C accelerator (LZPF, the wire, RC4) share: where
one is not built, its tests skip, or fail when its C{WTVSERV_REQUIRE_*_C}
variable is set (as C{.ci/run} sets them all); what an install without a
compiler says about it.
"""

import os
import re
import subprocess
import tracemalloc

import pytest

from tests.realserver import REPOSITORY
from wtvserv.accelerators import importedOrWhyNot

__all__ = ["builtOrSkipped", "fallbackIn", "importedOrWhyNot", "memoryGrownBy", "needsExtension",
           "outcome", "startLine"]


def builtOrSkipped(extension, missing: str, variable: str):
    """
    @param extension: the imported extension (or what a test takes from it),
        L{None} where it was not built, C{missing} saying why.
    @return: C{extension}; skips (or, with C{variable} set, fails) the test
        without it.
    """
    if extension is None:
        reason = f"the C accelerator is not built: {missing}"
        if os.environ.get(variable):
            pytest.fail(reason)
        pytest.skip(reason)
    return extension


def needsExtension(extension, variable: str):
    """@return: a mark skipping a test where C{extension} is L{None}, unless C{variable} is set."""
    return pytest.mark.skipif(extension is None and not os.environ.get(variable),
                              reason="the C accelerator is not built")


def fallbackIn(installed, cwd, package: str, module: str, extension: str, *expressions: str):
    """
    Check, in an install without a compiler (C{installed}: its python and
    pip's output), that C{extension} failed to build and that C{module} of
    C{package} is the installed copy and says why it falls back.

    @return: that module's C{IMPLEMENTATION}, then the values of
        C{expressions} there, as text.
    """
    python, output = installed
    assert re.search(rf"building .*{extension}.* failed", output), output
    code = (f"from {package} import {module}; print({module}.__file__); "
            f"print({module}.IMPLEMENTATION); print({module}.FALLBACK_REASON)"
            + "".join(f"; print({expression})" for expression in expressions))
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                           cwd=cwd).stdout.splitlines()
    assert not found[0].startswith(str(REPOSITORY)) and extension in found[2], found
    return found[1], *found[3:]


def outcome(function, *args):
    """@return: what C{function(*args)} returned, or the type and text of
    what it raised."""
    try:
        return "returned", function(*args)
    except Exception as error:
        return "raised", type(error), str(error)



def memoryGrownBy(work) -> int:
    """
    @return: how many bytes more Python holds after calling C{work} than
        before (call it once first, so caches and first messages are made).
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def startLine(log: str, what: str) -> str:
    """@return: the one line of the server's C{log} saying how C{what} runs."""
    lines = [line for line in log.splitlines() if what in line]
    assert len(lines) == 1, log
    return lines[0]
