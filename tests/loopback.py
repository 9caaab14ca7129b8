"""
Scripted WTVP servers on a free 127.0.0.1 port, for the box tests: the
listening and the request-head helpers they share.
"""

from __future__ import annotations

import asyncio

from wtvserv.crypto.rc4 import ServerStreams


class LoopbackServer:
    """
    Listens while in C{async with}; L{serve} handles one connection. A
    connection that the box drops or closes ends quietly; any other error
    of L{serve} goes to L{errors}, for the test to report.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.close()

    def services(self, *names: str) -> list[tuple[str, str]]:
        """@return: C{wtv-service} headers: C{reset}, then each of C{names}
        on this port (wtv-1800 with flag 0x1, no encryption)."""
        lines = [("wtv-service", "reset")]
        for name in names:
            flags = " flags=0x00000001" if name == "wtv-1800" else ""
            lines.append(("wtv-service", f"name={name} host=127.0.0.1 "
                                         f"port={self.port}{flags}"))
        return lines

    async def _accept(self, reader, writer) -> None:
        self._writers.append(writer)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as error:
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            writer.close()

    async def serve(self, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


def header_pairs(head: bytes) -> list[tuple[str, str]]:
    """@return: the header lines of a request head (or SECURE ON block), in
    order."""
    lines = head.decode().split("\r\n")[1:]
    return [(name.strip(), value.strip()) for name, _, value in
            (line.partition(":") for line in lines if line)]


async def decrypt_head(reader: asyncio.StreamReader,
                       streams: ServerStreams) -> bytes:
    """Decrypt byte by byte until the plaintext holds a blank line."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += streams.decrypt(await reader.readexactly(1))
    return head
