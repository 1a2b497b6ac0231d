"""One try through the provider interface (`foundation.outgoing.attempt`): what is known
afterwards, and a log line that names the message by id and purpose, never its number."""

from __future__ import annotations

import pytest

from foundation.outgoing import (
    Attempt,
    Channel,
    MaybeSent,
    NotSent,
    Outgoing,
    OutgoingCall,
    Result,
    attempt,
)
from tests.fakes import RecordingProvider

NUMBER = "+4915112345678"
MESSAGE = Outgoing(Channel.SMS, NUMBER, "Streng vertraulich", "relay", from_number="+4971100")
CALL = OutgoingCall(NUMBER, "+4971100", "https://x/answer", "https://x/status", "call-back", "")


def test_a_message_that_went_out_has_the_providers_id() -> None:
    provider = RecordingProvider()
    assert attempt(provider, MESSAGE, "message 1") == Attempt(Result.SENT, "ID1")
    assert provider.messages == [MESSAGE]


def test_a_call_is_placed_rather_than_sent() -> None:
    provider = RecordingProvider()
    tried = attempt(provider, CALL, "call-back 1")
    assert (tried.result, tried.sid) == (Result.SENT, "CA" + "0" * 31 + "1")
    assert (provider.calls, provider.messages) == ([CALL], [])


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NotSent("refused", retry=False), Attempt(Result.FAILED, reason="refused")),
        (MaybeSent("timed out"), Attempt(Result.UNCERTAIN, reason="timed out")),
        (KeyError(NUMBER), Attempt(Result.UNCERTAIN, reason="KeyError", bug=True)),
    ],
)
def test_a_failure_is_classified_and_logged_by_id_and_purpose(
    failure: Exception, expected: Attempt, caplog: pytest.LogCaptureFixture
) -> None:
    provider = RecordingProvider(outcomes=[failure])
    with caplog.at_level("DEBUG"):
        assert attempt(provider, MESSAGE, "message 7") == expected
    assert "message 7 (relay)" in caplog.text
    assert NUMBER[3:] not in caplog.text  # a bug's text is not logged: it may quote a number
    assert "vertraulich" not in caplog.text


def test_the_results_are_the_stored_state_words() -> None:
    assert [result.value for result in Result] == ["sent", "failed", "uncertain"]
