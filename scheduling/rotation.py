"""Generate a rotation of on-call shifts: counsellors take turns in a fixed order.

A pure core like ``scheduling.rota``: plain data in, plain data out, no database, no clock.
The coordinators' page turns the planned shifts into rows with ``shifts.create_shift``.

Semantics
---------
* Shift ``k`` (counting from 0) starts on the local day ``first_day + k * shift_days`` at
  the local wall-clock ``handoff`` and lasts ``shift_days`` local days; its bounds come from
  ``rota.local_span``.  So consecutive shifts meet exactly (no gap, no overlap), every
  handoff stays at the same wall-clock time across DST changes, and a one-day shift over a
  change lasts 23 or 25 real hours.  Bounds are UTC-aware datetimes.
* ``last_day`` is inclusive and limits where shifts *start*: shifts are generated while
  their start day is ``<= last_day``.  The last shift is never cut short: it keeps its full
  length and may end after ``last_day + 1`` at ``handoff`` (a weekly rotation planned for a
  month usually runs a few days into the next).  Every shift therefore has the same length
  and the same person is never handed a stub; ``next_first_day`` says where the plan
  really ends.
* Counsellor ``k`` of the plan is ``counsellor_ids[(start_index + k) % len(counsellor_ids)]``.
  ``start_index`` must be a valid position (``0 <= start_index < len``); it is *not* taken
  modulo, because a stale position from a longer list should be noticed, not wrapped.
* ``RotationPlan.next_index`` and ``next_first_day`` are where a following run continues:
  ``continue_from(plan, request)`` copies them into a request.  Planning one period and
  continuing into the next gives exactly the shifts of one run over both periods.
* Validation raises ``RotationError`` (a ``ValueError``) with a German message for the page
  and ``field`` naming the offending input; the first problem found is reported.
* ``shift_days`` is 1..31.  ``shifts.MAX_SHIFT`` allows at most 31 real days per shift, so a
  31-day shift over an autumn change (31 days and one hour) is refused, naming its start.

Weekdays
--------
* ``weekdays`` (0 = Monday … 6 = Sunday, default all seven) are the local days the rotation
  covers.  A local day ``d`` stands for the stretch from ``d`` at ``handoff`` to ``d + 1`` at
  ``handoff`` (with a 09:00 handoff, "Friday" ends on Saturday at 09:00).
* Each turn (``shift_days`` days from its start, as above) keeps only its covered days; every
  run of consecutive covered days is one shift of the turn's counsellor, laid out with
  ``rota.local_span`` like a whole turn.  A weekly turn from Monday covering Monday to Friday is
  one shift Mon 09:00 → Sat 09:00; a rotation covering Saturday and Sunday fills the weekend
  (Sat 09:00 → Mon 09:00) exactly, with no gap and no overlap.  A weekly turn from Wednesday
  gives its counsellor two shifts (Wed → Sat, Mon → Wed).
* A turn with no covered day is skipped and uses nobody's turn: a daily rotation Mon–Fri hands
  Monday to whoever follows Friday's counsellor.  ``next_first_day`` still counts every turn,
  so continuing a plan gives the same shifts as one run.  A plan may have no shifts at all (a
  weekend-only rotation over three weekdays).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from foundation.models import Tier
from scheduling.rota import local_span

MAX_SHIFT_DAYS = 31
ALL_WEEKDAYS = frozenset(range(7))  # 0 = Monday … 6 = Sunday, as date.weekday()
MAX_RANGE_DAYS = 400
# Same limit as scheduling.shifts.MAX_SHIFT (not imported: that module needs the database).
MAX_SHIFT_LENGTH = timedelta(days=MAX_SHIFT_DAYS)


class RotationError(ValueError):
    """The rotation request is not acceptable; ``field`` names the input to correct."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class RotationRequest:
    counsellor_ids: tuple[int, ...]  # the order of turns: at least one, no duplicates
    shift_days: int  # length of each shift in local days (1 = daily, 7 = weekly), 1..31
    handoff: time  # naive local wall-clock handoff time, e.g. 09:00
    tier: Tier
    first_day: date  # the first shift starts on first_day at handoff (local)
    last_day: date  # inclusive: shifts are generated while their start day <= last_day
    zone: ZoneInfo
    start_index: int = 0  # position in counsellor_ids that takes the first shift
    weekdays: frozenset[int] = ALL_WEEKDAYS  # the local days covered (see "Weekdays")


@dataclass(frozen=True, slots=True)
class PlannedShift:
    counsellor_id: int
    tier: Tier
    start: datetime  # UTC
    end: datetime  # UTC


@dataclass(frozen=True, slots=True)
class RotationPlan:
    shifts: tuple[PlannedShift, ...]
    next_index: int  # position in counsellor_ids that takes the next shift
    next_first_day: date  # the local day the last shift ends, where a following run starts


def plan_rotation(request: RotationRequest) -> RotationPlan:
    """The shifts of ``request``, in time order; see the module docstring."""
    _validate(request)
    ids = request.counsellor_ids
    tier = Tier(request.tier)
    step = timedelta(days=request.shift_days)
    shifts: list[PlannedShift] = []
    index = request.start_index
    day = request.first_day
    while day <= request.last_day:
        runs = covered_runs(day, request.shift_days, request.weekdays)
        for first, days in runs:
            start, end = local_span(first, request.handoff, days, request.zone)
            if end - start > MAX_SHIFT_LENGTH:
                raise RotationError(
                    f"Die Schicht ab dem {first:%d.%m.%Y} wäre wegen der Zeitumstellung länger "
                    f"als {MAX_SHIFT_DAYS} Tage. Bitte wählen Sie kürzere Schichten.",
                    field="shift_days",
                )
            shifts.append(PlannedShift(ids[index], tier, start, end))
        if runs:
            index = (index + 1) % len(ids)
        day += step
    return RotationPlan(tuple(shifts), next_index=index, next_first_day=day)


def covered_runs(first_day: date, days: int, weekdays: frozenset[int]) -> list[tuple[date, int]]:
    """The runs of consecutive covered days of the turn of ``days`` days from ``first_day``:
    (first day of the run, its length in days)."""
    runs: list[tuple[date, int]] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        if runs and runs[-1][0] + timedelta(days=runs[-1][1]) == day:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    return runs


def continue_from(previous: RotationPlan, request: RotationRequest) -> RotationRequest:
    """``request`` with ``first_day`` and ``start_index`` taken from ``previous``, so that
    planning it continues the order where ``previous`` stopped.  Typically
    ``continue_from(plan, dataclasses.replace(old_request, last_day=new_last_day))``.

    The counsellor list should be the one ``previous`` was planned with: ``next_index`` is a
    position in it.  Raises ``RotationError`` (field ``last_day``) if ``previous`` already
    covers ``request.last_day``, i.e. there is nothing left to plan.
    """
    if request.last_day < previous.next_first_day:
        raise RotationError(
            f"Der bisherige Plan reicht bereits bis zum {previous.next_first_day:%d.%m.%Y}; "
            "der letzte Tag muss danach liegen.",
            field="last_day",
        )
    return dataclasses.replace(
        request, first_day=previous.next_first_day, start_index=previous.next_index
    )


def _validate(request: RotationRequest) -> None:
    ids = request.counsellor_ids
    if not ids:
        raise RotationError(
            "Bitte wählen Sie mindestens eine Beraterin oder einen Berater.",
            field="counsellor_ids",
        )
    if len(set(ids)) != len(ids):
        twice = ", ".join(str(i) for i, n in Counter(ids).items() if n > 1)
        raise RotationError(
            f"Jede Beraterin und jeder Berater darf nur einmal in der Reihenfolge stehen "
            f"(mehrfach: {twice}).",
            field="counsellor_ids",
        )
    days = request.shift_days
    if isinstance(days, bool) or not 1 <= days <= MAX_SHIFT_DAYS:
        raise RotationError(
            f"Eine Schicht dauert mindestens einen und höchstens {MAX_SHIFT_DAYS} Tage.",
            field="shift_days",
        )
    if isinstance(request.start_index, bool) or not 0 <= request.start_index < len(ids):
        raise RotationError(
            f"Die Startposition liegt außerhalb der Reihenfolge ({len(ids)} Einträge).",
            field="start_index",
        )
    if request.handoff.tzinfo is not None:
        raise RotationError(
            "Die Übergabezeit ist eine Uhrzeit ohne Zeitzone (Ortszeit).", field="handoff"
        )
    try:
        Tier(request.tier)
    except ValueError:
        raise RotationError("Diese Bereitschaftsstufe gibt es nicht.", field="tier") from None
    if request.last_day < request.first_day:
        raise RotationError("Der letzte Tag liegt vor dem ersten Tag.", field="last_day")
    weekdays = request.weekdays
    if not weekdays:
        raise RotationError("Bitte wählen Sie mindestens einen Wochentag.", field="weekdays")
    if any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
        raise RotationError("Wochentage sind 0 (Montag) bis 6 (Sonntag).", field="weekdays")
    if (request.last_day - request.first_day).days + 1 > MAX_RANGE_DAYS:
        raise RotationError(
            f"Der Zeitraum ist zu lang: höchstens {MAX_RANGE_DAYS} Tage auf einmal.",
            field="last_day",
        )


__all__ = [
    "ALL_WEEKDAYS",
    "MAX_RANGE_DAYS",
    "MAX_SHIFT_DAYS",
    "MAX_SHIFT_LENGTH",
    "PlannedShift",
    "RotationError",
    "RotationPlan",
    "RotationRequest",
    "continue_from",
    "covered_runs",
    "plan_rotation",
]
