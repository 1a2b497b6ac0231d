"""What a call-back is about: a callback request, a voicemail that kept the caller's number, or
an appointment with a client phone. Its number, its teams, and the task a placed call-back takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit, crypto
from foundation.models import (
    Appointment,
    CallbackRequest,
    Counsellor,
    OutboundCall,
    TaskStatus,
    Team,
    User,
    Voicemail,
)

Target = CallbackRequest | Voicemail | Appointment


@dataclass(frozen=True, slots=True)
class Kind:
    """What a call-back may be about."""

    model: type[CallbackRequest] | type[Voicemail] | type[Appointment]
    entity: str  # as the audit log names it
    field: str  # the API field that names it
    noun: str  # in (English) error messages


KINDS = {
    "callback": Kind(
        CallbackRequest, "callback_request", "callback_request_id", "callback request"
    ),
    "voicemail": Kind(Voicemail, "voicemail", "voicemail_id", "voicemail"),
    "appointment": Kind(Appointment, "appointment", "appointment_id", "appointment"),
}


def load(session: Session, kind: str, target_id: int, *, lock: bool = False) -> Target | None:
    row = session.get(KINDS[kind].model, target_id, with_for_update=lock)
    assert row is None or isinstance(row, CallbackRequest | Voicemail | Appointment)
    return row


def number(settings: Settings, row: Target) -> str | None:
    """The client's number, decrypted (None: there is none, or retention deleted it)."""
    if isinstance(row, CallbackRequest):
        sealed: bytes | None = row.phone_enc
    elif isinstance(row, Voicemail):
        sealed = row.caller_phone_enc
    else:
        sealed = row.client_phone_enc
    return crypto.box(settings).open(sealed) if sealed is not None else None


def teams(session: Session, row: Target) -> list[Team]:
    """The teams a target belongs to: a task's own; an appointment, its counsellor's."""
    if not isinstance(row, Appointment):
        team = session.get(Team, row.team_id)
        return [team] if team is not None else []
    counsellor = session.get(Counsellor, row.counsellor_id)
    return list(counsellor.teams) if counsellor else []


def take(session: Session, call: OutboundCall) -> None:
    """A task whose call-back was placed is in progress, held by whoever called (through the
    API: the counsellor's account, if she has one); a done task stays done. Audited as a take."""
    row = load(session, call.kind, call.target_id, lock=True)
    if row is None or isinstance(row, Appointment) or row.status is TaskStatus.DONE:
        return
    holder_field = "taken_by_id" if isinstance(row, CallbackRequest) else "handled_by_id"
    before = {"status": row.status.value, "taken_by_id": getattr(row, holder_field)}
    holder = call.user_id or session.scalar(
        select(User.id).where(User.counsellor_id == call.counsellor_id, User.active.is_(True))
    )
    row.status = TaskStatus.IN_PROGRESS
    setattr(row, holder_field, holder or getattr(row, holder_field))
    after = {"status": row.status.value, "taken_by_id": getattr(row, holder_field)}
    if after != before:
        entity = KINDS[call.kind].entity
        after["call_back"] = call.id
        audit.record(session, call.actor, "take", entity, row.id, before=before, after=after)
