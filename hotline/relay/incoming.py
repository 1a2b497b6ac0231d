"""A message to a line as the webhook hands it in, what the webhook answers, and who sent it
(a counsellor of the line's team replies, anyone else is a client)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import ConversationMessage, Counsellor, TeamMembership
from foundation.teams import team_by_slug
from hotline.relay.parsing import client_address


@dataclass(frozen=True, slots=True)
class Incoming:
    """An incoming message as Twilio posted it (`line`: the slug its `To` names)."""

    line: str
    sender: str
    body: str
    message_sid: str = ""
    media: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """What the webhook answers (a TwiML <Message> to the sender, or nothing) and the message
    rows to deliver once the transaction has committed."""

    text: str | None = None
    deliver: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)  # notices to counsellors (`foundation.outbox`)


def staff_sender(session: Session, settings: Settings, line: str, sender: str) -> Counsellor | None:
    """The active counsellor of the line's team who sent this, or None (a client)."""
    _, address = client_address(sender)
    team = team_by_slug(session, settings.config.lines[line].team, settings.config)
    return session.scalars(
        select(Counsellor)
        .join(TeamMembership, TeamMembership.counsellor_id == Counsellor.id)
        .where(
            TeamMembership.team_id == team.id,
            Counsellor.phone == address,
            Counsellor.active.is_(True),
        )
        .order_by(Counsellor.id)
        .limit(1)
    ).first()


def seen(session: Session, message_sid: str) -> bool:
    """The same message delivered again (Twilio's id is stored with every incoming one)."""
    if not message_sid:
        return False
    found = session.scalar(
        select(ConversationMessage.id).where(ConversationMessage.received_sid == message_sid)
    )
    return found is not None
