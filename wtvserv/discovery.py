"""
Finding the wtv- service plugins: built-in and third-party alike come from
C{getPlugins(IWTVServicePlugin, wtvserv.plugins)}.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.plugin import getCache, getPlugins
from twisted.python.modules import getModule

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
    problems = _unloadableModules(package)
    origins = _origins(package)
    found = list(getPlugins(IWTVServicePlugin, package))
    found.sort(key=lambda plugin: _builtinFirst(origins.get(id(plugin), "?")))
    for plugin in found:
        origin = origins.get(id(plugin), "?")
        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name.startswith("wtv-"):
            problems.append(f"plugin {origin} has no wtv- name; ignored")
            continue
        if name in byName:
            problems.append(f"plugin {origin} claims {name}, already provided "
                            f"by {origins.get(id(byName[name]), '?')}; ignored")
            continue
        byName[name] = plugin
    for problem in problems:
        log.error("{problem}", problem=problem)
    return [byName[name] for name in sorted(byName)], problems


def _unloadableModules(package) -> list[str]:
    """
    One sentence per module of the plugin package that cannot be imported
    (C{getPlugins} skips those with a bare traceback in the log).
    """
    problems = []
    for module in getModule(package.__name__).iterModules():
        try:
            module.load()
        except Exception as error:
            problems.append(f"plugin module {module.name} could not be loaded "
                            f"({type(error).__name__}: {error}); its services are not run")
    return problems


def _origins(package) -> dict[int, str]:
    """Which module each plugin object was found in, from Twisted's dropin cache."""
    origins = {}
    for dropin in getCache(package).values():
        for cached in dropin.plugins:
            try:
                origins[id(cached.load())] = dropin.moduleName
            except Exception:
                continue
    return origins


def _builtinFirst(origin: str) -> tuple[bool, str]:
    return (origin != "wtvserv.plugins.wtvserv_builtin", origin)
