"""
The commands of before C{wtvserv}: C{wtvserv-logs ARGS} is C{wtvserv logs
ARGS}, and so on.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from wtvserv.cli.main import main


def _alias(command: str) -> Callable[[Sequence[str] | None], int]:
    def run(argv: Sequence[str] | None = None) -> int:
        return main([command, *(sys.argv[1:] if argv is None else argv)])
    return run


logs = _alias("logs")
ban = _alias("ban")
tellyscript = _alias("tellyscript")
box = _alias("box")
