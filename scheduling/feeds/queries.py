"""A feed read from the database: has it changed (`fingerprint`), its events (`load_*`) and the
whole body (`build`).

`fingerprint` answers "has this feed changed?" from a few aggregates (count, sum of ids, sum
of the rows' change counters: shifts' `revision` and `cover_revision`, appointments'
`sequence`) without loading a row: the ETag, and the 304 that most polls get. The counters are
bumped by every UPDATE, so a change that commits after a later one (its flush-time
`updated_at` older than the newest) still moves the sum; an added or deleted row moves the
count. A shift's `cover_revision` moves whenever a stand-in or an absence that may change who
works it comes or goes (`scheduling.cover`); the stand-ins and absences themselves are
counted too, and a counsellor's feed also sums the shifts she stands in for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import (
    Absence,
    Appointment,
    AppointmentStatus,
    Counsellor,
    Shift,
    StandIn,
    Team,
    TeamMembership,
)
from scheduling.feeds import duties
from scheduling.feeds.events import (
    AppointmentEvent,
    Calendar,
    Owner,
    ShiftEvent,
    Window,
    uid_host,
)
from scheduling.feeds.rendering import render

RENDER_VERSION = "3"  # part of every fingerprint: bump when the output format changes
SHOWN = (AppointmentStatus.BOOKED, AppointmentStatus.DONE, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    etag: str  # quoted, strong
    newest: datetime | None  # the newest updated_at of what the feed holds


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


def _shift_aggregates(*, covered: bool = False) -> list[Any]:
    prefix = "covered_" if covered else "shift_"
    return [
        func.count(Shift.id).label(prefix + "count"),
        func.sum(Shift.id).label(prefix + "ids"),
        func.sum(Shift.revision).label(prefix + "revisions"),
        func.sum(Shift.cover_revision).label(prefix + "covers"),
        func.max(Shift.updated_at).label(prefix + "newest"),
        func.max(Shift.cover_changed_at).label(prefix + "cover_newest"),
    ]


def _stand_ins_row(by_team: bool) -> Any:
    """The stand-ins that may cut the feed's shifts (a team's; or naming the counsellor)."""
    whose = (
        StandIn.team_id == bindparam("owner")
        if by_team
        else or_(
            StandIn.absent_id == bindparam("owner"), StandIn.substitute_id == bindparam("owner")
        )
    )
    return (
        select(func.count(StandIn.id).label("stand_ins"), func.sum(StandIn.id).label("si_ids"))
        .where(whose, StandIn.start_at < bindparam("far"), StandIn.end_at > bindparam("reach"))
        .subquery()
    )


def _absences_row(by_team: bool) -> Any:
    """Absences that may cut the feed's shifts: of the team's members (counted once per
    membership, so a membership change counts too), or the counsellor's own."""
    query = select(func.count(Absence.id).label("absences"), func.sum(Absence.id).label("a_ids"))
    if by_team:
        query = query.join(
            TeamMembership, TeamMembership.counsellor_id == Absence.counsellor_id
        ).where(TeamMembership.team_id == bindparam("owner"))
    else:
        query = query.where(Absence.counsellor_id == bindparam("owner"))
    return query.where(
        Absence.start_at < bindparam("far"), Absence.end_at > bindparam("reach")
    ).subquery()


@cache
def _fingerprint_statement(by_team: bool) -> Select[Any]:
    """One round trip: the aggregates of the shifts, stand-ins and absences, and of the
    appointments, the shifts she stands in for and the person (a counsellor's feed) or the
    team's name and the newest change of anyone's name (a team's feed). Built once;
    SQLAlchemy caches its compiled form."""
    shift_row = (
        select(*_shift_aggregates())
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(*duties.shift_where(by_team))
        .subquery()
    )
    rows = [shift_row, _stand_ins_row(by_team), _absences_row(by_team)]
    if by_team:
        rows.append(
            select(
                select(Team.name).where(Team.id == bindparam("owner")).scalar_subquery().label("n"),
                select(func.max(Counsellor.updated_at)).scalar_subquery().label("people"),
            ).subquery()
        )
    else:
        rows.append(
            select(
                *_shift_aggregates(covered=True), func.max(Counsellor.updated_at).label("holders")
            )
            .select_from(StandIn)
            .join(Shift, duties.covered_join())
            .join(Counsellor, Counsellor.id == Shift.counsellor_id)
            .where(*duties.covered_where())
            .subquery()
        )
        rows.append(
            select(
                func.count(Appointment.id).label("appointments"),
                func.sum(Appointment.id).label("appointment_ids"),
                func.sum(Appointment.sequence).label("sequences"),
                func.max(Appointment.updated_at).label("appointment_newest"),
            )
            .where(*_appointment_where())
            .subquery()
        )
        rows.append(
            select(
                select(Counsellor.name)
                .where(Counsellor.id == bindparam("owner"))
                .scalar_subquery(),
                select(Counsellor.updated_at)
                .where(Counsellor.id == bindparam("owner"))
                .scalar_subquery(),
            ).subquery()
        )
    joined = rows[0]
    for row in rows[1:]:
        joined = joined.join(row, true())
    return select(*rows).select_from(joined)


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
            str(feeds.show_replaced),
            str(feeds.cancelled_keep_days),  # how long cancelled parts of duties stay
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
    row = session.execute(_fingerprint_statement(by_team), duties.params(owner, span)).one()
    parts: list[object] = [_settings_key(settings), owner.counsellor_id, owner.team_id]
    parts += [span.today, *row]
    newest = [row.shift_newest, row.shift_cover_newest]
    if not by_team:
        newest += [row.covered_newest, row.covered_cover_newest, row.appointment_newest]
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


def load_shifts(
    session: Session, owner: Owner, span: Window, *, show_replaced: bool = False
) -> list[ShiftEvent]:
    """The feed's duties as they will be worked (`duties`)."""
    if owner.counsellor_id is not None:
        return duties.for_counsellor(
            session, owner.counsellor_id, span, show_replaced=show_replaced
        )
    assert owner.team_id is not None
    return duties.for_team(session, owner.team_id, span, show_replaced=show_replaced)


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
    rows = session.execute(
        _appointments_statement(pseudonyms), duties.params(Owner(counsellor_id), span)
    )
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
    shifts = load_shifts(session, owner, span, show_replaced=settings.config.feeds.show_replaced)
    appointments = (
        load_appointments(
            session, owner.counsellor_id, span, pseudonyms=settings.config.feeds.show_pseudonym
        )
        if owner.counsellor_id is not None
        else []
    )
    return render(calendar, span, shifts, appointments)
