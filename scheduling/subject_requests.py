"""A client's data-subject requests, made by the team's staff on the client's behalf
(docs/retention.md#data-subject-requests): everything held about the client, to hand over
(Art. 15 GDPR: `export`), and erasing the client now (Art. 17: `erase`, with the completeness of
the retention, `scheduling.erasure`).

Who may: the team's staff and API keys whose scope covers the team (`foundation.access`
`may_see_client` to export, `may_change_client` to erase); an admin as such sees no client, and
"not yours" is the same NotFound as "does not exist". An export is a reading: it is in the
access log (kind `client_export`, and every record it showed), an erasure a change: it is in the
audit log (by id and count, never the content).

The export holds what the service holds: the record, the plan with its notes, the appointments
(with their reminders), the text conversations with every message still stored, voicemails,
callback requests and call-backs through the line, in the organisation's time zone. Not in it:
the counsellors' own data (their numbers), and recordings' audio (it stays at Twilio: the
export says whether one is there; staff play it on the voicemail's page).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import access_log, crypto
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.errors import Invalid, NotFound
from foundation.i18n import N_
from foundation.models import (
    Appointment,
    CallbackRequest,
    Client,
    Conversation,
    ConversationMessage,
    Counsellor,
    OutboundCall,
    Reminder,
    Team,
    Voicemail,
)
from scheduling import erasure
from scheduling.clients import plan, records

FORMAT = 1  # the export's format version (`"format"`)
EXPORT_KIND = "client_export"  # the access log's kind of an export


def _at(value: datetime | None, settings: Settings) -> str | None:
    """An instant as ISO 8601 with the organisation's offset."""
    if value is None:
        return None
    return value.astimezone(settings.config.organisation.zone).isoformat()


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(ids))
    return {int(row_id): str(name) for row_id, name in session.execute(query)}


def collect(session: Session, settings: Settings, client: Client) -> dict[str, Any]:
    """Everything held about the client, decrypted: a document of plain JSON values."""
    box = crypto.box(settings)

    def opened(value: bytes | None) -> str | None:
        return box.open(value) if value is not None else None

    team = session.get(Team, client.team_id)
    booked = list(
        session.scalars(
            select(Appointment)
            .where(Appointment.client_id == client.id)
            .order_by(Appointment.start_at, Appointment.id)
        )
    )
    talks = list(
        session.scalars(
            select(Conversation)
            .where(Conversation.client_id == client.id)
            .order_by(Conversation.created_at, Conversation.id)
        )
    )
    voicemails = list(
        session.scalars(
            select(Voicemail)
            .where(Voicemail.client_id == client.id)
            .order_by(Voicemail.created_at, Voicemail.id)
        )
    )
    requests = list(
        session.scalars(
            select(CallbackRequest)
            .where(CallbackRequest.client_id == client.id)
            .order_by(CallbackRequest.created_at, CallbackRequest.id)
        )
    )
    call_backs = list(
        session.scalars(
            select(OutboundCall)
            .where(OutboundCall.client_id == client.id)
            .order_by(OutboundCall.created_at, OutboundCall.id)
        )
    )
    people = {a.counsellor_id for a in booked} | {c.counsellor_id for c in call_backs}
    names = _names(session, people)
    reminders: dict[int, list[Reminder]] = {}
    ids = [a.id for a in booked]
    if ids:
        for reminder in session.scalars(
            select(Reminder)
            .where(Reminder.appointment_id.in_(ids))
            .order_by(Reminder.due_at, Reminder.id)
        ):
            reminders.setdefault(reminder.appointment_id, []).append(reminder)
    messages: dict[int, list[ConversationMessage]] = {}
    conversation_ids = [c.id for c in talks]
    if conversation_ids:
        for message in session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id.in_(conversation_ids))
            .order_by(ConversationMessage.created_at, ConversationMessage.id)
        ):
            messages.setdefault(message.conversation_id, []).append(message)
    return {
        "format": FORMAT,
        "client": {
            "id": client.id,
            "team": team.slug if team else None,
            "pseudonym": client.pseudonym,
            "phone": opened(client.phone_enc),
            "sms_consent": client.sms_consent,
            "preferred_channel": (
                client.preferred_channel.value if client.preferred_channel else None
            ),
            "relative": client.relative,
            "language": client.language,
            "status": client.status.value,
            "status_changed_at": _at(client.status_changed_at, settings),
            "started_at": _at(client.started_at, settings),
            "paused_at": _at(client.paused_at, settings),
            "ended_at": _at(client.ended_at, settings),
            "review_on": _day(client.review_on),
            "created_at": _at(client.created_at, settings),
            "counsellors": [c.name for c in client.counsellors],
        },
        "plan": {
            "steps": [
                {
                    "id": step.id,
                    "title": step.title,
                    "notes": step.notes,
                    "status": step.status.value,
                    "status_changed_at": _at(step.status_changed_at, settings),
                }
                for step in plan.steps(session, settings, client.id)
            ],
            "notes": [
                {
                    "id": note.id,
                    "text": note.text,
                    "author": note.author,
                    "at": _at(note.at, settings),
                    "step_id": note.step_id,
                    "appointment_id": note.appointment_id,
                }
                for note in reversed(plan.notes(session, settings, client.id))
            ],
        },
        "appointments": [
            {
                "id": a.id,
                "start": _at(a.start_at, settings),
                "end": _at(a.end_at, settings),
                "mode": a.mode.value,
                "status": a.status.value,
                "counsellor": names.get(a.counsellor_id),
                "location": a.location,
                "video_link": a.video_link,
                "phone": opened(a.client_phone_enc),
                "sms_consent": a.sms_consent,
                "reminders": [
                    {
                        "to": reminder.recipient.value,
                        "due": _at(reminder.due_at, settings),
                        "state": reminder.state.value,
                        "sent_at": _at(reminder.sent_at, settings),
                    }
                    for reminder in reminders.get(a.id, [])
                ],
            }
            for a in booked
        ],
        "conversations": [
            {
                "id": c.id,
                "code": c.code,
                "channel": c.channel.value,
                "line": c.line,
                "state": c.state.value,
                "address": opened(c.client_enc),
                "created_at": _at(c.created_at, settings),
                "closed_at": _at(c.closed_at, settings),
                "messages": [
                    {
                        "direction": m.direction.value,
                        "at": _at(m.created_at, settings),
                        "status": m.status,
                        "body": opened(m.body_enc),
                    }
                    for m in messages.get(c.id, [])
                ],
            }
            for c in talks
        ],
        "voicemails": [
            {
                "id": v.id,
                "line": v.line,
                "at": _at(v.created_at, settings),
                "duration_seconds": v.duration_seconds,
                "status": v.status.value,
                "done_at": _at(v.done_at, settings),
                "recording": "deleted" if v.recording_deleted_at is not None else "at_twilio",
                "caller_phone": opened(v.caller_phone_enc),
            }
            for v in voicemails
        ],
        "callback_requests": [
            {
                "id": c.id,
                "line": c.line,
                "at": _at(c.created_at, settings),
                "name": opened(c.name_enc),
                "phone": opened(c.phone_enc),
                "time_window": c.time_window,
                "preferred_date": _day(c.preferred_date),
                "message": opened(c.message_enc),
                "confirm_sms": c.confirm_sms,
                "status": c.status.value,
                "done_at": _at(c.done_at, settings),
            }
            for c in requests
        ],
        "call_backs": [
            {
                "id": c.id,
                "line": c.line,
                "at": _at(c.created_at, settings),
                "counsellor": names.get(c.counsellor_id),
                "status": c.status,
                "client_status": c.client_status,
            }
            for c in call_backs
        ],
    }


@dataclass(frozen=True, slots=True)
class Export:
    """The export's document, and the records it shows by kind (for the access log)."""

    document: dict[str, Any]
    shown: dict[str, list[int]]


def export(
    session: Session,
    settings: Settings,
    client_id: int,
    *,
    by: Principal,
    now: datetime | None = None,
) -> Export:
    """Everything held about the client (see the module), with the moment of the export;
    NotFound for a client `by` may not see. Reads only: `log_export` records it."""
    client = records.visible(session, client_id, by)
    document: dict[str, Any] = {
        "exported_at": _at(now or utcnow(), settings),
        **collect(session, settings, client),
    }
    shown = {
        EXPORT_KIND: [client.id],
        "client": [client.id],
        "appointment": [a["id"] for a in document["appointments"]],
        "conversation": [c["id"] for c in document["conversations"]],
        "voicemail": [v["id"] for v in document["voicemails"]],
        "callback_request": [c["id"] for c in document["callback_requests"]],
        "outbound_call": [c["id"] for c in document["call_backs"]],
    }
    return Export(document, shown)


def log_export(session: Session, by: Principal, done: Export, now: datetime | None = None) -> None:
    """The export in the access log: an entry `client_export` for the client, and one for each
    record it showed, as for any opening (no content)."""
    for kind, ids in done.shown.items():
        access_log.opened(session, by, kind, ids, now)


def same_typed(typed: str, pseudonym: str) -> bool:
    """The confirmation is the pseudonym as shown: white space collapsed, and composed (NFC)
    on both sides, as a keyboard may type "Ä" decomposed; case and the rest exactly."""
    return unicodedata.normalize("NFC", " ".join(typed.split())) == unicodedata.normalize(
        "NFC", pseudonym
    )


def erase(
    session: Session,
    settings: Settings,
    client_id: int,
    *,
    by: Principal,
    confirm: str | None = None,
    now: datetime | None = None,
) -> erasure.Erased:
    """Erase the client now (see `scheduling.erasure`). `confirm`: the pseudonym as typed on
    the page's confirmation step (None: the API's DELETE, itself the explicit request);
    another text is Invalid and changes nothing. NotFound for a client `by` may not see,
    `records.ReadOnly` for one she may not change."""
    client = records.changeable(session, client_id, by)
    if confirm is not None and not same_typed(confirm, client.pseudonym):
        raise Invalid(
            N_("Zur Bestätigung bitte das Pseudonym genau so eingeben, wie es angezeigt wird."),
            field="confirm",
        )
    erased = erasure.erase_client(
        session, settings, client.id, actor=by.actor, action="erase", now=now or utcnow()
    )
    if erased is None:  # (it was locked above: cannot happen)
        raise NotFound(f"no client with id {client_id}")
    return erased
