"""The way out: one interface for every message and call the service sends.

A `Provider` sends an `Outgoing` message (SMS, WhatsApp, e-mail) or places an `OutgoingCall`,
and says exactly what is known when that fails: `NotSent` (certainly not sent: safe to retry
or give up) or `MaybeSent` (it may have gone out: never resent automatically, a person
decides). The scheduler relies on that to send nothing twice. `attempt` is that
classification for a sender that tries once (the outbox, the text relay, a call-back); the
dispatch engine (`scheduling.dispatch`) has its own, with retries.

The implementations live with the telephony (`hotline.providers`: Twilio, SMTP, the simulated
outbox); the code that composes the service hands one to whoever sends (the scheduler's jobs,
the webhooks). Tests use `tests.fakes.RecordingProvider`, which records what it was asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from foundation.models import Channel, Counsellor

__all__ = [
    "Attempt",
    "Channel",
    "MaybeSent",
    "NotSent",
    "Outgoing",
    "OutgoingCall",
    "Provider",
    "Result",
    "attempt",
    "channels",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send. `from_number` is a line's (or the organisation's) number for SMS and
    WhatsApp; `subject` is used by e-mail; `status_callback` is the URL Twilio tells how the
    delivery went (SMS and WhatsApp)."""

    channel: Channel
    to: str
    body: str
    purpose: str
    from_number: str = ""
    subject: str = ""
    status_callback: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A call for the provider to place: it rings `to` from `from_number` and fetches its
    TwiML from `url`. `description` is what the outbox shows in simulation mode."""

    to: str
    from_number: str
    url: str
    status_callback: str
    purpose: str
    description: str
    timeout: int = 30  # seconds to ring


class NotSent(Exception):
    """Certainly not sent. `retry`: a later attempt may succeed (network, rate limit)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class MaybeSent(Exception):
    """The provider may or may not have accepted it: never resent automatically."""


class Provider(Protocol):
    """Sends messages and places calls. Both return the provider's id of what it sent and
    raise `NotSent` or `MaybeSent`; nothing else escapes but bugs."""

    @property
    def simulated(self) -> bool:
        """True when nothing leaves the machine (simulation mode: the outbox)."""
        ...

    def send(self, message: Outgoing) -> str: ...

    def call(self, call: OutgoingCall) -> str: ...


class Result(StrEnum):
    """What is known after one try (the values are the state words the outbox and the relay
    store)."""

    SENT = "sent"
    FAILED = "failed"  # certainly not sent (`NotSent`)
    UNCERTAIN = "uncertain"  # it may have gone out (`MaybeSent`, or a bug): never resent


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one try went: the provider's id (when it answered with one), the result, and why it
    failed (the provider's reason; for a bug only its type, whose text may quote a number)."""

    result: Result
    sid: str | None = None
    reason: str = ""
    bug: bool = False  # neither NotSent nor MaybeSent: our code (or a simulated outbox) broke


def attempt(provider: Provider, message: Outgoing | OutgoingCall, what: str) -> Attempt:
    """Send `message` (or place the call) through `provider` once and classify the outcome:
    NotSent → FAILED, MaybeSent or a bug → UNCERTAIN. Never raises; a failure is logged as
    `what` (e.g. "message 12": an id, never a number or body) and the message's purpose."""
    try:
        if isinstance(message, OutgoingCall):
            return Attempt(Result.SENT, provider.call(message))
        return Attempt(Result.SENT, provider.send(message))
    except NotSent as exc:
        log.warning("%s (%s) not sent: %s", what, message.purpose, exc)
        return Attempt(Result.FAILED, reason=str(exc))
    except MaybeSent as exc:
        log.error("%s (%s) may not have been sent: %s", what, message.purpose, exc)
        return Attempt(Result.UNCERTAIN, reason=str(exc))
    except Exception as exc:
        reason = type(exc).__name__
        log.error("%s (%s) failed: %s", what, message.purpose, reason)
        return Attempt(Result.UNCERTAIN, reason=reason, bug=True)


def channels(person: Counsellor) -> list[Channel]:
    """How a counsellor wants to be told (shift notices, swaps): SMS only with a phone number,
    e-mail only with an address, each only if she ticked it."""
    found = [Channel.SMS] if person.notify_sms and person.phone else []
    if person.notify_email and person.email:
        found.append(Channel.EMAIL)
    return found
