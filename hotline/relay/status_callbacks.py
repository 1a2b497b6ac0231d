"""Twilio's status callbacks for relayed messages. The URL each message names carries the row and
the leg it was sent on (primary, backup, client), so a callback that repeats, comes late or
overtakes the REST answer is matched to the right send, and one for a leg that has since failed
over changes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.models import ConversationMessage, Direction
from hotline.relay import failover
from hotline.relay.states import (
    DELIVERED,
    FAILED,
    QUEUED,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
    advance,
)
from hotline.routing import Rota

STATUS_PATH = "/twilio/sms/status"
CLIENT_LEG = "client"

_TWILIO_STATES = {
    "accepted": QUEUED,
    "scheduled": QUEUED,
    "queued": QUEUED,
    "sending": SENDING,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "failed": FAILED,
    "undelivered": UNDELIVERED,
    "canceled": FAILED,
}


def status_callback(settings: Settings, message_id: int, leg: str) -> str:
    """The status callback URL of one send of a row."""
    return f"{settings.public_url}{STATUS_PATH}?{urlencode({'m': message_id, 'leg': leg})}"


def leg_of(row: ConversationMessage) -> str | None:
    """The leg the row is sent on now: the client, or the tier of the counsellor it relays to."""
    if row.direction is Direction.OUT:
        return CLIENT_LEG
    return row.tier.value if row.tier is not None else None


def status_update(
    session: Session,
    settings: Settings,
    rota: Rota,
    message_id: int,
    leg: str,
    twilio_status: str,
) -> list[int]:
    """A status callback for the `leg` of a row; returns the rows to deliver again (a relay
    that failed over to the backup). Repeated and late status callbacks change nothing."""
    status = _TWILIO_STATES.get(twilio_status)
    if status is None:
        return []
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or leg_of(row) != leg:
        return []
    if status in (FAILED, UNDELIVERED):
        again = failover.not_arrived(session, settings, rota, row, status, utcnow())
        return [row.id] if again else []
    advance(row, status)
    return []
