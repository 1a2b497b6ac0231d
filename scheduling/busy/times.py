"""The stored busy times in use: a booking over one warns (`conflicts`, `warning`), and the rota
page draws them beside the absences (`busy_as_absences`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from foundation.models import AbsenceKind, BusyInterval, Counsellor, ExternalCalendar
from scheduling.busy.parsing import merge


def conflicts(
    session: Session, counsellor_id: int, start: datetime, end: datetime
) -> list[BusyInterval]:
    """The counsellor's busy intervals overlapping [start, end), by start."""
    return list(
        session.scalars(
            select(BusyInterval)
            .join(ExternalCalendar, ExternalCalendar.id == BusyInterval.calendar_id)
            .where(
                ExternalCalendar.counsellor_id == counsellor_id,
                BusyInterval.start_at < end,
                BusyInterval.end_at > start,
            )
            .order_by(BusyInterval.start_at, BusyInterval.id)
        )
    )


@dataclass(frozen=True, slots=True)
class Person:
    name: str


@dataclass(frozen=True, slots=True)
class BusyAbsence:
    """A busy time shaped like an `Absence` row (counsellor_id, kind, start_at, end_at,
    counsellor.name, note), so that the rota page can draw it with the absences. It is not an
    absence for the rota core: shifts in it are not gaps."""

    counsellor_id: int
    start_at: datetime
    end_at: datetime
    counsellor: Person
    kind: AbsenceKind = AbsenceKind.OTHER
    note: str = "belegt (eigener Kalender)"
    id: int | None = None
    source: str = "calendar"


def busy_as_absences(
    session: Session, counsellor_ids: Iterable[int], start: datetime, end: datetime
) -> list[BusyAbsence]:
    """Busy intervals of these counsellors overlapping [start, end), as absence-like objects;
    overlapping intervals of one person (from several calendars) merged."""
    ids = list(counsellor_ids)
    if not ids:
        return []
    rows = session.execute(
        select(
            ExternalCalendar.counsellor_id,
            Counsellor.name,
            BusyInterval.start_at,
            BusyInterval.end_at,
        )
        .join(ExternalCalendar, ExternalCalendar.id == BusyInterval.calendar_id)
        .join(Counsellor, Counsellor.id == ExternalCalendar.counsellor_id)
        .where(
            ExternalCalendar.counsellor_id.in_(ids),
            BusyInterval.start_at < end,
            BusyInterval.end_at > start,
        )
        .order_by(ExternalCalendar.counsellor_id, BusyInterval.start_at)
    )
    by_person: dict[int, tuple[str, list[tuple[datetime, datetime]]]] = {}
    for counsellor_id, name, s, e in rows:
        by_person.setdefault(counsellor_id, (name, []))[1].append((s, e))
    found = [
        BusyAbsence(counsellor_id, s, e, Person(name))
        for counsellor_id, (name, spans) in by_person.items()
        for s, e in merge(spans)
    ]
    return sorted(found, key=lambda busy: (busy.start_at, busy.counsellor_id))


def warning(
    session: Session, counsellor_id: int, start: datetime, end: datetime, zone: ZoneInfo
) -> str | None:
    """A German warning when [start, end) overlaps the counsellor's busy times (booking pages
    show it; booking is not refused: the external calendar may be out of date)."""
    found = conflicts(session, counsellor_id, start, end)
    if not found:
        return None
    spans = ", ".join(
        f"{b.start_at.astimezone(zone):%d.%m. %H:%M}–{b.end_at.astimezone(zone):%H:%M}"
        for b in found[:3]
    )
    return f"Achtung: Im eigenen Kalender ist diese Zeit als belegt eingetragen ({spans})."
