"""
A connection closed in the turn that decides it, where Twisted waits.

Twisted closes a connection in two ways, each with work a WTVP connection
does not need:

 - when the box closes its side first, C{tcp.Connection.readConnectionLost}
   looks its protocol up as C{IHalfCloseableProtocol} (a failed adaptation,
   the dearest step of the close), then C{_closeSocket} calls
   C{shutdown(2)} before C{close(2)}. A box that sent its FIN has nothing
   more to send, so C{close} alone sends the same FIN; and an accepted
   socket is not inherited (Python opens it close-on-exec, PEP 446), so
   no other process holds it (Twisted's own comment in C{_closeSocket}
   calls the shutdown unneeded for that reason). L{afterPeer} closes so.
 - when the server hangs up, C{loseConnection} stops reading, watches the
   socket for writing and closes in C{doWrite} on the next turn: two more
   C{epoll_ctl} calls and one more event. When L{sendnow} already sent
   everything, L{whenSent} closes at once, as C{loseConnection} itself does
   for a connection whose writing side is shut (C{connectionLost} with
   C{ConnectionDone}): still an orderly C{shutdown(2)} and C{close(2)}.

Only a plain TCP server connection (L{twisted.internet.tcp.Server}
itself) takes the short ways; these rely on C{_shouldShutdown} and the
internals L{sendnow} lists. C{tests/test_closenow.py} fails if a Twisted
upgrade changes them.
"""

from __future__ import annotations

from twisted.internet import tcp
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from wtvserv import sendnow

#: The reason Twisted itself gives (one shared failure, as its reactor does).
_DONE = Failure(ConnectionDone())


def afterPeer(transport) -> None:
    """
    The peer closed its side (the transport called its half-closeable
    protocol's C{readConnectionLost}): close ours, as Twisted does for a
    protocol that does not half-close, without C{shutdown(2)} on TCP.
    """
    if type(transport) is tcp.Server:
        transport._shouldShutdown = False
    if isinstance(transport, tcp.Connection):
        transport.connectionLost(_DONE)      # what readConnectionLost does
    else:
        transport.loseConnection()


def whenSent(transport) -> bool:
    """
    C{transport.loseConnection()}, closing now when nothing waits to be
    sent. @return: whether it closed now (its protocol's C{connectionLost}
    has then run).
    """
    if sendnow.isIdleTCP(transport) and transport.producer is None:
        transport.connectionLost(_DONE)
        return True
    transport.loseConnection()
    return False
