"""Failover: a relay to the primary that did not arrive (refused, `failed`, `undelivered`) goes
to the backup, once. The row remembers that it failed over, under its row lock, so the REST
answer and a status callback that report the same failure fail it over only once."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import Conversation, ConversationMessage, Direction, Tier
from hotline import routing
from hotline.relay.states import QUEUED, advance
from hotline.routing import Rota

log = logging.getLogger(__name__)


def not_arrived(
    session: Session,
    settings: Settings,
    rota: Rota,
    row: ConversationMessage,
    status: str,
    now: datetime,
) -> bool:
    """The row's message did not arrive (`status`: failed or undelivered). A relay to the
    primary goes to the backup, once; True if it is queued again."""
    if not advance(row, status):
        return False
    if row.direction is not Direction.IN or row.tier is not Tier.PRIMARY:
        log.warning("message %d: %s", row.id, status)
        return False
    if row.failed_over_at is not None:
        return False
    row.failed_over_at = now
    conversation = session.get(Conversation, row.conversation_id)
    line = settings.config.lines.get(conversation.line) if conversation else None
    backup = None
    if line is not None:
        backup = routing.first_reachable(
            rota(session, line.team, now),
            tiers=(Tier.BACKUP,),
            exclude={row.counsellor_id} if row.counsellor_id else (),
        )
    if conversation is None or backup is None:
        log.warning("message %d: relay to the primary %s; no backup to relay to", row.id, status)
        return False
    row.counsellor_id, row.tier, row.status = backup.counsellor_id, Tier.BACKUP, QUEUED
    row.provider_sid, row.sent_at = None, None
    conversation.last_counsellor_id = backup.counsellor_id
    log.info("message %d: relay to the primary %s; relaying to the backup", row.id, status)
    return True
