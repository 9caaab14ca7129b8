"""
The console's one C{twisted.web} resource: it decodes the form, lets the
console answer (a coroutine returning a L{Reply}), and sends the reply
with the security headers; a failure is logged and answered with a plain
500, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from wtvserv.console.http import SECURITY_HEADERS, peerName

log = Logger()


@dataclass
class Reply:
    """What a page answers: a status, a body, and any extra headers."""

    status: int = 200
    body: bytes = b""
    contentType: bytes = b"text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def redirect(location: str) -> Reply:
    return Reply(303, headers=[(b"Location", location.encode("ascii"))])


class ConsoleResource(Resource):
    """Every path of the console, answered by C{console.respond(request, form)}."""

    isLeaf = True

    def __init__(self, console) -> None:
        super().__init__()
        self.console = console

    def render(self, request):
        try:
            form = {key.decode("utf-8"): values[0].decode("utf-8")
                    for key, values in request.args.items() if values}
        except UnicodeDecodeError:
            log.warn("console: a form that is not UTF-8 from {client} refused",
                     client=peerName(request.getClientAddress()))
            self._send(Reply(400, b"The form is not UTF-8.\n", b"text/plain; charset=utf-8"),
                       request)
            return NOT_DONE_YET
        gone = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        answering = ensureDeferred(self.console.respond(request, form))
        answering.addErrback(self._failed, request)
        answering.addCallback(lambda reply: None if gone else self._send(reply, request))
        return NOT_DONE_YET

    def _failed(self, failure, request) -> Reply:
        log.failure("console: {method} {path} failed", failure,
                    method=request.method.decode("ascii", "replace"),
                    path=request.path.decode("ascii", "replace"))
        return Reply(500, b"Something went wrong; the server log says what.\n",
                     b"text/plain; charset=utf-8")

    def _send(self, reply: Reply, request) -> None:
        request.setResponseCode(reply.status)
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"Server", b"wtvserv")      # not twisted.web's name and version
        request.setHeader(b"Content-Type", reply.contentType)
        for name, value in reply.headers:
            request.responseHeaders.addRawHeader(name, value)
        request.setHeader(b"Content-Length", str(len(reply.body)).encode())
        request.write(reply.body)
        request.finish()


def hostName(request) -> str | None:
    """@return: the name in the request's C{Host} header, without its port (L{None}: none)."""
    host = (request.getHeader(b"host") or b"").decode("ascii", "replace").strip().lower()
    if not host:
        return None
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host


def cookie(request, name: bytes) -> str | None:
    value = request.getCookie(name)
    return value.decode("ascii", "replace") if value else None


def cookieHeader(request, name: bytes, value: str) -> bytes:
    secure = b"; Secure" if request.isSecure() else b""
    return (name + b"=" + value.encode("ascii") + b"; Path=/; HttpOnly; SameSite=Strict"
            + secure)


def expiredCookie(name: bytes) -> bytes:
    return name + b"=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
