"""What the client pages show (`web.client_pages`): a client, its timeline, plan and notes as
plain rows with their words in the page's language (`web.i18n`), read in one transaction. Only
for a viewer the access policy lets see the client (`scheduling.clients.records.visible`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import crypto
from foundation.access import Principal
from foundation.models import (
    Appointment,
    AppointmentStatus,
    Client,
    ClientStatus,
    PlanStepStatus,
    PreferredChannel,
    Team,
)
from scheduling.clients import plan, records, timeline
from web.appointment_words import moment_text, span_text
from web.i18n import N_, _

Key = TypeVar("Key")

STATUS_NAMES = {
    ClientStatus.FIRST_CONTACT: N_("Erstkontakt"),
    ClientStatus.IN_COUNSELLING: N_("in Beratung"),
    ClientStatus.PAUSED: N_("pausiert"),
    ClientStatus.ENDED: N_("beendet"),
}
STEP_NAMES = {
    PlanStepStatus.OPEN: N_("offen"),
    PlanStepStatus.IN_PROGRESS: N_("in Arbeit"),
    PlanStepStatus.REACHED: N_("erreicht"),
    PlanStepStatus.DROPPED: N_("verworfen"),
}
CHANNEL_NAMES = {
    PreferredChannel.PHONE: N_("Telefon"),
    PreferredChannel.SMS: "SMS",
    PreferredChannel.WHATSAPP: "WhatsApp",
    PreferredChannel.IN_PERSON: N_("persönlich"),
    PreferredChannel.VIDEO: "Video",
}
KIND_NAMES = {
    "appointment": N_("Termin"),
    "conversation": N_("Nachrichten"),
    "callback_request": N_("Rückrufbitte"),
    "voicemail": N_("Sprachnachricht"),
    "outbound_call": N_("Rückruf über die Leitung"),
}
WAY_NAMES = {
    "phone": N_("Telefon"),
    "in_person": N_("vor Ort"),
    "video": "Video",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "web": N_("Webformular"),
    "voice": N_("Anruf"),
    "call": N_("Anruf"),
}
ENTRY_STATUS = {
    "booked": N_("gebucht"),
    "cancelled": N_("abgesagt"),
    "done": N_("wahrgenommen / erledigt"),
    "no_show": N_("nicht erschienen"),
    "new": N_("offen"),
    "in_progress": N_("in Arbeit"),
    "open": N_("offen"),
    "closed": N_("geschlossen"),
    "completed": N_("beendet"),
    "simulated": N_("simuliert"),
}


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A client as the list and the page show it."""

    id: int
    pseudonym: str
    team: str  # slug
    team_name: str
    status: ClientStatus
    phone: str | None  # masked
    sms_consent: bool
    relative: bool
    preferred_channel: PreferredChannel | None
    language: str  # ISO 639-1
    counsellors: tuple[tuple[int, str], ...]
    status_changed_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    review_on: date | None
    next_appointment: str | None = None


@dataclass(frozen=True, slots=True)
class EntryRow:
    kind: str
    record_id: int
    label: str
    when: str
    status: str
    way: str
    detail: str
    href: str | None


@dataclass(frozen=True, slots=True)
class ClientPage:
    client: ClientRow
    entries: list[EntryRow]
    steps: list[plan.StepView]
    notes: list[plan.NoteView]
    members: list[tuple[int, str]]  # the team's active counsellors (responsible choice)
    appointments: list[tuple[int, str]]  # the client's, for a session note


def row(session: Session, settings: Settings, client: Client, now: datetime) -> ClientRow:
    team = session.get(Team, client.team_id)
    ahead = records.next_appointments(session, [client.id], now).get(client.id)
    return _row(settings, client, team, ahead)


def _row(
    settings: Settings, client: Client, team: Team | None, ahead: Appointment | None
) -> ClientRow:
    zone = settings.config.organisation.zone
    return ClientRow(
        id=client.id,
        pseudonym=client.pseudonym,
        team=team.slug if team else "",
        team_name=team.name if team else "",
        status=client.status,
        phone=records.masked(crypto.box(settings), client),
        sms_consent=client.sms_consent,
        relative=client.relative,
        preferred_channel=client.preferred_channel,
        language=client.language,
        counsellors=tuple((c.id, c.name) for c in client.counsellors),
        status_changed_at=client.status_changed_at,
        started_at=client.started_at,
        paused_at=client.paused_at,
        ended_at=client.ended_at,
        created_at=client.created_at,
        review_on=client.review_on,
        next_appointment=span_text(ahead.start_at, ahead.end_at, zone) if ahead else None,
    )


def team_rows(session: Session, settings: Settings, team: Team, now: datetime) -> list[ClientRow]:
    found = records.team_clients(session, team.id)
    ahead = records.next_appointments(session, [c.id for c in found], now)
    return [_row(settings, c, team, ahead.get(c.id)) for c in found]


def _href(entry: timeline.Entry) -> str | None:
    if entry.kind == "conversation":
        return f"/conversations/{entry.record_id}"
    if entry.kind == "callback_request":
        return f"/tasks#callback-{entry.record_id}"
    if entry.kind == "voicemail":
        return f"/tasks#voicemail-{entry.record_id}"
    return None


def _entry(settings: Settings, entry: timeline.Entry) -> EntryRow:
    zone = settings.config.organisation.zone
    lines = settings.config.lines
    when = (
        span_text(entry.at, entry.end, zone)
        if entry.end is not None
        else moment_text(entry.at, zone)
    )
    details = []
    if entry.line is not None:
        details.append(lines[entry.line].display_name if entry.line in lines else entry.line)
    if entry.counsellor:
        details.append(entry.counsellor)
    return EntryRow(
        kind=entry.kind,
        record_id=entry.record_id,
        label=_(KIND_NAMES[entry.kind]),
        when=when,
        status=_(ENTRY_STATUS[entry.status]) if entry.status in ENTRY_STATUS else entry.status,
        way=_(WAY_NAMES[entry.channel]) if entry.channel in WAY_NAMES else entry.channel,
        detail=", ".join(details),
        href=_href(entry),
    )


def page(
    session: Session, settings: Settings, client_id: int, by: Principal, now: datetime
) -> ClientPage:
    """Everything the client page shows; NotFound unless `by` may see the client."""
    client = records.visible(session, client_id, by)
    shown = row(session, settings, client, now)
    team = session.get(Team, client.team_id)
    members = [(c.id, c.name) for c in team.counsellors if c.active] if team else []
    zone = settings.config.organisation.zone
    found = timeline.entries(session, client.id)
    appointments = [
        (e.record_id, span_text(e.at, e.end or e.at, zone))
        for e in found
        if e.kind == "appointment" and e.status != AppointmentStatus.CANCELLED.value
    ]
    return ClientPage(
        client=shown,
        entries=[_entry(settings, e) for e in found],  # in time order, the oldest first
        steps=plan.steps(session, settings, client.id),
        notes=plan.notes(session, settings, client.id),
        members=members,
        appointments=appointments,
    )


def names(words: Mapping[Key, str]) -> dict[Key, str]:
    """One of the tables above in the request's language."""
    return {key: _(word) for key, word in words.items()}
