"""iCal feeds: a counsellor's shifts and appointments, a team's rota.

* `window` fixes which events a feed holds: local midnight `past_days` ago to local midnight
  `future_days` ahead, so the body changes only when the data (or the date) does.
* `fingerprint` answers "has this feed changed?" from a few aggregates (count, sum of ids,
  sum of the rows' change counters: shifts' `revision`, appointments' `sequence`) without
  loading a row: the ETag, and the 304 that most polls get. The counters are bumped by every
  UPDATE, so a change that commits after a later one (its flush-time `updated_at` older than
  the newest) still moves the sum; an added or deleted row moves the count.
* `load_*` read the rows as plain events; `render` is pure and writes RFC 5545 text with
  `scheduling.ical` (no METHOD: a published calendar, not a scheduling message).

Privacy: an appointment is "Beratungstermin (Telefon)"; no client name, number, place or
video link ever reaches a feed (the pseudonym only with `feeds.show_pseudonym`).

UIDs and SEQUENCE: `shift-<id>@<host>` and `appointment-<id>@<host>`. An appointment's
SEQUENCE is its own `sequence` (bumped by every change). A shift's `revision` (bumped by every
UPDATE) only feeds the fingerprint: its SEQUENCE is the whole seconds from SEQUENCE_EPOCH to
its `updated_at`, which only ever grows and is what subscribers have held since before the
revision existed. Changing a shift in the rota page replaces it by a new row (a new UID:
subscribers drop the old event and add the new one, which is right for a published feed);
changes in place (a swap) bump `updated_at` and with it the SEQUENCE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from config.model import Feeds
from config.settings import Settings
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    Counsellor,
    Shift,
    Team,
    Tier,
)
from scheduling.ical import (
    duration_minutes,
    escape_text,
    join,
    utc_stamp,
    vtimezone,
    zoned,
)
from scheduling.shifts import MAX_SHIFT

PRODID = "-//konex//konex hotline//DE"
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
RENDER_VERSION = "2"  # part of every fingerprint: bump when the output format changes
TIER_LABELS = {Tier.PRIMARY: "primär", Tier.BACKUP: "Hintergrund"}
MODE_LABELS = {
    AppointmentMode.PHONE: "Telefon",
    AppointmentMode.IN_PERSON: "vor Ort",
    AppointmentMode.VIDEO: "Video",
}
SHOWN = (AppointmentStatus.BOOKED, AppointmentStatus.DONE, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True, slots=True)
class Window:
    """The events a feed holds: those overlapping [start, end). `today` is the local date
    it was computed for; `cancelled_since` the oldest cancellation still shown."""

    start: datetime
    end: datetime
    today: date
    cancelled_since: datetime


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose feed: a counsellor's (shifts and appointments) or a team's (its rota)."""

    counsellor_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True)
class ShiftEvent:
    id: int
    team: str  # "Islamismus"
    tier: Tier
    start: datetime
    end: datetime
    created: datetime
    updated: datetime
    person: str | None = None  # the team feed names who is on call


@dataclass(frozen=True, slots=True)
class AppointmentEvent:
    id: int
    mode: AppointmentMode
    status: AppointmentStatus
    start: datetime
    end: datetime
    sequence: int
    created: datetime
    updated: datetime
    pseudonym: str | None = None


@dataclass(frozen=True, slots=True)
class Calendar:
    """What a feed says about itself."""

    name: str
    uid_host: str
    zone: ZoneInfo
    refresh_minutes: int
    alarm_minutes: int  # 0: no VALARM


@dataclass(frozen=True, slots=True)
class Fingerprint:
    etag: str  # quoted, strong
    newest: datetime | None  # the newest updated_at of what the feed holds


# --- the window --------------------------------------------------------------------------------


def window(now: datetime, zone: ZoneInfo, feeds: Feeds) -> Window:
    """Local midnights, so that every poll of one day sees the same window."""
    today = now.astimezone(zone).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    return Window(
        start=midnight(today - timedelta(days=feeds.past_days)),
        end=midnight(today + timedelta(days=feeds.future_days + 1)),
        today=today,
        cancelled_since=midnight(today - timedelta(days=feeds.cancelled_keep_days)),
    )


# --- queries -----------------------------------------------------------------------------------


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


def uid_host(settings: Settings) -> str:
    return urlsplit(settings.public_url).hostname or "konex-hotline"


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


# --- rendering (pure) ------------------------------------------------------------------------


def sequence_of(updated: datetime) -> int:
    """A shift's SEQUENCE: whole seconds since SEQUENCE_EPOCH, so it grows with every change."""
    return max(0, int((updated - SEQUENCE_EPOCH).total_seconds()))


def shift_summary(event: ShiftEvent) -> str:
    summary = f"Rufbereitschaft {event.team} ({TIER_LABELS[event.tier]})"
    return f"{summary}: {event.person}" if event.person else summary


def appointment_summary(event: AppointmentEvent) -> str:
    summary = f"Beratungstermin ({MODE_LABELS[event.mode]})"
    return f"{summary}: {event.pseudonym}" if event.pseudonym else summary


def _shift_lines(event: ShiftEvent, calendar: Calendar) -> list[str]:
    summary = escape_text(shift_summary(event))
    stamp = utc_stamp(event.updated)
    lines = [
        "BEGIN:VEVENT",
        f"UID:shift-{event.id}@{calendar.uid_host}",
        f"DTSTAMP:{stamp}",
        f"CREATED:{utc_stamp(event.created)}",
        f"LAST-MODIFIED:{stamp}",
        f"SEQUENCE:{sequence_of(event.updated)}",
        zoned("DTSTART", event.start, calendar.zone),
        zoned("DTEND", event.end, calendar.zone),
        f"SUMMARY:{summary}",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",  # on call is not busy: Outlook would block whole days
        "CLASS:PRIVATE",
    ]
    if calendar.alarm_minutes:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{summary}",
            f"TRIGGER:-{duration_minutes(calendar.alarm_minutes)}",
            "END:VALARM",
        ]
    lines.append("END:VEVENT")
    return lines


def _appointment_lines(event: AppointmentEvent, calendar: Calendar) -> list[str]:
    stamp = utc_stamp(event.updated)
    cancelled = event.status is AppointmentStatus.CANCELLED
    return [
        "BEGIN:VEVENT",
        f"UID:appointment-{event.id}@{calendar.uid_host}",
        f"DTSTAMP:{stamp}",
        f"CREATED:{utc_stamp(event.created)}",
        f"LAST-MODIFIED:{stamp}",
        f"SEQUENCE:{event.sequence}",
        zoned("DTSTART", event.start, calendar.zone),
        zoned("DTEND", event.end, calendar.zone),
        f"SUMMARY:{escape_text(appointment_summary(event))}",
        "STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT" if cancelled else "TRANSP:OPAQUE",
        "CLASS:PRIVATE",
        "END:VEVENT",
    ]


def render(
    calendar: Calendar,
    span: Window,
    shifts: Sequence[ShiftEvent],
    appointments: Sequence[AppointmentEvent] = (),
) -> bytes:
    """The feed as RFC 5545 octets: UTF-8, CRLF, folded; one VTIMEZONE for the one TZID,
    exact over the window and the events in it; events by start."""
    moments = [span.start, span.end]
    moments += [e.start for e in shifts[:1]] + [e.end for e in shifts[-1:]]
    moments += [e.start for e in appointments[:1]] + [e.end for e in appointments[-1:]]
    zone = calendar.zone
    # Whole years: the VTIMEZONE (cached) stays the same all year.
    first = date(min(moments).astimezone(zone).year - 1, 12, 31)
    last = max(max(e.end for e in shifts) if shifts else span.end, max(moments))
    name = escape_text(calendar.name)
    refresh = duration_minutes(calendar.refresh_minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"NAME:{name}",
        f"X-WR-CALNAME:{name}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}",
        f"X-PUBLISHED-TTL:{refresh}",
        *vtimezone(zone.key, first, date(last.astimezone(zone).year + 1, 1, 2)),
    ]
    events: list[tuple[datetime, int, list[str]]] = []
    events += [(e.start, 0, _shift_lines(e, calendar)) for e in shifts]
    events += [(e.start, 1, _appointment_lines(e, calendar)) for e in appointments]
    events.sort(key=lambda item: (item[0], item[1]))
    for _, _, event_lines in events:
        lines += event_lines
    lines.append("END:VCALENDAR")
    return join(lines)
