"""
Service plugins: discovery, clashes, broken plugins, and that a failing
plugin does not take the other services down.
"""

from zope.interface.verify import verifyObject

import tests.fakeplugins
from tests.harness import makeServer
from wtvserv.discovery import discoverPlugins
from wtvserv.interfaces import IWTVServicePlugin


def test_the_built_in_services_are_plugins_like_any_other():
    plugins, problems = discoverPlugins()
    names = {plugin.name for plugin in plugins}
    assert {"wtv-1800", "wtv-head-waiter", "wtv-register", "wtv-log", "wtv-home"} <= names
    for plugin in plugins:
        verifyObject(IWTVServicePlugin, plugin)


def test_a_broken_module_and_a_clash_are_reported_and_the_rest_kept():
    plugins, problems = discoverPlugins(tests.fakeplugins)
    assert [plugin.name for plugin in plugins] == ["wtv-spot"]
    assert any("acme_broken could not be loaded (ModuleNotFoundError" in p for p in problems)
    assert any("acme_spot claims wtv-spot, already provided by tests.fakeplugins.acme_clash" in p
               for p in problems)


def test_a_plugin_whose_service_fails_to_build_leaves_the_others_running(tmp_path):
    class Exploding:
        name, defaultPort, flags, connections, description = "wtv-boom", 1699, 0, None, ""

        def makeService(self, context):
            raise RuntimeError("plugin bug")

    from wtvserv.server import WTVServer
    server, reactor = makeServer(tmp_path / "ok")
    withBroken = WTVServer(server.config, reactor, [*discoverPlugins()[0], Exploding()])
    assert "wtv-boom" not in withBroken.factories
    assert "wtv-head-waiter" in withBroken.factories


def test_a_plugin_gets_a_data_folder_of_its_own(tmp_path):
    server, _ = makeServer(tmp_path / "data")
    folder = server.context.dataDirectory("wtv-guestbook")
    assert folder == tmp_path / "data" / "services" / "wtv-guestbook"
    assert folder.stat().st_mode & 0o077 == 0
