"""
The optional C accelerators (LZPF, the wire, RC4) are imported the same
way: where one was not built, its module falls back to Python and says why.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def importedOrWhyNot(name: str) -> tuple[ModuleType | None, str | None]:
    """@return: the extension C{name} and L{None}, or L{None} and why it cannot be imported."""
    try:
        return importlib.import_module(name), None
    except ImportError as error:
        return None, str(error)
