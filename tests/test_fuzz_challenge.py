"""
Fuzzing the login challenge of L{wtvserv.crypto.challenge}: the server's
check of a C{wtv-challenge-response} and the box's reading of a
C{wtv-challenge}, with random and with damaged real values.

C{response_matches} never raises and accepts only the right answer. It
decodes leniently (surrounding whitespace, and the extra padding Python's
base64 tolerates), so the property is stated on what the text means: a
response that matches must decode to the expected 72 bytes. Damaging the
bytes themselves and re-encoding them must always fail.
"""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode

from hypothesis import event, given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from tests.fuzzing import BASE64_ALPHABET, fuzzSettings, mutated, mutatedText
from tests.harness import TestBox
from tests.test_fuzz_forms import liveServer, ssidNumber
from wtvserv.crypto.challenge import (
    ANCHOR_CHALLENGE_LENGTH,
    ChallengeError,
    IssuedChallenge,
    answer_challenge,
    issue_challenge,
    response_matches,
)

DES_KEYS = st.binary(min_size=8, max_size=8)
#: Where the DES blocks a box reads end; the 108-byte form's last 4 bytes are junk.
ENCRYPTED_END = ANCHOR_CHALLENGE_LENGTH - 4


@st.composite
def issuedChallenges(draw) -> tuple[bytes, IssuedChallenge]:
    """A box's current DES key and a challenge issued to it, every draw from hypothesis."""
    currentKey = draw(DES_KEYS, label="current key")
    issued = issue_challenge(currentKey, lambda n: draw(st.binary(min_size=n, max_size=n)))
    return currentKey, issued


def meaning(text) -> bytes | None:
    """What a lenient base64 decoder makes of C{text}, or L{None}."""
    if not isinstance(text, str):
        return None
    try:
        return b64decode(text.encode("latin-1", "replace"))
    except (binascii.Error, ValueError):
        return None


RESPONSES = st.one_of(
    st.none(), st.integers(), st.binary(max_size=120), st.lists(st.text(max_size=4)),
    st.text(max_size=200),
    st.text(alphabet=BASE64_ALPHABET.decode(), min_size=90, max_size=130),
    st.binary(min_size=72, max_size=72).map(lambda raw: b64encode(raw).decode()),
)


@fuzzSettings(300)
@given(issuedChallenges(), RESPONSES)
def test_random_responses_are_refused_without_raising(challenge, response):
    _, issued = challenge
    assert response_matches(issued, response) is False


@fuzzSettings(300)
@given(st.data())
def test_an_altered_response_matches_only_if_it_still_says_the_answer(data):
    _, issued = data.draw(issuedChallenges())
    right = issued.expected_response_b64
    altered = data.draw(mutatedText(right, maxEdits=3), label="altered")
    matched = response_matches(issued, altered)
    assert isinstance(matched, bool)
    if matched:
        assert meaning(altered) == b64decode(right), altered
    if altered == right:
        assert matched


@fuzzSettings(300)
@given(st.data())
def test_a_response_with_its_bytes_altered_never_matches(data):
    _, issued = data.draw(issuedChallenges())
    raw = b64decode(issued.expected_response_b64)
    altered = data.draw(mutated(raw, maxEdits=3, tokens=(b"\x00", b"\x08" * 8)),
                        label="altered")
    assert response_matches(issued, b64encode(altered).decode()) is (altered == raw)


@fuzzSettings(200)
@given(st.data())
def test_the_answer_to_another_challenge_never_matches(data):
    """Another challenge's right answer, even to the same box, is wrong here."""
    currentKey, issued = data.draw(issuedChallenges())
    other = issue_challenge(currentKey, lambda n: data.draw(st.binary(min_size=n, max_size=n)))
    answer = answer_challenge(currentKey, other.challenge_b64).response_b64
    assert response_matches(issued, answer) is (answer == issued.expected_response_b64)


@fuzzSettings(300)
@given(st.data())
def test_an_altered_challenge_is_refused_or_yields_exactly_the_issued_keys(data):
    """
    The box's side: a damaged C{wtv-challenge} raises only L{ChallengeError}.
    It can still be read when only the unencrypted id changed, or when it
    was cut to the 108-byte form; the keys are then the issued ones.
    """
    currentKey, issued = data.draw(issuedChallenges())
    raw = b64decode(issued.challenge_b64)
    if data.draw(st.booleans(), label="alter the text"):
        altered = data.draw(mutatedText(issued.challenge_b64, maxEdits=3), label="altered")
    else:
        altered = b64encode(data.draw(mutated(raw, maxEdits=3), label="altered")).decode()
    try:
        answered = answer_challenge(currentKey, altered)
    except ChallengeError:
        return
    decoded = meaning(altered)
    assert decoded is not None and decoded[8:ENCRYPTED_END] == raw[8:ENCRYPTED_END]
    assert (answered.key1, answered.key2, answered.new_key) == (
        issued.key1, issued.key2, issued.new_key)
    if decoded[:8] == raw[:8]:
        assert answered.response_b64 == issued.expected_response_b64


@fuzzSettings(200)
@given(DES_KEYS, st.one_of(st.text(max_size=300), RESPONSES.filter(lambda r: r is not None)))
def test_a_random_challenge_raises_only_challenge_errors(currentKey, challenge):
    try:
        answer_challenge(currentKey, challenge)
    except ChallengeError:
        pass


class ClosingBox(TestBox):
    """
    A L{TestBox} that hangs up each connection once it has its answer, and
    leaves alone a challenge it cannot read (the server sends a new one,
    under the key the box had before, after a wrong answer).
    """

    def _learn(self, response) -> None:
        try:
            super()._learn(response)
        except ChallengeError:
            pass

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        service = args[0].partition(":")[0]
        for protocol in list(self.server.factories[service].connections):
            protocol.connectionLost(Failure(ConnectionDone()))
        self._connections.pop(service, None)
        return response


@fuzzSettings(100)
@given(st.data())
def test_the_head_waiter_lets_in_only_the_right_answer(data):
    """
    A new box answers its login challenge with its response damaged: it is
    let in (a ticket comes back) only when what the server read still
    decodes to the right answer, and always when it was not damaged.
    """
    server, _, counter = liveServer()
    box = ClosingBox(server, ssid=ssidNumber(next(counter)))
    box.request("wtv-1800:/preregister?scriptless-visit-reason=10&0")
    login = box.request("wtv-head-waiter:/login?")
    right = box.pendingResponse
    altered = data.draw(st.one_of(st.just(right), mutatedText(right, maxEdits=3),
                                  mutatedText(right, maxEdits=3)), label="response")
    altered = altered.replace("\r", " ").replace("\n", " ")
    answer = box.request(login.get("wtv-visit"), {"wtv-challenge-response": altered})
    read = altered.encode().decode("latin-1").strip()   # as the server decodes the header
    letIn = answer.get("wtv-ticket") is not None
    event("let in" if letIn else f"refused with {answer.status}")
    if letIn:
        assert meaning(read) == b64decode(right), altered
    if altered == right:
        assert letIn, (answer.status, answer.reason)
    else:
        assert letIn or answer.status in (403, 200)
