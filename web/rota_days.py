"""The rota page's day list: what the timeline draws, day by day as text, for narrow screens
(phones, strong zoom) where the drawing only scrolls sideways. Each day lists what touches it,
clipped to the day: shifts, stand-ins, absences, busy times and gaps. Pure but for the words:
in the request's language (`web.i18n`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from foundation import dates
from foundation.models import Absence, Shift, StandIn, Tier
from scheduling import absences
from scheduling.busy import times
from web import labels
from web.i18n import _, language
from web.rota_period import Period

# The order of entries that start at the same time: who is on call first, gaps last.
ORDER = {"primary": 0, "backup": 1, "standin": 2, "absence": 3, "busy": 4, "gap": 5}


@dataclass(frozen=True)
class Entry:
    start: datetime
    end: datetime
    css: str
    text: str


@dataclass(frozen=True)
class Line:
    span: str  # '09:00–24:00': the entry's part of the day
    css: str
    text: str


@dataclass(frozen=True)
class Day:
    day: date
    label: str  # 'Do 26.11.'
    lines: list[Line]


def _shift_text(shift: Shift, names: dict[int, str], away: list[Absence]) -> str:
    text = f"{labels.tier(shift.tier)}: {names.get(shift.counsellor_id, '?')}"
    hit = absences.hit(shift, away)
    if hit:
        text += f" ({labels.absence_kind(hit[0].kind)})"
    return text


def entries(
    in_period: list[Shift],
    gaps: list[tuple[datetime, datetime]],
    stand_ins: list[StandIn],
    names: dict[int, str],
    away: list[Absence],
    busy_times: list[times.BusyAbsence],
) -> list[Entry]:
    """Everything the timeline draws, as (start, end, kind, words)."""
    found = [
        Entry(
            shift.start_at,
            shift.end_at,
            "primary" if shift.tier is Tier.PRIMARY else "backup",
            _shift_text(shift, names, away),
        )
        for shift in in_period
    ]
    found += [
        Entry(
            si.start_at,
            si.end_at,
            "standin",
            _(
                "Vertretung: %(substitute)s für %(absent)s",
                substitute=names.get(si.substitute_id, "?"),
                absent=names.get(si.absent_id, "?"),
            ),
        )
        for si in stand_ins
    ]
    found += [
        Entry(
            absence.start_at,
            absence.end_at,
            "absence",
            _(
                "Abwesend: %(name)s (%(kind)s)",
                name=names.get(absence.counsellor_id, "?"),
                kind=labels.absence_kind(absence.kind),
            ),
        )
        for absence in away
    ]
    found += [
        Entry(
            b.start_at,
            b.end_at,
            "busy",
            _("Belegt (eigener Kalender): %(name)s", name=b.counsellor.name),
        )
        for b in busy_times
    ]
    found += [Entry(start, end, "gap", _("Lücke: niemand erreichbar")) for start, end in gaps]
    return found


def _span(start: datetime, end: datetime, day_end: datetime, zone: Any) -> str:
    last = "24:00" if end >= day_end else dates.clock(end, zone, language())
    return f"{dates.clock(start, zone, language())}–{last}"


def by_day(period: Period, found: list[Entry]) -> list[Day]:
    """The period's days, each with the entries that overlap it, clipped to the day."""
    starts = period.day_starts()
    ends = [start for _, start in starts[1:]] + [period.end]
    days = []
    for (day, day_start), day_end in zip(starts, ends, strict=True):
        touching = sorted(
            (e for e in found if e.start < day_end and e.end > day_start),
            key=lambda e: (max(e.start, day_start), ORDER[e.css], e.text),
        )
        days.append(
            Day(
                day,
                dates.weekday_day(day, language()),
                [
                    Line(
                        _span(max(e.start, day_start), min(e.end, day_end), day_end, period.zone),
                        e.css,
                        e.text,
                    )
                    for e in touching
                ],
            )
        )
    return days
