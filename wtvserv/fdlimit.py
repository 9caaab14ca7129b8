"""
Open files: every box connection is one. twistd leaves C{RLIMIT_NOFILE} as
it finds it, and a soft limit of 1024 (a common default) is reached by 32
addresses holding 32 connections each, after which new connections fail
with EMFILE before the server can even refuse them. So the soft limit is
raised to the hard one at start, and the connection cap is kept below it.
"""

from __future__ import annotations

import resource

#: Descriptors kept for what is not a box connection: the listening ports,
#: the SQLite files and their journals, logs, the ban file, static files
#: being read and the reactor's own.
KEPT_FREE = 64
#: What the soft limit is raised to when the hard limit is unlimited
#: (Linux refuses more than C{fs.nr_open}, 1,048,576 by default).
UNLIMITED_TARGET = 1 << 20


def raiseOpenFileLimit() -> tuple[int, int]:
    """
    Raise the soft C{RLIMIT_NOFILE} to the hard limit, as far as the
    system allows.

    @return: the soft and hard limits now in force (either may be
        C{resource.RLIM_INFINITY}).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass    # kept as it was; the caller logs what is in force
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def connectionsThatFit(wanted: int, soft: int) -> int:
    """@return: C{wanted}, or fewer so that the connections fit in C{soft} open files."""
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - KEPT_FREE))
