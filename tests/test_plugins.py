"""
Service plugins: discovery, clashes, broken plugins, and that a failing
plugin does not take the other services down.
"""

import asyncio
import os

import pytest
from zope.interface.verify import verifyObject

import tests.fakeplugins
from tests.harness import makeServer
from tests.realserver import RealServer
from wtvserv.box import Box, make_profile, make_ssid
from wtvserv.discovery import choosePlugins, discoverPlugins
from wtvserv.interfaces import IWTVServicePlugin


def test_the_built_in_services_are_plugins_like_any_other():
    plugins, problems = discoverPlugins()
    names = {plugin.name for plugin in plugins}
    assert {"wtv-1800", "wtv-head-waiter", "wtv-register", "wtv-log", "wtv-home",
            "wtv-star"} <= names
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


class Named:
    """A stand-in plugin: only what choosing by name looks at."""

    def __init__(self, name, replacesBuiltin=False):
        self.name = name
        if replacesBuiltin:
            self.replacesBuiltin = True


BUILTIN = "wtvserv.plugins.wtvserv_builtin"


def test_a_plugin_claiming_a_built_ins_name_is_ignored_unless_it_replaces_it():
    builtin, claimer, replacer = Named("wtv-home"), Named("wtv-home"), Named("wtv-home", True)
    kept, problems = choosePlugins([("acme.claim", claimer), (BUILTIN, builtin)])
    assert kept == [builtin]
    assert problems == [f"plugin acme.claim claims wtv-home, already provided by {BUILTIN}; "
                        "ignored (it may say replacesBuiltin = True)"]
    kept, problems = choosePlugins([("acme.replace", replacer), (BUILTIN, builtin),
                                    ("acme.claim", claimer)])
    assert kept == [replacer]
    assert len(problems) == 1 and problems[0].startswith("plugin acme.claim claims wtv-home")


def test_of_two_replacements_the_first_by_module_name_wins():
    first, second = Named("wtv-home", True), Named("wtv-home", True)
    kept, problems = choosePlugins([("zed.home", second), (BUILTIN, Named("wtv-home")),
                                    ("acme.home", first)])
    assert kept == [first] and len(problems) == 1 and "zed.home" in problems[0]


@pytest.mark.parametrize("name", ["http", "https", "wtv-hello", "x-acme+v1.2", "ftp"])
def test_any_lower_case_url_scheme_names_a_service(name):
    assert choosePlugins([("acme", Named(name))])[0] != []


@pytest.mark.parametrize("name", ["", "WTV-Home", "1http", "wtv-*", "wtv_home", "a b", None,
                                  "x" * 41, "wtv-home:"])
def test_a_name_that_is_no_url_scheme_is_refused(name):
    kept, problems = choosePlugins([("acme", Named(name))])
    assert kept == [] and "has no service name" in problems[0]


def test_a_service_named_after_a_scheme_gets_its_data_folder(tmp_path):
    server, _ = makeServer(tmp_path / "data")
    assert server.context.dataDirectory("http").name == "http"
    with pytest.raises(ValueError):
        server.context.dataDirectory("../etc")


HOME_DROPIN = '''
from zope.interface import implementer
from wtvserv.interfaces import IWTVServicePlugin


@implementer(IWTVServicePlugin)
class OurHome:
    name = "wtv-home"
    replacesBuiltin = True
    defaultPort = 1612
    flags = 0
    connections = None
    description = "the operator's own home page"

    def makeService(self, context):
        from wtvserv.web import WTVService, escape, page
        service = WTVService("wtv-home", context)

        @service.route("/home")
        def home(box):
            return page("Our home", f"<p>Our own home, {escape(box.user.username)}.</p>")
        return service


home = OurHome()
'''


def test_a_plugin_replaces_wtv_home_under_the_real_twistd(tmp_path):
    """A plugin on the server's path, declaring replacesBuiltin, serves wtv-home."""
    plugins = tmp_path / "site" / "wtvserv" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "ourhome_dropin.py").write_text(HOME_DROPIN)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    server = RealServer(tmp_path / "data", env=env).start()

    async def scenario():
        box = Box("127.0.0.1", server.ports["wtv-1800"],
                  make_profile("plus", ssid=make_ssid(70), username="homer"),
                  log=lambda line: None)
        async with box:
            return await box.power_on()
    try:
        home = asyncio.run(scenario())
    finally:
        server.stop()
    assert home.encrypted and "Our own home, homer." in home.text
    assert "ourhome_dropin replaces the built-in wtv-home" in server.log
