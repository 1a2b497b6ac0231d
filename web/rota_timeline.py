"""The rota page's timeline: rows of shifts, stand-ins, absences, busy times and gaps over a
period, as coordinates for the server-rendered SVG (no inline styles or scripts, so the CSP
stays strict); and the shifts an absence leaves uncovered. Pure but for the words: in the
request's language (`web.i18n`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foundation import dates
from foundation.models import Absence, Shift, StandIn, Tier
from scheduling import absences
from scheduling.busy import times
from web import labels
from web.i18n import _, language
from web.rota_period import Period

LABEL_WIDTH = 190
TIMELINE_WIDTH = 810
ROW_HEIGHT = 26


@dataclass(frozen=True)
class Block:
    x: float
    width: float
    label: str
    title: str
    css: str


@dataclass(frozen=True)
class Row:
    label: str
    y: int
    blocks: list[Block]
    css: str = ""


def _x(period: Period, moment: datetime) -> float:
    span = (period.end - period.start).total_seconds()
    offset = (min(max(moment, period.start), period.end) - period.start).total_seconds()
    return round(LABEL_WIDTH + TIMELINE_WIDTH * offset / span, 2)


def when(moment: datetime, zone: Any) -> str:
    return dates.when_short(moment, zone, language())


def timeline(
    period: Period,
    rows_of_shifts: list[Shift],
    gaps: list[tuple[datetime, datetime]],
    stand_ins: list[StandIn],
    names: dict[int, str],
    now: datetime,
    away: list[Absence] | None = None,
    busy_times: list[times.BusyAbsence] | None = None,
) -> dict[str, object]:
    """The grid. `busy_times` (from counsellors' own calendars) are drawn like absences and
    flag the shifts they overlap, but do not make gaps: only a recorded absence does."""
    zone = period.zone
    away = away or []
    busy_times = busy_times or []
    rows: list[Row] = []
    keyed: dict[tuple[Tier, int], list[Shift]] = {}
    for shift in rows_of_shifts:
        keyed.setdefault((shift.tier, shift.counsellor_id), []).append(shift)
    order = sorted(keyed, key=lambda k: (0 if k[0] is Tier.PRIMARY else 1, names.get(k[1], "")))
    for tier, counsellor_id in order:
        blocks = []
        for shift in keyed[tier, counsellor_id]:
            x0, x1 = _x(period, shift.start_at), _x(period, shift.end_at)
            hit = absences.hit(shift, away)
            clash = absences.hit(shift, busy_times)
            blocks.append(
                Block(
                    x0,
                    max(x1 - x0, 1.5),
                    names.get(counsellor_id, "?"),
                    f"{labels.tier(tier)}: {names.get(counsellor_id, '?')}, "
                    f"{when(shift.start_at, zone)} – {when(shift.end_at, zone)}"
                    + "".join(f"; {_absence_text(a, zone)}" for a in hit)
                    + "".join(f"; {_busy_text(b, zone)}" for b in clash),
                    ("shift primary" if tier is Tier.PRIMARY else "shift backup")
                    + (" hit" if hit or clash else ""),
                )
            )
        rows.append(Row(f"{names.get(counsellor_id, '?')} ({labels.tier(tier)})", 0, blocks))
    for stand_in in stand_ins:
        x0, x1 = _x(period, stand_in.start_at), _x(period, stand_in.end_at)
        absent, substitute = (
            names.get(stand_in.absent_id, "?"),
            names.get(stand_in.substitute_id, "?"),
        )
        rows.append(
            Row(
                _("Vertretung für %(absent)s", absent=absent),
                0,
                [
                    Block(
                        x0,
                        max(x1 - x0, 1.5),
                        substitute,
                        _(
                            "%(substitute)s vertritt %(absent)s, %(start)s – %(end)s",
                            substitute=substitute,
                            absent=absent,
                            start=when(stand_in.start_at, zone),
                            end=when(stand_in.end_at, zone),
                        ),
                        "standin",
                    )
                ],
            )
        )
    for absence in away:
        x0, x1 = _x(period, absence.start_at), _x(period, absence.end_at)
        who = names.get(absence.counsellor_id, "?")
        label = labels.absence_kind(absence.kind)
        rows.append(
            Row(
                _("Abwesend: %(name)s", name=who),
                0,
                [Block(x0, max(x1 - x0, 1.5), label, _absence_text(absence, zone), "absence")],
            )
        )
    busy_rows: dict[int, list[Block]] = {}
    for busy_time in busy_times:
        x0, x1 = _x(period, busy_time.start_at), _x(period, busy_time.end_at)
        busy_rows.setdefault(busy_time.counsellor_id, []).append(
            Block(x0, max(x1 - x0, 1.5), _("belegt"), _busy_text(busy_time, zone), "absence busy")
        )
    for counsellor_id, blocks_of_person in busy_rows.items():
        busy_label = _("Belegt: %(name)s", name=names.get(counsellor_id, "?"))
        rows.append(Row(busy_label, 0, blocks_of_person))
    gap_blocks = [
        Block(
            _x(period, start),
            max(_x(period, end) - _x(period, start), 1.5),
            _("Lücke"),
            _(
                "Niemand erreichbar: %(start)s – %(end)s",
                start=when(start, zone),
                end=when(end, zone),
            ),
            "gap",
        )
        for start, end in gaps
    ]
    rows.append(Row(_("Lücken"), 0, gap_blocks, "gaps"))
    top = 30
    placed = [dataclasses.replace(row, y=top + i * ROW_HEIGHT) for i, row in enumerate(rows)]
    days = [
        {
            "x": _x(period, start),
            "label": dates.weekday_day(day, language()) if period.view == "week" else f"{day.day}",
            "weekend": day.weekday() >= 5,
        }
        for day, start in period.day_starts()
    ]
    today = _x(period, now) if period.start <= now < period.end else None
    return {
        "rows": placed,
        "days": days,
        "today": today,
        "height": top + len(placed) * ROW_HEIGHT + 6,
        "width": LABEL_WIDTH + TIMELINE_WIDTH,
        "label_width": LABEL_WIDTH,
        "row_height": ROW_HEIGHT,
    }


def _busy_text(busy_time: times.BusyAbsence, zone: Any) -> str:
    return _(
        "%(name)s belegt (eigener Kalender): %(start)s – %(end)s",
        name=busy_time.counsellor.name,
        start=when(busy_time.start_at, zone),
        end=when(busy_time.end_at, zone),
    )


def _absence_text(absence: Absence, zone: Any) -> str:
    return _(
        "%(name)s %(kind)s: %(start)s – %(end)s",
        name=absence.counsellor.name if absence.counsellor else "?",
        kind=labels.absence_kind(absence.kind),
        start=when(absence.start_at, zone),
        end=when(absence.end_at, zone),
    )


@dataclass(frozen=True)
class Uncovered:
    """A shift an absence hits, not (fully) covered by a stand-in: the page offers to cover it."""

    shift: Shift
    absence: Absence
    start: datetime
    end: datetime


def uncovered(
    in_period: list[Shift], away: list[Absence], stand_ins: list[StandIn]
) -> list[Uncovered]:
    found = []
    for shift in in_period:
        for absence in absences.hit(shift, away):
            start = max(shift.start_at, absence.start_at)
            end = min(shift.end_at, absence.end_at)
            covered = any(
                si.absent_id == shift.counsellor_id and si.start_at <= start and si.end_at >= end
                for si in stand_ins
            )
            if not covered:
                found.append(Uncovered(shift, absence, start, end))
    return found
