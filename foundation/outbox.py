"""The outbox: messages written in the transaction that decided to send them, delivered after
it commits (through a `foundation.outgoing.Provider`), and the record of what went out. In
simulation mode nothing is delivered: the rows are what the web page shows instead.

Addressee and body are stored encrypted; logs name a message by id and purpose only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import crypto
from foundation.db import Database
from foundation.models import Channel, OutboxMessage
from foundation.outgoing import Outgoing, Provider, attempt

log = logging.getLogger(__name__)

QUEUED, SENDING, SENT, FAILED, UNCERTAIN, SIMULATED = (
    "queued",
    "sending",
    "sent",  # the three outcomes of one try: `foundation.outgoing.Result`
    "failed",
    "uncertain",
    "simulated",
)


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


def queue(
    session: Session,
    settings: Settings,
    *,
    to: str,
    body: str,
    from_number: str,
    purpose: str,
    channel: Channel = Channel.SMS,
) -> int:
    """Store a message to send; returns its id for `deliver` (after the transaction commits)."""
    box = crypto.box(settings)
    message = OutboxMessage(
        channel=Channel(channel).value,
        purpose=purpose,
        from_number=from_number,
        to_enc=box.seal(to),
        body_enc=box.seal(body),
        simulated=settings.simulation,
        status=SIMULATED if settings.simulation else QUEUED,
    )
    session.add(message)
    session.flush()
    return message.id


def deliver(db: Database, settings: Settings, provider: Provider, message_id: int) -> None:
    """Send one queued message through `provider`, once. Never raises: the outcome is recorded
    (`sent`, `failed` when it certainly did not go out, `uncertain` when it may have) and a
    failure logged by id and purpose."""
    if provider.simulated:
        return  # the row is the simulated message
    with db.write() as session:
        row = session.get(OutboxMessage, message_id, with_for_update=True)
        if row is None or row.status != QUEUED:
            return  # already sent (or being sent) by someone else
        row.status = SENDING
        box = crypto.box(settings)
        message = Outgoing(
            channel=Channel(row.channel),
            to=box.open(row.to_enc),
            body=box.open(row.body_enc),
            purpose=row.purpose,
            from_number=row.from_number,
        )
    tried = attempt(provider, message, f"message {message_id}")
    with db.write() as session:
        stored = session.get(OutboxMessage, message_id)
        if stored is not None:
            stored.status = tried.result.value
            stored.provider_sid = tried.sid


def deliver_all(db: Database, settings: Settings, provider: Provider, ids: list[int]) -> None:
    for message_id in ids:
        deliver(db, settings, provider, message_id)


def purge(session: Session, before: datetime) -> int:
    """The retention: what was sent (or simulated) before `before` is forgotten here too (the
    retention of Twilio's copies deletes it there: `[retention] twilio_days`)."""
    gone = session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.created_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(gone, "rowcount", 0) or 0)


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
