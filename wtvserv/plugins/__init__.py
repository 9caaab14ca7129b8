"""
Plugin package for wtv- services: every L{wtvserv.interfaces.IWTVServicePlugin}
provider in a module here (in any copy of this directory on C{sys.path}) is found
by L{twisted.plugin.getPlugins}.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
