"""A feed read from the database: has it changed (`fingerprint`), its events (`load_*`) and the
whole body (`build`).

`fingerprint` answers "has this feed changed?" from a few aggregates (count, sum of ids, sum
of the rows' change counters: shifts' `revision`, appointments' `sequence`) without loading a
row: the ETag, and the 304 that most polls get. The counters are bumped by every UPDATE, so a
change that commits after a later one (its flush-time `updated_at` older than the newest)
still moves the sum; an added or deleted row moves the count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import Appointment, AppointmentStatus, Counsellor, Shift, Team, Tier
from scheduling.feeds.events import (
    AppointmentEvent,
    Calendar,
    Owner,
    ShiftEvent,
    Window,
    uid_host,
)
from scheduling.feeds.rendering import render
from scheduling.shifts import MAX_SHIFT

RENDER_VERSION = "2"  # part of every fingerprint: bump when the output format changes
SHOWN = (AppointmentStatus.BOOKED, AppointmentStatus.DONE, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    etag: str  # quoted, strong
    newest: datetime | None  # the newest updated_at of what the feed holds


def _shift_where(by_team: bool) -> list[ColumnElement[bool]]:
    """Shifts of the owner overlapping the window [:start, :end) (MAX_SHIFT bounds the index
    range: :reach = :start - MAX_SHIFT), of active people; the query joins Counsellor."""
    return [
        (Shift.team_id if by_team else Shift.counsellor_id) == bindparam("owner"),
        Shift.start_at < bindparam("end"),
        Shift.start_at > bindparam("reach"),
        Shift.end_at > bindparam("start"),
        Counsellor.active.is_(True),
    ]


def _appointment_where() -> list[ColumnElement[bool]]:
    """Appointments overlapping the window (they last hours: :day_before bounds the index
    range), shown ones and those cancelled since :cancelled_since."""
    return [
        Appointment.counsellor_id == bindparam("owner"),
        Appointment.start_at < bindparam("end"),
        Appointment.start_at > bindparam("day_before"),
        Appointment.end_at > bindparam("start"),
        or_(
            Appointment.status.in_(SHOWN),
            (Appointment.status == AppointmentStatus.CANCELLED)
            & (Appointment.updated_at >= bindparam("cancelled_since")),
        ),
    ]


def _params(owner: Owner, span: Window) -> dict[str, object]:
    return {
        "owner": owner.team_id if owner.counsellor_id is None else owner.counsellor_id,
        "start": span.start,
        "end": span.end,
        "reach": span.start - MAX_SHIFT,
        "day_before": span.start - timedelta(days=1),
        "cancelled_since": span.cancelled_since,
    }


@cache
def _fingerprint_statement(by_team: bool) -> Select[Any]:
    """One round trip: the aggregates of the shifts, and of the appointments and the person
    (a counsellor's feed) or the team's name and the newest change of anyone's name (a team's
    feed). Built once; SQLAlchemy caches its compiled form."""
    shift_row = (
        select(
            func.count(Shift.id).label("shifts"),
            func.sum(Shift.id).label("shift_ids"),
            func.sum(Shift.revision).label("shift_revisions"),
            func.max(Shift.updated_at).label("shift_newest"),
        )
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(*_shift_where(by_team))
        .subquery()
    )
    if by_team:
        names = select(
            select(Team.name).where(Team.id == bindparam("owner")).scalar_subquery().label("n"),
            select(func.max(Counsellor.updated_at)).scalar_subquery().label("people"),
        ).subquery()
        return select(shift_row, names).select_from(shift_row.join(names, true()))
    appointment_row = (
        select(
            func.count(Appointment.id).label("appointments"),
            func.sum(Appointment.id).label("appointment_ids"),
            func.sum(Appointment.sequence).label("sequences"),
            func.max(Appointment.updated_at).label("appointment_newest"),
        )
        .where(*_appointment_where())
        .subquery()
    )
    person = select(
        select(Counsellor.name).where(Counsellor.id == bindparam("owner")).scalar_subquery(),
        select(Counsellor.updated_at).where(Counsellor.id == bindparam("owner")).scalar_subquery(),
    ).subquery()
    return select(shift_row, appointment_row, person).select_from(
        shift_row.join(appointment_row, true()).join(person, true())
    )


def _settings_key(settings: Settings) -> str:
    feeds = settings.config.feeds
    return "|".join(
        (
            RENDER_VERSION,
            settings.config.organisation.timezone,
            uid_host(settings),
            str(feeds.refresh_minutes),
            str(feeds.alarm_minutes),
            str(feeds.show_pseudonym),
            # Team names reach every summary; the database mirrors them from the configuration.
            *(f"{slug}={team.name}" for slug, team in sorted(settings.config.teams.items())),
        )
    )


def fingerprint(session: Session, settings: Settings, owner: Owner, span: Window) -> Fingerprint:
    """A strong ETag for the feed as `render` would write it now, from aggregates only: any
    added, removed, moved or edited event changes a count, a sum of ids or a sum of change
    counters (whenever it commits); names (team, counsellor) and settings are part of it too.
    One query."""
    by_team = owner.counsellor_id is None
    row = session.execute(_fingerprint_statement(by_team), _params(owner, span)).one()
    parts: list[object] = [_settings_key(settings), owner.counsellor_id, owner.team_id]
    parts += [span.today, *row]
    newest = [row.shift_newest] if by_team else [row.shift_newest, row.appointment_newest]
    text = "\x1f".join(_plain(part) for part in parts)
    known = [moment for moment in newest if moment is not None]
    return Fingerprint(
        etag='"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"',
        newest=max(known) if known else None,
    )


def _plain(value: object) -> str:
    """Aggregates as text that is the same on SQLite and PostgreSQL."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return ",".join(_plain(item) for item in value)
    if value is None:
        return "-"
    if isinstance(value, int | float | Decimal):
        return str(int(value))
    return str(value)


def team_label(name: str) -> str:
    """ "Team Islamismus" -> "Islamismus": how a shift's summary names the team."""
    return name.removeprefix("Team ").strip() or name


@cache
def _shifts_statement(
    by_team: bool,
) -> Select[int, str, Tier, datetime, datetime, datetime, datetime, str]:
    return (
        select(
            Shift.id,
            Team.name,
            Shift.tier,
            Shift.start_at,
            Shift.end_at,
            Shift.created_at,
            Shift.updated_at,
            Counsellor.name,
        )
        .join(Team, Team.id == Shift.team_id)
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(*_shift_where(by_team))
        .order_by(Shift.start_at, Shift.id)
    )


def load_shifts(session: Session, owner: Owner, span: Window) -> list[ShiftEvent]:
    by_team = owner.counsellor_id is None
    rows = session.execute(_shifts_statement(by_team), _params(owner, span))
    return [
        ShiftEvent(i, team_label(team), tier, s, e, c, u, person if by_team else None)
        for i, team, tier, s, e, c, u, person in rows
    ]


@cache
def _appointments_statement(pseudonyms: bool) -> Select[Any]:
    """The pseudonym is not even read unless the feed shows it."""
    columns: list[Any] = [
        Appointment.id,
        Appointment.mode,
        Appointment.status,
        Appointment.start_at,
        Appointment.end_at,
        Appointment.sequence,
        Appointment.created_at,
        Appointment.updated_at,
    ]
    if pseudonyms:
        columns.append(Appointment.client_pseudonym)
    return (
        select(*columns).where(*_appointment_where()).order_by(Appointment.start_at, Appointment.id)
    )


def load_appointments(
    session: Session, counsellor_id: int, span: Window, *, pseudonyms: bool
) -> list[AppointmentEvent]:
    rows = session.execute(_appointments_statement(pseudonyms), _params(Owner(counsellor_id), span))
    return [AppointmentEvent(*row) for row in rows]


def calendar_for(session: Session, settings: Settings, owner: Owner) -> Calendar:
    feeds = settings.config.feeds
    if owner.counsellor_id is not None:
        person = session.scalar(select(Counsellor.name).where(Counsellor.id == owner.counsellor_id))
        name = f"Dienste und Termine – {person or '?'}"
        alarm = feeds.alarm_minutes
    else:
        team = session.scalar(select(Team.name).where(Team.id == owner.team_id))
        name = f"Dienstplan {team or '?'}"
        alarm = 0  # a reminder before every colleague's shift helps nobody
    return Calendar(
        name=name,
        uid_host=uid_host(settings),
        zone=settings.config.organisation.zone,
        refresh_minutes=feeds.refresh_minutes,
        alarm_minutes=alarm,
    )


def build(session: Session, settings: Settings, owner: Owner, span: Window) -> bytes:
    """Load and render the feed of `owner`."""
    calendar = calendar_for(session, settings, owner)
    shifts = load_shifts(session, owner, span)
    appointments = (
        load_appointments(
            session, owner.counsellor_id, span, pseudonyms=settings.config.feeds.show_pseudonym
        )
        if owner.counsellor_id is not None
        else []
    )
    return render(calendar, span, shifts, appointments)
