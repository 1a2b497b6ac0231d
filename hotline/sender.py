"""Send one message now, and say exactly what is known about whether it went out.

Used by the scheduler (`scheduling.dispatch`), which must never send a message twice: so every
failure is sorted into "certainly not sent" (`NotSent`, safe to retry or give up) and "may have
been sent" (`MaybeSent`, a person decides). Without Twilio credentials (simulation mode) the
message goes to the outbox instead and is shown in the web page.

Logs name a message by purpose only: never the addressee or the body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from config.settings import Settings
from foundation.db import Database
from hotline import outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send. `from_number` is a line's (or the organisation's) number for SMS and
    WhatsApp; `subject` is used by e-mail; `status_callback` is the URL Twilio tells how the
    delivery went (SMS and WhatsApp)."""

    channel: str  # sms, whatsapp, email
    to: str
    body: str
    purpose: str
    from_number: str = ""
    subject: str = ""
    status_callback: str = ""


class NotSent(Exception):
    """Certainly not sent. `retry`: a later attempt may succeed (network, rate limit)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class MaybeSent(Exception):
    """The provider may or may not have accepted it: never resent automatically."""


def send(db: Database, settings: Settings, message: Outgoing) -> str:
    """Send `message`; return the provider's id for it. Raises NotSent or MaybeSent."""
    if message.channel == "email":
        from hotline import mail

        return mail.send(db, settings, message)
    if settings.simulation:
        return _simulated(db, settings, message)
    return _twilio(settings, message)


def _simulated(db: Database, settings: Settings, message: Outgoing) -> str:
    """Simulation mode: into the outbox (shown in the web page); the id starts with SIM."""
    with db.write() as session:
        message_id = outbox.queue(
            session,
            settings,
            to=message.to,
            body=message.body,
            from_number=message.from_number,
            purpose=message.purpose,
            channel=message.channel,
        )
    return f"SIM{message_id:030d}"


def _twilio(settings: Settings, message: Outgoing) -> str:
    prefix = "whatsapp:" if message.channel == "whatsapp" else ""
    callback = {"status_callback": message.status_callback} if message.status_callback else {}
    return _rest(
        settings,
        message.purpose,
        lambda client: client.messages.create(
            to=prefix + message.to,
            from_=prefix + message.from_number,
            body=message.body,
            **callback,
        ),
    )


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A call for Twilio to place (REST `Calls.create`): it rings `to` from `from_number` and
    fetches its TwiML from `url`. `description` is what the outbox shows in simulation mode."""

    to: str
    from_number: str
    url: str
    status_callback: str
    purpose: str
    description: str
    timeout: int = 30  # seconds to ring


def call(db: Database, settings: Settings, outgoing: OutgoingCall) -> str:
    """Place `outgoing`; return Twilio's CallSid (in simulation mode the call goes to the
    outbox, and the id starts with SIM). Raises NotSent or MaybeSent, as `send` does."""
    if settings.simulation:
        shown = Outgoing(
            "call", outgoing.to, outgoing.description, outgoing.purpose, outgoing.from_number
        )
        return _simulated(db, settings, shown)
    return _rest(
        settings,
        outgoing.purpose,
        lambda client: client.calls.create(
            to=outgoing.to,
            from_=outgoing.from_number,
            url=outgoing.url,
            method="POST",
            status_callback=outgoing.status_callback,
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=outgoing.timeout,
        ),
    )


def _rest(settings: Settings, purpose: str, create: Callable[[Client], Any]) -> str:
    """One REST `create`; its failure sorted into NotSent or MaybeSent. Returns the new SID."""
    try:
        created = create(outbox.twilio_client(settings))
    except TwilioRestException as exc:
        # Twilio answered: a 4xx means it refused; a 5xx may hide an accepted request.
        if exc.status >= 500:
            raise MaybeSent(f"Twilio answered {exc.status}") from exc
        retry = exc.status == 429
        raise NotSent(f"Twilio refused it ({exc.status}, code {exc.code})", retry=retry) from exc
    except requests.exceptions.RequestException as exc:
        if _never_connected(exc):
            raise NotSent(f"cannot reach Twilio ({type(exc).__name__})", retry=True) from exc
        raise MaybeSent(f"no answer from Twilio ({type(exc).__name__})") from exc
    except (TwilioException, OSError) as exc:
        raise MaybeSent(f"sending failed midway ({type(exc).__name__})") from exc
    log.info("%s sent", purpose)
    return str(created.sid)


def _never_connected(exc: requests.exceptions.RequestException) -> bool:
    """True when the request cannot have reached Twilio: no connection was ever made.
    (A read timeout or a connection dropped mid-answer may hide a sent message.)"""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)  # incl. name resolution
