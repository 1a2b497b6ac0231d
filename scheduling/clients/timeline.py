"""A client's timeline: everything linked to it, in time order (UTC instants, so the order holds
across the change of the clocks): appointments with their status, text conversations, callback
requests and voicemails (the tasks), call-backs through the line. Ids, times and states only:
what a contact holds is on its own page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from foundation.models import (
    Appointment,
    CallbackRequest,
    Conversation,
    Counsellor,
    OutboundCall,
    Voicemail,
)

LIMIT = 500  # entries of one kind at most (the newest)


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    kind: str  # appointment, conversation, callback_request, voicemail, outbound_call
    record_id: int
    status: str  # the appointment's, task's or call's status; the conversation's state
    channel: str  # phone, in_person, video (appointments); sms, whatsapp; web; voice; call
    line: str | None = None
    counsellor: str | None = None
    end: datetime | None = None  # an appointment's end


def entries(session: Session, client_id: int) -> list[Entry]:
    """Everything linked to the client, oldest first."""
    found: list[Entry] = []
    appointments = session.scalars(
        select(Appointment)
        .where(Appointment.client_id == client_id)
        .order_by(Appointment.start_at.desc())
        .limit(LIMIT)
    ).all()
    calls = session.scalars(
        select(OutboundCall)
        .where(OutboundCall.client_id == client_id)
        .order_by(OutboundCall.created_at.desc())
        .limit(LIMIT)
    ).all()
    people = {a.counsellor_id for a in appointments} | {c.counsellor_id for c in calls}
    names: dict[int, str] = {}
    if people:
        query = select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(people))
        names = {row[0]: row[1] for row in session.execute(query)}
    for a in appointments:
        found.append(
            Entry(
                a.start_at,
                "appointment",
                a.id,
                a.status.value,
                a.mode.value,
                counsellor=names.get(a.counsellor_id),
                end=a.end_at,
            )
        )
    for c in calls:
        found.append(
            Entry(
                c.created_at,
                "outbound_call",
                c.id,
                c.status,
                "call",
                line=c.line,
                counsellor=names.get(c.counsellor_id),
            )
        )
    for conversation in session.scalars(
        select(Conversation)
        .where(Conversation.client_id == client_id)
        .order_by(Conversation.created_at.desc())
        .limit(LIMIT)
    ):
        found.append(
            Entry(
                conversation.created_at,
                "conversation",
                conversation.id,
                conversation.state.value,
                conversation.channel.value,
                line=conversation.line,
            )
        )
    for request in session.scalars(
        select(CallbackRequest)
        .where(CallbackRequest.client_id == client_id)
        .order_by(CallbackRequest.created_at.desc())
        .limit(LIMIT)
    ):
        found.append(
            Entry(
                request.created_at,
                "callback_request",
                request.id,
                request.status.value,
                "web",
                line=request.line,
            )
        )
    for voicemail in session.scalars(
        select(Voicemail)
        .where(Voicemail.client_id == client_id)
        .order_by(Voicemail.created_at.desc())
        .limit(LIMIT)
    ):
        found.append(
            Entry(
                voicemail.created_at,
                "voicemail",
                voicemail.id,
                voicemail.status.value,
                "voice",
                line=voicemail.line,
            )
        )
    return sorted(found, key=lambda e: (e.at, e.kind, e.record_id))
