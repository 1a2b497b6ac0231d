"""Outgoing messages: stored encrypted first, then delivered through Twilio (or, in simulation
mode, kept in the outbox for the web page). Logs name a message by id and purpose only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from config.settings import Settings
from foundation import crypto
from foundation.db import Database
from foundation.models import OutboxMessage

log = logging.getLogger(__name__)
REST_TIMEOUT = 10  # seconds


@dataclass(frozen=True, slots=True)
class Plain:
    """An outbox message decrypted, for the web page and tests."""

    id: int
    channel: str
    purpose: str
    from_number: str
    to: str
    body: str
    status: str


def twilio_client(settings: Settings) -> Client:
    client = Client(
        settings.twilio_account_sid,
        str(settings.twilio_auth_token),
        http_client=TwilioHttpClient(timeout=REST_TIMEOUT),
    )
    if settings.twilio_api_url:
        client.api.base_url = settings.twilio_api_url.rstrip("/")
    return client


def delete_at_twilio(settings: Settings, what: str, resource: Callable[[Client], Any]) -> bool:
    """Delete one resource at Twilio (`resource` names it, e.g. `lambda c: c.messages(sid)`);
    one that is already gone (404) counts as deleted. False when Twilio could not be asked or
    refused: try again later. Logs `what` and the reason only."""
    try:
        resource(twilio_client(settings)).delete()
    except TwilioRestException as exc:
        if exc.status == 404:
            return True
        log.warning("%s not deleted: Twilio answered %s", what, exc.status)
        return False
    except (TwilioException, OSError) as exc:
        log.warning("%s not deleted: %s", what, type(exc).__name__)
        return False
    return True


def queue(
    session: Session,
    settings: Settings,
    *,
    to: str,
    body: str,
    from_number: str,
    purpose: str,
    channel: str = "sms",
) -> int:
    """Store a message to send; returns its id for `deliver` (after the transaction commits)."""
    box = crypto.box(settings)
    message = OutboxMessage(
        channel=channel,
        purpose=purpose,
        from_number=from_number,
        to_enc=box.seal(to),
        body_enc=box.seal(body),
        simulated=settings.simulation,
        status="simulated" if settings.simulation else "queued",
    )
    session.add(message)
    session.flush()
    return message.id


def deliver(db: Database, settings: Settings, message_id: int) -> None:
    """Send one queued message through Twilio. Never raises: a failure is recorded and logged."""
    if settings.simulation:
        return
    with db.write() as session:
        message = session.get(OutboxMessage, message_id, with_for_update=True)
        if message is None or message.status != "queued":
            return  # already sent (or being sent) by someone else
        message.status = "sending"
        box = crypto.box(settings)
        to, body, from_number = (
            box.open(message.to_enc),
            box.open(message.body_enc),
            message.from_number,
        )
    prefix = "whatsapp:" if message.channel == "whatsapp" else ""
    try:
        sent = twilio_client(settings).messages.create(
            to=prefix + to, from_=prefix + from_number, body=body
        )
    except (TwilioException, OSError) as exc:
        log.warning("message %d (%s) not sent: %s", message_id, message.purpose, type(exc).__name__)
        status, sid = "failed", None
    else:
        log.info("message %d (%s) sent", message_id, message.purpose)
        status, sid = "sent", sent.sid
    with db.write() as session:
        stored = session.get(OutboxMessage, message_id)
        if stored is not None:
            stored.status = status
            stored.provider_sid = sid


def recent(session: Session, settings: Settings, limit: int = 50) -> list[Plain]:
    box = crypto.box(settings)
    rows = session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    ).all()
    return [
        Plain(
            id=row.id,
            channel=row.channel,
            purpose=row.purpose,
            from_number=row.from_number,
            to=box.open(row.to_enc),
            body=box.open(row.body_enc),
            status=row.status,
        )
        for row in rows
    ]
