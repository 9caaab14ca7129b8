"""
Finding the service plugins: built-in and third-party alike are the
L{IWTVServicePlugin} providers in the modules of C{wtvserv.plugins} (every
C{wtvserv/plugins/} folder on C{sys.path}, through Twisted's
C{pluginPackagePaths}).

The modules are imported here rather than through C{getPlugins}: Twisted's
dropin cache imports a module that fails again each time it is asked and
logs a traceback each time, where an operator wants one line per broken
plugin.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.python.modules import getModule

import wtvserv.plugins
from wtvserv.directory import isServiceName
from wtvserv.interfaces import IWTVServicePlugin

log = Logger()
BUILTIN_MODULE = "wtvserv.plugins.wtvserv_builtin"


def discoverPlugins(package=wtvserv.plugins) -> tuple[list, list[str]]:
    """
    @return: the usable plugins sorted by name, and one sentence per
        problem found, each also logged as one line (a module that failed
        to import is left out). See L{choosePlugins}.
    """
    found, problems = _loadPlugins(package)
    plugins, clashes = choosePlugins(found)
    problems += clashes
    for problem in problems:
        log.error("{problem}", problem=problem)
    return plugins, problems


def choosePlugins(found: list[tuple[str, object]],
                  builtin: str = BUILTIN_MODULE) -> tuple[list, list[str]]:
    """
    One plugin per service name, from C{(module name, plugin)} pairs.

    Of plugins claiming one name, the built-in one (from module C{builtin})
    is kept, unless another declares C{replacesBuiltin}: then the first of
    those by module name takes its place. Otherwise the first by module name
    is kept. A name that is not a service name (L{isServiceName}) is refused.

    @return: the plugins kept, sorted by name, and one sentence per plugin
        left out.
    """
    byName: dict[str, tuple[str, object]] = {}
    problems = []
    for origin, plugin in sorted(found, key=lambda pair: (pair[0] != builtin, pair[0])):
        name = getattr(plugin, "name", None)
        if not isServiceName(name):
            problems.append(f"plugin {origin} has no service name (a lower-case URL scheme "
                            f"such as wtv-hello); ignored")
            continue
        holder = byName.get(name)
        if holder is not None and holder[0] == builtin and getattr(plugin, "replacesBuiltin",
                                                                   False):
            log.info("plugin {origin} replaces the built-in {name}", origin=origin, name=name)
        elif holder is not None:
            problems.append(f"plugin {origin} claims {name}, already provided by {holder[0]}"
                            + ("; ignored (it may say replacesBuiltin = True)"
                               if holder[0] == builtin else "; ignored"))
            continue
        byName[name] = (origin, plugin)
    return [byName[name][1] for name in sorted(byName)], problems


def _loadPlugins(package) -> tuple[list[tuple[str, object]], list[str]]:
    """
    @return: C{(module name, plugin)} for every plugin in the modules of
        C{package}, and one sentence per module that cannot be imported.
    """
    found, problems = [], []
    for module in getModule(package.__name__).iterModules():
        try:
            loaded = module.load()
        except Exception as error:
            problems.append(f"plugin module {module.name} could not be loaded "
                            f"({type(error).__name__}: {error}); its services are not run")
            continue
        found.extend((module.name, value) for value in vars(loaded).values()
                     if IWTVServicePlugin.providedBy(value))
    return found, problems
