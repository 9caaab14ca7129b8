"""
Finding the wtv- service plugins: built-in and third-party alike come from
C{getPlugins(IWTVServicePlugin, wtvserv.plugins)}.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.plugin import getPlugins

import wtvserv.plugins
from wtvserv.interfaces import IWTVServicePlugin

log = Logger()


def discoverPlugins(package=wtvserv.plugins) -> tuple[list, list[str]]:
    """
    @return: the usable plugins sorted by name, and one sentence per
        problem found (a plugin that failed to import is logged by
        C{getPlugins} and simply absent; of two plugins claiming one name,
        the built-in one, or else the first by module name, is kept).
    """
    byName: dict[str, object] = {}
    problems: list[str] = []
    found = sorted(getPlugins(IWTVServicePlugin, package), key=_builtinFirst)
    for plugin in found:
        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name.startswith("wtv-"):
            problems.append(f"plugin {_origin(plugin)} has no wtv- name; ignored")
            continue
        if name in byName:
            problems.append(f"plugin {_origin(plugin)} claims {name}, already provided "
                            f"by {_origin(byName[name])}; ignored")
            continue
        byName[name] = plugin
    for problem in problems:
        log.error("{problem}", problem=problem)
    return [byName[name] for name in sorted(byName)], problems


def _origin(plugin) -> str:
    return getattr(type(plugin), "__module__", "?")


def _builtinFirst(plugin) -> tuple[bool, str]:
    origin = _origin(plugin)
    return (origin != "wtvserv.plugins.wtvserv_builtin", origin)
