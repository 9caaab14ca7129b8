"""
Memory and time a connection may hold (issue 12, items 1 to 4), on an
in-memory transport with a fake clock: unread answers stop reading, bytes
sent while a service works stop it too, pipelined requests are
answered a batch per reactor turn, and bodies have a time cap and a budget.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport

from tests.test_protocol import RecordingService, connect, readResponses
from wtvserv.protocol import REQUESTS_PER_TURN, Timeouts
from wtvserv.wire import BodyBudget, Response


class BufferingTransport(StringTransport):
    """
    A transport with a write buffer that the box empties only when the
    test says so (L{take}), telling its producer to pause and resume as a
    Twisted TCP transport does around C{bufferSize}.
    """

    bufferSize = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.taken = 0
        self.pausedWriting = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and len(self.value()) - self.taken > self.bufferSize:
            self.pausedWriting = True
            self.producer.pauseProducing()

    def take(self) -> bytes:
        """The box reads everything waiting; the producer may go on."""
        data = self.value()[self.taken:]
        self.taken += len(data)
        if self.pausedWriting and self.producer is not None:
            self.pausedWriting = False
            self.producer.resumeProducing()
        return data


def bufferedConnect(service, **kwargs):
    protocol, _, clock = connect(service, **kwargs)
    transport = BufferingTransport(peerAddress=protocol.transport.getPeer())
    protocol.factory.connectionClosed(protocol)
    protocol.factory.admission.release(protocol._address)
    protocol = protocol.factory.buildProtocol(transport.getPeer())
    protocol.makeConnection(transport)
    return protocol, transport, clock


def get(path: str) -> bytes:
    return f"GET wtv-test:{path}\r\n\r\n".encode()


BIG = Response(body=b"x" * 1000)


def test_unread_answers_stop_reading_and_answering_until_the_box_takes_them():
    service = RecordingService([BIG] * 200)
    protocol, transport, clock = bufferedConnect(service)
    assert transport.producer is protocol
    protocol.dataReceived(b"".join(get(f"/{n}") for n in range(200)))
    clock.advance(0)
    held = len(transport.value())
    assert held <= transport.bufferSize + 2000, "no more answers once the buffer is full"
    assert transport.producerState == "paused", "the transport was told to stop reading"
    assert len(service.requests) < 10
    answers = []
    while len(answers) < 200:
        answers += readResponses(transport.take())
        clock.advance(0)
    assert len(answers) == 200 and transport.producerState == "producing"
    assert [request.path for request in service.requests] == [f"/{n}" for n in range(200)]


def test_a_box_that_never_takes_its_answers_is_aborted_after_the_write_timeout():
    timeouts = Timeouts(write=10, minBodyRate=1000)
    protocol, transport, clock = bufferedConnect(RecordingService([BIG] * 50),
                                                 timeouts=timeouts)
    protocol.dataReceived(b"".join(get(f"/{n}") for n in range(50)))
    clock.advance(timeouts.writeDeadline(transport.bufferSize) - 0.5)
    assert not transport.disconnecting
    clock.advance(3)
    assert transport.disconnected, "aborted, not waiting for a drain that never comes"


def test_an_idle_connection_is_aborted_not_left_waiting_for_a_drain():
    protocol, transport, clock = connect(RecordingService())
    clock.advance(Timeouts.idle + 1)
    assert transport.disconnected


def test_a_closing_connection_whose_box_does_not_read_is_aborted():
    service = RecordingService([Response(body=b"bye", close=True)])
    protocol, transport, clock = bufferedConnect(service, timeouts=Timeouts(write=5))
    protocol.dataReceived(get("/last"))
    assert transport.disconnecting and not transport.disconnected
    assert transport.producer is None, "unregistered, so the transport can close"
    clock.advance(Timeouts(write=5).writeDeadline(transport.bufferSize + 200))
    assert transport.disconnected


def test_nothing_more_is_read_once_a_pipelined_request_waits_on_a_working_service():
    slow = Deferred()
    service = RecordingService([slow])
    protocol, transport, _ = connect(service)
    protocol.dataReceived(b"POST wtv-test:/password\r\nContent-length: 2\r\n\r\npw"
                          + get("/next"))
    assert transport.producerState == "paused", "the rest stays in the kernel meanwhile"
    slow.callback(Response(body=b"checked"))
    assert transport.producerState == "producing"
    assert [body for _, body in readResponses(transport.value())] == [
        b"checked", b"<html>/next</html>"]


def test_a_request_answered_later_leaves_reading_on_until_more_bytes_come():
    first, second = Deferred(), Deferred()
    service = RecordingService([first, second])
    protocol, transport, _ = connect(service)
    protocol.dataReceived(get("/password"))
    assert transport.producerState == "producing", "a box waiting for its answer sends nothing"
    first.callback(Response(body=b"checked"))
    protocol.dataReceived(get("/slow"))
    assert transport.producerState == "producing"
    protocol.dataReceived(get("/pipelined")[:10])
    assert transport.producerState == "paused", "bytes of another request: stop reading"
    assert [request.path for request in service.requests] == ["/password", "/slow"]
    protocol.dataReceived(get("/pipelined")[10:])   # already read by the transport
    second.callback(Response(body=b"slow"))
    assert transport.producerState == "producing"
    assert [body for _, body in readResponses(transport.value())] == [
        b"checked", b"slow", b"<html>/pipelined</html>"]


def test_hundreds_of_pipelined_requests_are_answered_in_order_a_batch_per_turn(events):
    service = RecordingService()
    protocol, transport, clock = connect(service)
    protocol.dataReceived(b"".join(get(f"/{n}") for n in range(400)))
    assert len(service.requests) == REQUESTS_PER_TURN
    assert transport.producerState == "paused", "nothing more read until the batch is done"
    assert [call.getTime() for call in clock.getDelayedCalls()].count(clock.seconds()) == 1
    clock.advance(0)            # the next turns of the reactor
    assert len(service.requests) == 400
    bodies = [body for _, body in readResponses(transport.value())]
    assert bodies == [f"<html>/{n}</html>".encode() for n in range(400)]
    assert not any(event.get("log_failure") for event in events)
    clock.advance(0)
    assert transport.producerState == "producing"


def test_a_request_gets_an_absolute_time_cap_however_fast_its_body_earns_time():
    timeouts = Timeouts(header=30, body=30, minBodyRate=100, request=90)
    protocol, transport, clock = connect(RecordingService(), timeouts=timeouts)
    protocol.dataReceived(b"POST wtv-test:/log\r\nContent-length: 100000\r\n\r\n")
    for _ in range(89):
        clock.advance(1)
        protocol.dataReceived(b"x" * 200)          # twice the minimum rate
    assert transport.value() == b""
    clock.advance(2)
    assert transport.value().startswith(b"408 ") and transport.disconnecting


def test_bodies_arriving_at_once_share_one_budget():
    budget = BodyBudget(1000)
    service = RecordingService()
    first, firstTransport, clock = connect(service, bodyBudget=budget)
    factory = first.factory
    first.dataReceived(b"POST wtv-test:/a\r\nContent-length: 800\r\n\r\n" + b"x" * 10)
    second, secondTransport, _ = connect(service, factory=factory)
    second.dataReceived(b"POST wtv-test:/b\r\nContent-length: 300\r\n\r\n")
    assert secondTransport.value().startswith(b"503 ") and secondTransport.disconnecting
    first.dataReceived(b"x" * 790)
    assert firstTransport.value().startswith(b"200 OK") and budget.reserved == 0
    third, thirdTransport, _ = connect(service, factory=factory)
    third.dataReceived(b"POST wtv-test:/c\r\nContent-length: 900\r\n\r\n")
    assert budget.reserved == 900
    third.connectionLost(None)
    assert budget.reserved == 0, "a connection gone mid-body gives its share back"
