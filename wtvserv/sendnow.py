"""
An answer sent as it is written, when nothing waits before it.

Twisted's C{transport.write} only buffers and starts watching the socket
for writing; the reactor's next turn sends (C{doWrite}) and stops
watching: two C{epoll_ctl} calls and one more event a response, each
system call a release of the GIL that a waiting store thread takes. For
a WTVP answer, which nearly always fits the socket's buffer, L{write}
sends at once instead, through the transport's own C{writeSomeData}, the
call C{doWrite} makes, and hands whatever is not sent (a partial send,
C{EAGAIN}, a lost connection) to C{transport.write}, so that Twisted's
own path sees it as before: flow control and C{pauseProducing},
C{loseConnection} after the last byte, the error that closes the
connection.

Only a plain TCP server connection (L{twisted.internet.tcp.Server}
itself, not TLS, not a UNIX socket or another endpoint's transport) takes
the short way, and only while its write buffer is empty and it is neither
closing nor half-closed. That relies on Twisted internals of
L{twisted.internet.abstract.FileDescriptor} and L{tcp.Connection}:
C{dataBuffer}, C{offset}, C{_tempDataLen}, C{_writeDisconnected},
C{disconnecting}, C{connected}, C{TLS} and C{writeSomeData} (the number
of bytes sent, or an exception for a lost connection).
C{tests/test_sendnow.py} fails if a Twisted upgrade changes them.
"""

from __future__ import annotations

from twisted.internet import tcp


def isIdleTCP(transport) -> bool:
    """Whether C{transport} is a plain, open TCP server connection with nothing buffered."""
    return (type(transport) is tcp.Server and not transport.TLS
            and transport.connected and not transport.disconnecting
            and not transport._writeDisconnected and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer))


def write(transport, data: bytes) -> None:
    """C{transport.write(data)}, sending at once what the socket takes now."""
    if isIdleTCP(transport):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):
            if sent == len(data):
                return
            data = data[sent:]
        # An exception: the connection is lost. Buffered whole, it makes
        # doWrite meet the same error and close the connection as always.
    transport.write(data)
