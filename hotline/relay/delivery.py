"""Delivery: every message the relay sends is a row first (`queued`, in the transaction that
decided to send it), sent after the webhook has answered, through the provider the webhook hands
in, and its outcome recorded. A row is claimed (`sending`) before it is sent, so it goes out once;
a relay to the primary that certainly failed goes to the backup (`failover`)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import crypto
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    Channel,
    Conversation,
    ConversationMessage,
    Counsellor,
    Direction,
)
from foundation.outgoing import Attempt, Outgoing, Provider, Result, attempt
from hotline.relay import failover
from hotline.relay.parsing import fit
from hotline.relay.states import AUTO, FAILED, QUEUED, SENDING, UNCERTAIN, advance
from hotline.relay.status_callbacks import leg_of, status_callback
from hotline.routing import Rota

log = logging.getLogger(__name__)

RELAY_PURPOSE = "relay"  # to a counsellor
REPLY_PURPOSE = "relay-reply"  # to a client


def queue_reply(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    text: str,
    *,
    counsellor_id: int | None = None,
    user_id: int | None = None,
    received_sid: str | None = None,
    status: str = QUEUED,
    now: datetime,
) -> ConversationMessage:
    """A message to the client, stored to be delivered once the transaction commits (or, as
    `AUTO`, the out-of-hours answer the webhook gives itself)."""
    message = ConversationMessage(
        conversation_id=conversation.id,
        direction=Direction.OUT,
        body_enc=crypto.box(settings).seal(text),
        received_sid=received_sid,
        status=status,
        counsellor_id=counsellor_id,
        user_id=user_id,
        created_at=now,
        sent_at=now if status == AUTO else None,
    )
    session.add(message)
    conversation.last_activity_at = now
    session.flush()
    log.info("conversation %d: message %d to the client (%s)", conversation.id, message.id, status)
    return message


def deliver(
    db: Database, settings: Settings, provider: Provider, rota: Rota, message_ids: list[int]
) -> None:
    """Send the queued rows through `provider` (after the webhook answered); a relay to the
    primary that fails goes to a backup `rota` names. Never raises: outcomes are recorded,
    failures logged without numbers or bodies."""
    for message_id in message_ids:
        try:
            while _send_once(db, settings, provider, rota, message_id):
                pass  # failed over: once more, to the backup
        except Exception as exc:
            log.error("message %d: delivery broke off (%s)", message_id, type(exc).__name__)


def _send_once(
    db: Database, settings: Settings, provider: Provider, rota: Rota, message_id: int
) -> bool:
    """One send; True if the row failed over and must be sent again."""
    with db.write() as session:
        claimed = _claim(session, settings, message_id)
    if claimed is None:
        return False
    leg, outgoing = claimed
    tried = attempt(provider, outgoing, f"message {message_id}")
    with db.write() as session:
        return _record(session, settings, rota, message_id, leg, tried, utcnow())


def _claim(session: Session, settings: Settings, message_id: int) -> tuple[str, Outgoing] | None:
    """A queued row becomes `sending` (so it is sent once), rendered into the message."""
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or row.status != QUEUED:
        return None
    conversation = session.get(Conversation, row.conversation_id)
    line = settings.config.lines.get(conversation.line) if conversation else None
    leg = leg_of(row)
    if conversation is None or line is None or row.body_enc is None or leg is None:
        row.status = FAILED
        return None
    box = crypto.box(settings)
    callback = status_callback(settings, row.id, leg)
    if row.direction is Direction.IN:
        counsellor = session.get(Counsellor, row.counsellor_id) if row.counsellor_id else None
        if counsellor is None:
            row.status = FAILED
            return None
        outgoing = Outgoing(
            channel=Channel.SMS,
            to=counsellor.phone,
            body=fit(f"[{conversation.code}] {box.open(row.body_enc)}"),
            purpose=RELAY_PURPOSE,
            from_number=line.number,
            status_callback=callback,
        )
    else:
        if conversation.client_enc is None:
            row.status = FAILED
            return None
        outgoing = Outgoing(
            channel=conversation.channel,
            to=box.open(conversation.client_enc),
            body=fit(box.open(row.body_enc)),
            purpose=REPLY_PURPOSE,
            from_number=line.number,
            status_callback=callback,
        )
    row.status = SENDING
    return leg, outgoing


def _record(
    session: Session,
    settings: Settings,
    rota: Rota,
    message_id: int,
    leg: str,
    tried: Attempt,
    now: datetime,
) -> bool:
    """How the send went, onto the row; True if it failed over and must be sent again."""
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or leg_of(row) != leg:
        return False  # failed over meanwhile (a status callback was quicker): this leg is history
    if tried.sid:
        row.provider_sid = row.provider_sid or tried.sid
        row.sent_at = now
    if tried.result is Result.FAILED:
        return failover.not_arrived(session, settings, rota, row, FAILED, now)
    if tried.result is Result.UNCERTAIN and row.status == SENDING:
        row.status = UNCERTAIN
    advance(row, tried.result.value)
    return False
