from zope.interface import implementer

from wtvserv.interfaces import IWTVServicePlugin
from wtvserv.web import WTVService


@implementer(IWTVServicePlugin)
class SpotPlugin:
    name = "wtv-spot"
    defaultPort = 1620
    flags = 0
    connections = None
    description = "a spot for tests"

    def makeService(self, context):
        service = WTVService(self.name, context)
        service.route("/spot", login=False)(lambda box: "<html>spot</html>")
        return service


spot = SpotPlugin()
