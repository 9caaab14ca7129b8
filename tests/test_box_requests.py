"""
The simulated box against C{box_requests.json}: a scripted server in this
file plays each flow over real TCP, leads the box from one request of the
flow to the next, and records the header names of every request it gets.
"""

from __future__ import annotations

import asyncio
import os
from base64 import b64encode
from dataclasses import dataclass

import pytest

from tests.conftest import load_vectors
from tests.loopback import LoopbackServer, decrypt_head, header_pairs
from wtvserv.box import Box, BoxError, make_profile
from wtvserv.box.forms import split_url
from wtvserv.crypto.challenge import issue_challenge, response_matches
from wtvserv.crypto.rc4 import ServerStreams

#: Each flow of the vectors, and the box profile that plays it.
FLOWS = {"plus_first_power_on": "plus", "plus_returning_box": "plus",
         "classic_first_power_on": "classic"}
#: What the box reports in the flows' C{wtv-log:/log?type=<kind>}.
LOG_KIND = "boxcheck"
SERVICES = ("wtv-1800", "wtv-head-waiter", "wtv-register", "wtv-home",
            "wtv-log")


def quiet(line: str) -> None:
    """A box log that prints nothing."""


def _response(headers: list[tuple[str, str]], body: bytes = b"",
              streams: ServerStreams | None = None) -> bytes:
    wire = streams.encrypt(body) if streams is not None else body
    lines = ["200 OK"] + [f"{name}: {value}" for name, value in headers]
    lines += ["Content-type: text/html", f"Content-length: {len(body)}"]
    return ("\n".join(lines) + "\n\n").encode() + wire


@dataclass
class Recorded:
    """One request as the scripted server got it."""

    connection: int
    first_on_connection: bool
    encrypted: bool
    method: str
    url: str
    headers: list[tuple[str, str]]
    block: list[tuple[str, str]] | None

    @property
    def incarnation(self) -> str:
        return dict(self.headers)["wtv-incarnation"]

    def as_vector(self) -> dict:
        """@return: this request in the form of a C{box_requests.json}
        entry."""
        entry = {
            "service": split_url(self.url)[0],
            "connection": self.connection,
            "first_on_connection": self.first_on_connection,
            "encrypted": self.encrypted,
            "method": self.method,
            "url": self.url.replace(f"type={LOG_KIND}", "type=<kind>"),
            "request_headers": [name for name, _ in self.headers],
        }
        if self.block is not None:
            entry["secure_on_block_headers"] = [name for name, _ in self.block]
        # Keep the vectors' key order, for readable diffs.
        order = ["service", "connection", "first_on_connection", "encrypted",
                 "secure_on_block_headers", "method", "url", "request_headers"]
        return {key: entry[key] for key in order if key in entry}


class FlowServer(LoopbackServer):
    """
    Answers request I{n} of a flow so that the box makes request I{n+1}:
    C{wtv-visit} to it (C{client:relogin} for a preregister), or a form
    posting to it; C{Connection: close} when the next request is on
    another connection. Preregister hands out C{wtv-initial-key} and the
    services; the response before a request that answers a challenge
    carries a real C{wtv-challenge}, and the answer gets a C{wtv-ticket}.
    SECURE ON connections are decrypted with the challenge's keys.
    """

    def __init__(self, flow: list[dict]):
        super().__init__()
        self.flow = flow
        self.recorded: list[Recorded] = []
        self.connections = 0
        self.box_key = None
        self.issued = None

    async def serve(self, reader, writer) -> None:
        self.connections += 1
        connection, streams, block = self.connections, None, None
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"SECURE ON\r\n"):
            block = header_pairs(head)
            incarnation = int(dict(block)["wtv-incarnation"])
            streams = ServerStreams(self.issued.key1, self.issued.key2,
                                    incarnation)
            head = await decrypt_head(reader, streams)
        first = True
        while True:
            request = await self._record(reader, head, streams, connection,
                                         first, block if first else None)
            close, data = self._answer(request, streams)
            writer.write(data)
            await writer.drain()
            if close:
                break
            first = False
            head = (await decrypt_head(reader, streams) if streams
                    else await reader.readuntil(b"\r\n\r\n"))

    async def _record(self, reader, head, streams, connection, first,
                      block) -> Recorded:
        method, url = head.decode().split("\r\n")[0].split(" ", 1)
        headers = header_pairs(head)
        body = await reader.readexactly(
            int(dict(headers).get("Content-length", 0)))
        if streams is not None and body:
            streams.decrypt(body)
        request = Recorded(connection, first, streams is not None, method,
                           url, headers, block)
        self.recorded.append(request)
        return request

    def _answer(self, request: Recorded,
                streams: ServerStreams | None) -> tuple[bool, bytes]:
        """@return: whether to close after the response, and its bytes."""
        index = len(self.recorded) - 1
        if index >= len(self.flow):
            self.errors.append(f"request {index + 1} is past the flow: "
                               f"{request.method} {request.url}")
            return True, _response([("Connection", "close")], b"", streams)
        following = self.flow[index + 1] if index + 1 < len(self.flow) \
            else None
        close = (following is None
                 or following["connection"] != self.flow[index]["connection"])
        headers = [("Connection", "close" if close else "Keep-Alive")]
        if streams is not None:
            headers.append(("wtv-encrypted", "true"))
        headers += self._keys_and_services(request, following)
        body = b""
        if following is not None:
            target = following["url"].replace("<kind>", LOG_KIND)
            if following["method"] == "POST":
                body = (f'<html><form action="{target}" method="post">'
                        f'<input type="hidden" name="step" value="{index}">'
                        f'<input type="submit" value="Continue"></form>'
                        f"</html>").encode()
            elif split_url(target)[1] == "/preregister":
                headers.append(("wtv-visit", "client:relogin"))
            else:
                headers.append(("wtv-visit", target))
        if split_url(request.url)[1] == "/home":
            body = b"<html><body>Home</body></html>"
        return close, _response(headers, body, streams)

    def _keys_and_services(self, request: Recorded,
                           following: dict | None) -> list[tuple[str, str]]:
        headers = []
        if split_url(request.url)[1] == "/preregister":
            self.box_key = os.urandom(8)
            headers.append(("wtv-initial-key",
                            b64encode(self.box_key).decode()))
            headers += self.services(*SERVICES)
        answer = dict(request.headers).get("wtv-challenge-response")
        if answer is not None:
            if not response_matches(self.issued, answer):
                self.errors.append(f"wrong challenge response on "
                                   f"{request.url}")
            ticket = b64encode(os.urandom(24)).decode()
            headers.append(("wtv-ticket", ticket))
        if (following is not None
                and "wtv-challenge-response" in following["request_headers"]):
            self.issued = issue_challenge(self.box_key, os.urandom)
            self.box_key = self.issued.new_key
            headers.append(("wtv-challenge", self.issued.challenge_b64))
        return headers


async def _play(flow: list[dict], profile, **box_options) -> FlowServer:
    """
    Power a box on through C{flow}, then make the flow's requests after
    home (the log report) with C{get}/C{post}.
    """
    async with FlowServer(flow) as server:
        async with Box("127.0.0.1", server.port, profile, log=quiet,
                       timeout=5, **box_options) as box:
            await box.power_on()
            for entry in flow[len(server.recorded):]:
                url = entry["url"].replace("<kind>", LOG_KIND)
                if entry["method"] == "POST":
                    await box.post(url, b"report")
                else:
                    await box.get(url)
        return server


def _flow(name: str) -> list[dict]:
    return load_vectors("box_requests.json")["flows"][name]


def test_every_flow_of_the_vectors_is_played():
    assert set(load_vectors("box_requests.json")["flows"]) == set(FLOWS)


@pytest.mark.parametrize("name", FLOWS)
def test_the_box_sends_the_headers_of_the_flow(name):
    flow = _flow(name)
    server = asyncio.run(_play(flow, make_profile(FLOWS[name])))
    assert server.errors == []
    assert len(server.recorded) == len(flow)
    pairs = zip(flow, server.recorded, strict=True)
    for number, (expected, seen) in enumerate(pairs, 1):
        assert seen.as_vector() == expected, f"request {number}"


@pytest.mark.parametrize("name", FLOWS)
def test_one_incarnation_per_connection_and_a_new_one_for_each(name):
    server = asyncio.run(_play(_flow(name), make_profile(FLOWS[name])))
    by_connection: dict[int, set[str]] = {}
    for seen in server.recorded:
        values = by_connection.setdefault(seen.connection, set())
        values.add(seen.incarnation)
        if seen.block is not None:
            values.add(dict(seen.block)["wtv-incarnation"])
    assert [values for values in by_connection.values()] == [
        {str(number)} for number in range(1, len(by_connection) + 1)]


def test_send_every_header_puts_the_identity_on_every_request():
    flow = _flow("plus_returning_box")
    names = flow[0]["request_headers"]
    identity = names[names.index("Accept-Language"):]
    server = asyncio.run(_play(flow, make_profile("plus"),
                               send_every_header=True))
    assert server.errors == [] and len(server.recorded) == len(flow)
    for expected, seen in zip(flow, server.recorded, strict=True):
        vector = seen.as_vector()
        assert set(identity) <= set(vector["request_headers"]), seen.url
        assert vector.get("secure_on_block_headers") == expected.get(
            "secure_on_block_headers")


# -- Encrypted bodies on a plain connection ---------------------------------

class PlainScript(LoopbackServer):
    """
    One plain connection to wtv-1800 whose responses are built, in turn, by
    C{responses}: each is called with the request's headers and this
    script (for its keys).
    """

    def __init__(self, *responses):
        super().__init__()
        self.responses = list(responses)
        self.incarnations: list[str] = []
        self.key = os.urandom(8)
        self.issued = None
        self.streams = None

    async def serve(self, reader, writer) -> None:
        for respond in self.responses:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = dict(header_pairs(head))
            self.incarnations.append(headers["wtv-incarnation"])
            writer.write(respond(self, headers))
            await writer.drain()
        await reader.read()

    def challenge(self) -> tuple[str, str]:
        """@return: a new C{wtv-challenge} header for the box's key."""
        self.issued = issue_challenge(self.key, os.urandom)
        self.key = self.issued.new_key
        return ("wtv-challenge", self.issued.challenge_b64)

    def encrypted(self, incarnation: str, body: bytes) -> bytes:
        """@return: a response with C{body} encrypted like the server side:
        one K2 stream for the connection, made at its first body."""
        if self.streams is None:
            self.streams = ServerStreams(self.issued.key1, self.issued.key2,
                                         int(incarnation))
        return _response([("wtv-encrypted", "true")], body, self.streams)


def _key_and_challenge(script, headers):
    return _response([("wtv-initial-key", b64encode(script.key).decode()),
                      script.challenge()])


def _marked_empty(script, headers):
    return _response([("wtv-encrypted", "true")])


def _password_page(script, headers):
    data = script.encrypted(headers["wtv-incarnation"], b"<html>password")
    head, _, body = data.partition(b"\n\n")
    challenge = "\nwtv-challenge: " + script.challenge()[1]  # re-sent, as seen
    return head + challenge.encode() + b"\n\n" + body


def _more(script, headers):
    return script.encrypted(headers["wtv-incarnation"], b" page</html>")


async def _gets(script: PlainScript, count: int) -> list:
    async with script:
        async with Box("127.0.0.1", script.port, log=quiet, timeout=5) as box:
            return [await box.get(f"wtv-1800:/step{number}")
                    for number in range(count)]


def test_an_encrypted_body_on_a_plain_connection_is_decrypted():
    """
    Like the seed's password page after a plaintext stage two: the stream
    starts at the first non-empty marked body (an empty one consumes
    nothing), continues for later ones, and keeps the keys it started with
    when the same response brings a new challenge.
    """
    script = PlainScript(_key_and_challenge, _marked_empty, _password_page,
                         _more)
    responses = asyncio.run(_gets(script, 4))
    assert [r.body for r in responses] == [b"", b"", b"<html>password",
                                           b" page</html>"]
    assert [r.encrypted for r in responses] == [False, False, True, True]
    assert len(set(script.incarnations)) == 1


def test_an_encrypted_body_before_any_challenge_is_an_error():
    def early(script, headers):
        return _response([("wtv-encrypted", "true")], b"ciphertext?")

    with pytest.raises(BoxError, match="no session keys"):
        asyncio.run(_gets(PlainScript(_marked_empty, early), 2))
