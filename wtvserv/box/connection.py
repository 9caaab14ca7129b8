"""One kept-alive TCP connection from the box to one service."""

from __future__ import annotations

import asyncio

from wtvserv.box.errors import BoxError
from wtvserv.box.headers import Header
from wtvserv.box.messages import (
    DEFAULT_TIMEOUT,
    Response,
    format_request,
    read_response,
    timed,
)
from wtvserv.crypto.rc4 import BoxStreams
from wtvserv.directory import ServiceEntry

SessionKeys = tuple[bytes, bytes]


class ServiceConnection:
    """
    One kept-alive TCP connection to one service, with one incarnation for
    its whole life.

    A secure connection sends its SECURE ON block (plaintext) right before
    its first request; every request after that block, the first included,
    is encrypted with the one box-to-server stream, and every response body
    is decrypted with the one server-to-box stream. A plain connection
    decrypts a body marked C{wtv-encrypted: true} with a server-to-box
    stream made at the first such body from the session keys the box then
    holds.

    @ivar incarnation: the C{wtv-incarnation} of every request on it.
    @ivar secure: whether it uses SECURE ON.
    @ivar streams: its RC4 streams, once it has any.
    @ivar requests: how many requests were sent on it.
    """

    def __init__(self, entry: ServiceEntry, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, incarnation: int,
                 timeout: float = DEFAULT_TIMEOUT):
        self.entry = entry
        self.incarnation = incarnation
        self.secure = False
        self.streams: BoxStreams | None = None
        self.requests = 0
        self._reader = reader
        self._writer = writer
        self._secure_on = b""
        self._timeout = timeout

    @classmethod
    async def open(cls, entry: ServiceEntry, incarnation: int,
                   timeout: float = DEFAULT_TIMEOUT) -> ServiceConnection:
        """
        Connect to C{entry}'s host and port.

        @raise BoxError: when the connection cannot be made in time.
        """
        where = f"{entry.name} at {entry.host}:{entry.port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(entry.host,
                                                               entry.port)
        except TimeoutError:
            raise BoxError(f"timed out after {timeout:g} s connecting to "
                           f"{where}") from None
        except OSError as error:
            reason = error.strerror or error
            raise BoxError(f"cannot connect to {where}: {reason}") from None
        return cls(entry, reader, writer, incarnation, timeout)

    def start_secure(self, session_keys: SessionKeys,
                     block_headers: list[Header]) -> None:
        """
        Make the connection secure: its first request goes after a SECURE
        ON block with C{block_headers}, and everything is encrypted with
        streams keyed from C{session_keys} and the incarnation.
        """
        self.secure = True
        self.streams = BoxStreams(*session_keys, self.incarnation)
        self._secure_on = format_request("SECURE ON", "", block_headers)

    @property
    def identity_sent(self) -> bool:
        """@return: whether the box's identity went on this connection
        already (in its SECURE ON block, or with its first request)."""
        return self.secure or self.requests > 0

    @property
    def usable(self) -> bool:
        """@return: whether the connection still looks open."""
        return not (self._writer.is_closing() or self._reader.at_eof())

    async def exchange(self, request: bytes,
                       session_keys: SessionKeys | None = None) -> Response:
        """
        Send one request (plaintext; encrypted here on a secure connection)
        and read its response. Closes the connection after a
        C{Connection: close} response.

        @param session_keys: K1 and K2 as the box holds them now; a plain
            connection keys its stream from them at its first encrypted
            body.
        """
        data = request
        if self.secure:
            data = self._secure_on + self.streams.encrypt(request)
            self._secure_on = b""
        self.requests += 1
        self._writer.write(data)
        await timed(self._writer.drain(), self._timeout, "sending", True)
        response = await read_response(
            self._reader, lambda: self._body_streams(session_keys),
            self._timeout, self.secure)
        if response.headers.get("Connection", "").lower() == "close":
            self.close()
        return response

    def _body_streams(self, session_keys: SessionKeys | None) -> BoxStreams:
        """@return: the streams that decrypt a body, made on first use on a
        plain connection."""
        if self.streams is None:
            if session_keys is None:
                raise BoxError("an encrypted body on a plain connection, but "
                               "the box has no session keys")
            self.streams = BoxStreams(*session_keys, self.incarnation)
        return self.streams

    def close(self) -> None:
        """Close the socket (no waiting)."""
        self._writer.close()

    async def wait_closed(self) -> None:
        """Wait (briefly) until the socket is closed; never raises."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._writer.wait_closed()
        except OSError:
            pass
