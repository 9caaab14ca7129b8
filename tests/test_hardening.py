"""
The connection's defences, on an in-memory transport with a fake clock:
body-rate timeouts, the admission gate and the SSID policy.
"""

from twisted.internet.task import Clock

from tests.test_protocol import SSID, RecordingService, connect, rememberKeys, secureOn
from wtvserv.admission import Admission
from wtvserv.bans import parseBans
from wtvserv.protocol import Timeouts
from wtvserv.ssid import SSIDPolicy

TIMEOUTS = Timeouts(idle=300, header=30, body=30, minBodyRate=100, request=600)


def post(length: int) -> bytes:
    return (f"POST wtv-test:/log\r\nwtv-client-serial-number: {SSID}\r\n"
            f"Content-length: {length}\r\n\r\n").encode()


def test_a_slow_modem_keeps_earning_time_for_a_long_post():
    service = RecordingService()
    protocol, transport, clock = connect(service, timeouts=TIMEOUTS)
    protocol.dataReceived(post(12000))     # 120 s at 100 bytes a second
    for _ in range(120):
        clock.advance(1)
        protocol.dataReceived(b"x" * 100)
    assert transport.value().startswith(b"200 OK")
    assert len(service.requests[0].body) == 12000


def test_a_half_sent_post_is_cut_off_however_long_it_claims_to_be():
    service = RecordingService()
    protocol, transport, clock = connect(service, timeouts=TIMEOUTS)
    protocol.dataReceived(post(1_000_000) + b"x" * 1000)   # earns 30 + 30 + 10 s
    clock.advance(69)
    assert transport.value() == b""
    clock.advance(2)
    assert transport.value().startswith(b"408 ") and transport.disconnecting
    assert service.requests == []


def test_a_body_trickling_below_the_minimum_rate_is_cut_off():
    protocol, transport, clock = connect(RecordingService(), timeouts=TIMEOUTS)
    protocol.dataReceived(post(100_000))
    seconds = 0
    while not transport.disconnecting and seconds < 200:
        protocol.dataReceived(b"x")                          # 1 byte a second
        clock.advance(1)
        seconds += 1
    assert transport.value().startswith(b"408 ") and seconds < 65


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_header_timeout():
    protocol, transport, clock = connect(RecordingService(), timeouts=TIMEOUTS)
    for byte in b"GET wtv-test:/slowloris\r\n" + b"X-a: b\r\n" * 20:
        protocol.dataReceived(bytes([byte]))
        clock.advance(0.8)
        if transport.disconnecting:
            break
    assert transport.value().startswith(b"408 ")


def test_bytes_held_while_secure_on_keys_are_chosen_are_timed_too():
    protocol, transport, clock = connect(RecordingService(), timeouts=TIMEOUTS)
    rememberKeys(protocol.factory.sessions)
    protocol.factory.sessions.offerKey(SSID, b"initkey!", "127.0.0.1")
    from wtvserv.crypto.challenge import issue_challenge
    protocol.factory.sessions.setPendingChallenge(
        SSID, issue_challenge(b"initkey!", lambda n: b"\x07" * n), "127.0.0.1")
    protocol.dataReceived(secureOn(5) + b"\x01\x02")    # too few bytes to choose keys
    clock.advance(31)
    assert transport.value().startswith(b"408 ")


def test_the_gate_shared_by_factories_caps_an_address_across_services():
    clock = Clock()
    gate = Admission(parseBans(""), maxConnections=100, perAddress=2)
    first, _, _ = connect(RecordingService(), clock=clock, admission=gate)
    second, _, _ = connect(RecordingService(), clock=clock, admission=gate)
    _, refused, _ = connect(RecordingService(), clock=clock, admission=gate)
    assert refused.value().startswith(b"503 Too many connections from your address")
    assert refused.disconnecting
    _, other, _ = connect(RecordingService(), clock=clock, admission=gate, address="192.0.2.8")
    assert other.value() == b"" and not other.disconnecting
    first.connectionLost(None)
    _, again, _ = connect(RecordingService(), clock=clock, admission=gate)
    assert again.value() == b"", "a closed connection frees its place"
    assert gate.total == 3


def test_a_banned_address_is_refused_before_it_sends_anything():
    gate = Admission(parseBans("address 203.0.113.0/24\n"))
    _, transport, _ = connect(RecordingService(), admission=gate, address="203.0.113.77")
    assert transport.value().startswith(b"403 ") and transport.disconnecting
    assert gate.total == 0


def request(ssid: str) -> bytes:
    return f"GET wtv-test:/x\r\nwtv-client-serial-number: {ssid}\r\n\r\n".encode()


def test_a_wrong_check_byte_is_refused_unless_exempt_or_validation_is_off():
    policy = SSIDPolicy(parseBans(""), exempt=("8112345600b0026c",),
                        exemptPrefixes=("MSTVSIMU",))
    for ssid, expected in [("8112345600B0026b", b"200"), ("8112345600B0026d", b"400"),
                           ("8112345600B0026c", b"200"), ("MSTVSIMU12345678", b"200"),
                           ("81123456", b"400")]:
        protocol, transport, _ = connect(RecordingService(), ssidPolicy=policy)
        protocol.dataReceived(request(ssid))
        assert transport.value()[:3] == expected, ssid
    lax = SSIDPolicy(parseBans(""), validate=False)
    protocol, transport, _ = connect(RecordingService(), ssidPolicy=lax)
    protocol.dataReceived(request("81123456"))
    assert transport.value().startswith(b"200")


def test_a_banned_ssid_is_refused_in_plaintext_and_at_secure_on():
    policy = SSIDPolicy(parseBans(f"ssid {SSID}\n"))
    service = RecordingService()
    protocol, transport, _ = connect(service, ssidPolicy=policy)
    protocol.dataReceived(request(SSID))
    assert transport.value().startswith(b"403 ") and service.requests == []
    protocol, transport, _ = connect(service, ssidPolicy=policy)
    rememberKeys(protocol.factory.sessions)
    protocol.dataReceived(secureOn(5))
    assert transport.value().startswith(b"403 ") and transport.disconnecting
