from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from config.model import HotlineConfig
from foundation.db import Database
from foundation.models import AuditEntry, Shift, Tier
from scheduling import shifts as shift_cases
from scheduling.rota import ShiftSpan, gaps, local_span
from scheduling.rotation import (
    ALL_WEEKDAYS,
    MAX_RANGE_DAYS,
    MAX_SHIFT_LENGTH,
    PlannedShift,
    RotationError,
    RotationPlan,
    RotationRequest,
    continue_from,
    covered_runs,
    plan_rotation,
)
from scheduling.rotation_save import RotationClash, save_rotation
from tests.conftest import add_counsellor

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [
    BERLIN,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # half-hour DST, southern hemisphere
    ZoneInfo("Asia/Kolkata"),  # no DST
    ZoneInfo("UTC"),
]
HOUR = timedelta(hours=1)

# No example database: the tests must not leave files behind.
PROPERTY = settings(max_examples=100, deadline=None, database=None)


def request(**changes: Any) -> RotationRequest:
    base = RotationRequest(
        counsellor_ids=(11, 12, 13),
        shift_days=1,
        handoff=time(9),
        tier=Tier.PRIMARY,
        first_day=date(2026, 3, 27),
        last_day=date(2026, 3, 31),
        zone=BERLIN,
    )
    return dataclasses.replace(base, **changes)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(shift: PlannedShift) -> float:
    return (shift.end - shift.start) / HOUR


def wall(day: date, handoff: time, zone: ZoneInfo) -> datetime:
    """The handoff on `day` as an aware local datetime, first occurrence if ambiguous."""
    return datetime.combine(day, handoff.replace(fold=0), tzinfo=zone)


def exists(local: datetime) -> bool:
    """Whether the wall-clock time really occurs (is not skipped by a spring-forward)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


# --- strategies ------------------------------------------------------------------------------

handoffs = st.one_of(
    st.sampled_from([time(0), time(2, 30), time(2, 30, fold=1), time(3), time(9), time(23, 59)]),
    st.times(),
)
first_days = st.dates(date(2025, 1, 1), date(2027, 12, 31))


@st.composite
def requests(draw: st.DrawFn, max_length: int = 120) -> RotationRequest:
    ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=6, unique=True))
    first_day = draw(first_days)
    return RotationRequest(
        counsellor_ids=tuple(ids),
        # 31 is excluded: a 31-day shift over an autumn change is refused (tested below).
        shift_days=draw(st.one_of(st.sampled_from([1, 7, 14]), st.integers(1, 30))),
        handoff=draw(handoffs),
        tier=draw(st.sampled_from(Tier)),
        first_day=first_day,
        last_day=first_day + timedelta(days=draw(st.integers(0, max_length))),
        zone=draw(st.sampled_from(ZONES)),
        start_index=draw(st.integers(0, len(ids) - 1)),
    )


# --- properties ------------------------------------------------------------------------------


@PROPERTY
@given(requests())
def test_shifts_are_contiguous_from_the_first_handoff(req: RotationRequest) -> None:
    plan = plan_rotation(req)
    assert plan.shifts
    assert plan.shifts[0].start == wall(req.first_day, req.handoff, req.zone).astimezone(UTC)
    # In UTC: an ambiguous (autumn) wall time never compares equal across zones (PEP 495).
    assert plan.shifts[-1].end == wall(plan.next_first_day, req.handoff, req.zone).astimezone(UTC)
    for before, after in zip(plan.shifts, plan.shifts[1:], strict=False):
        assert before.end == after.start  # no gap, no overlap
    for s in plan.shifts:
        assert s.start < s.end
        assert s.start.tzinfo is UTC
        assert s.end.tzinfo is UTC
        assert s.tier is req.tier
    spans = [ShiftSpan(s.counsellor_id, s.tier, s.start, s.end) for s in plan.shifts]
    assert gaps(spans, [], plan.shifts[0].start, plan.shifts[-1].end, req.tier) == []


@PROPERTY
@given(requests())
def test_every_shift_is_shift_days_local_days_long(req: RotationRequest) -> None:
    plan = plan_rotation(req)
    step = timedelta(days=req.shift_days)
    for k, s in enumerate(plan.shifts):
        day = req.first_day + k * step
        begins, ends = wall(day, req.handoff, req.zone), wall(day + step, req.handoff, req.zone)
        # In UTC: wall times in a gap or a fold never compare equal across zones (PEP 495).
        assert (s.start, s.end) == (begins.astimezone(UTC), ends.astimezone(UTC))
        local_start, local_end = s.start.astimezone(req.zone), s.end.astimezone(req.zone)
        assert (local_end.date() - local_start.date()) == step
        for local, intended in ((local_start, begins), (local_end, ends)):
            if exists(intended):
                assert local.time() == req.handoff.replace(fold=0)
        # Real length: the local days, corrected by the change of UTC offset in between.
        offset_change = ends.utcoffset() - begins.utcoffset()  # type: ignore[operator]
        assert s.end - s.start == step - offset_change
        assert abs(s.end - s.start - step) <= HOUR
        assert s.end - s.start <= MAX_SHIFT_LENGTH


@PROPERTY
@given(requests())
def test_counsellors_take_turns_from_start_index(req: RotationRequest) -> None:
    plan = plan_rotation(req)
    ids, n = req.counsellor_ids, len(req.counsellor_ids)
    rotated = ids[req.start_index :] + ids[: req.start_index]
    assert [s.counsellor_id for s in plan.shifts] == [
        rotated[k % n] for k in range(len(plan.shifts))
    ]
    assert plan.next_index == (req.start_index + len(plan.shifts)) % n
    # Shifts start on every shift_days-th day up to last_day inclusive, and no further.
    span_days = (req.last_day - req.first_day).days + 1
    assert len(plan.shifts) == -(-span_days // req.shift_days)
    last_start = req.first_day + (len(plan.shifts) - 1) * timedelta(days=req.shift_days)
    assert last_start <= req.last_day < plan.next_first_day
    assert plan.next_first_day == last_start + timedelta(days=req.shift_days)


@PROPERTY
@given(requests(max_length=60), st.integers(0, 90))
def test_two_periods_with_continuation_equal_one_run(req: RotationRequest, more: int) -> None:
    first = plan_rotation(req)
    following = dataclasses.replace(req, last_day=req.last_day + timedelta(days=more))
    whole = plan_rotation(following)
    if following.last_day < first.next_first_day:
        # The first plan's last shift already reaches past the new last day.
        with pytest.raises(RotationError) as caught:
            continue_from(first, following)
        assert caught.value.field == "last_day"
        assert whole == first
        return
    second = plan_rotation(continue_from(first, following))
    assert first.shifts[-1].end == second.shifts[0].start
    assert whole == RotationPlan(
        first.shifts + second.shifts, second.next_index, second.next_first_day
    )


@PROPERTY
@given(requests(max_length=30), st.integers(1, 30), st.integers(0, 40))
def test_continuation_with_another_shift_length(
    req: RotationRequest, shift_days: int, more: int
) -> None:
    first = plan_rotation(req)
    following = dataclasses.replace(
        req, shift_days=shift_days, last_day=first.next_first_day + timedelta(days=more)
    )
    second = plan_rotation(continue_from(first, following))
    assert first.shifts[-1].end == second.shifts[0].start
    assert second.shifts[0].counsellor_id == req.counsellor_ids[first.next_index]
    n = len(req.counsellor_ids)
    assert second.next_index == (req.start_index + len(first.shifts) + len(second.shifts)) % n


# --- DST stories -----------------------------------------------------------------------------


def test_daily_shifts_over_spring_forward() -> None:
    plan = plan_rotation(request(first_day=date(2026, 3, 27), last_day=date(2026, 3, 30)))
    assert [s.start.date() for s in plan.shifts] == [date(2026, 3, d) for d in (27, 28, 29, 30)]
    assert [hours(s) for s in plan.shifts] == [24, 23, 24, 24]
    on_28th = plan.shifts[1]
    assert (on_28th.start, on_28th.end) == (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7))
    assert [s.counsellor_id for s in plan.shifts] == [11, 12, 13, 11]
    assert plan.next_index == 1
    assert plan.next_first_day == date(2026, 3, 31)


def test_daily_shifts_over_fall_back() -> None:
    plan = plan_rotation(request(first_day=date(2026, 10, 24), last_day=date(2026, 10, 25)))
    on_24th, on_25th = plan.shifts
    assert (on_24th.start, on_24th.end) == (utc(2026, 10, 24, 7), utc(2026, 10, 25, 8))
    assert hours(on_24th) == 25
    assert hours(on_25th) == 24
    assert on_25th.start.astimezone(BERLIN).time() == time(9)


def test_weekly_rotation_over_fall_back() -> None:
    plan = plan_rotation(
        request(shift_days=7, first_day=date(2026, 10, 12), last_day=date(2026, 11, 1))
    )
    assert [hours(s) for s in plan.shifts] == [7 * 24, 7 * 24 + 1, 7 * 24]
    across = plan.shifts[1]
    assert across.start == utc(2026, 10, 19, 7)  # 09:00 CEST
    assert across.end == utc(2026, 10, 26, 8)  # 09:00 CET
    assert plan.next_first_day == date(2026, 11, 2)


def test_last_shift_is_not_cut_at_last_day() -> None:
    plan = plan_rotation(
        request(shift_days=7, first_day=date(2026, 4, 1), last_day=date(2026, 4, 30))
    )
    assert len(plan.shifts) == 5  # starts 1, 8, 15, 22, 29 April
    assert plan.shifts[-1].end == local_span(date(2026, 4, 29), time(9), 7, BERLIN)[1]
    assert plan.next_first_day == date(2026, 5, 6)
    assert plan.next_index == 5 % 3


def test_handoff_in_the_spring_gap_moves_forward_on_that_day_only() -> None:
    plan = plan_rotation(
        request(handoff=time(2, 30), first_day=date(2026, 3, 28), last_day=date(2026, 3, 30))
    )
    local_starts = [s.start.astimezone(BERLIN).time() for s in plan.shifts]
    assert local_starts == [time(2, 30), time(3, 30), time(2, 30)]
    assert [hours(s) for s in plan.shifts] == [24, 23, 24]


def test_ambiguous_handoff_takes_first_occurrence_whatever_the_fold() -> None:
    kwargs: dict[str, Any] = {"first_day": date(2026, 10, 24), "last_day": date(2026, 10, 26)}
    plan = plan_rotation(request(handoff=time(2, 30), **kwargs))
    assert plan == plan_rotation(request(handoff=time(2, 30, fold=1), **kwargs))
    assert plan.shifts[1].start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert [hours(s) for s in plan.shifts] == [24, 25, 24]


def test_single_counsellor_takes_every_shift() -> None:
    plan = plan_rotation(request(counsellor_ids=(7,), last_day=date(2026, 3, 29)))
    assert [s.counsellor_id for s in plan.shifts] == [7, 7, 7]
    assert plan.next_index == 0


def test_start_index_continues_the_order() -> None:
    plan = plan_rotation(request(start_index=2, last_day=date(2026, 3, 30)))
    assert [s.counsellor_id for s in plan.shifts] == [13, 11, 12, 13]
    assert plan.next_index == 0


def test_continue_from_copies_day_and_position() -> None:
    april = request(shift_days=7, first_day=date(2026, 4, 1), last_day=date(2026, 4, 30))
    plan = plan_rotation(april)
    may = continue_from(plan, dataclasses.replace(april, last_day=date(2026, 5, 31)))
    assert may == dataclasses.replace(
        april, first_day=date(2026, 5, 6), last_day=date(2026, 5, 31), start_index=2
    )
    with pytest.raises(RotationError, match=r"06\.05\.2026") as caught:
        continue_from(plan, dataclasses.replace(april, last_day=date(2026, 5, 5)))
    assert caught.value.field == "last_day"


def test_planned_shifts_fit_the_database_limit() -> None:
    assert MAX_SHIFT_LENGTH == shift_cases.MAX_SHIFT
    fine = plan_rotation(
        request(shift_days=31, first_day=date(2026, 1, 1), last_day=date(2026, 1, 1))
    )
    assert hours(fine.shifts[0]) == 31 * 24
    spring = plan_rotation(
        request(shift_days=31, first_day=date(2026, 3, 20), last_day=date(2026, 3, 20))
    )
    assert hours(spring.shifts[0]) == 31 * 24 - 1
    with pytest.raises(RotationError, match="Zeitumstellung") as caught:
        plan_rotation(
            request(shift_days=31, first_day=date(2026, 10, 1), last_day=date(2026, 10, 1))
        )
    assert caught.value.field == "shift_days"


# --- weekdays ----------------------------------------------------------------------------------

MON_FRI, WEEKEND = frozenset(range(5)), frozenset({5, 6})
some_weekdays = st.frozensets(st.integers(0, 6), min_size=1, max_size=6)


def local_day(shift: PlannedShift, zone: ZoneInfo) -> date:
    return shift.start.astimezone(zone).date()


@PROPERTY
@given(requests(), some_weekdays)
def test_a_rotation_and_its_complement_tile_the_whole_run(
    req: RotationRequest, weekdays: frozenset[int]
) -> None:
    """The days a rotation skips are exactly the days another one, covering the other
    weekdays, fills: together they lay out every turn of the all-days plan, no gap, no overlap."""
    whole = plan_rotation(req)
    some = plan_rotation(dataclasses.replace(req, weekdays=weekdays))
    rest = plan_rotation(dataclasses.replace(req, weekdays=ALL_WEEKDAYS - weekdays))
    assert some.next_first_day == rest.next_first_day == whole.next_first_day
    both = sorted(some.shifts + rest.shifts, key=lambda s: s.start)
    assert both[0].start == whole.shifts[0].start
    assert both[-1].end == whole.shifts[-1].end
    for before, after in itertools.pairwise(both):
        assert before.end == after.start
    for plan, covered in ((some, weekdays), (rest, ALL_WEEKDAYS - weekdays)):
        for s in plan.shifts:
            first = local_day(s, req.zone)
            # Every day of the shift is covered; it starts and ends at a handoff of its days.
            local_days = (s.end.astimezone(req.zone).date() - first).days
            assert local_days >= 1
            assert all((first + timedelta(days=k)).weekday() in covered for k in range(local_days))
            assert (s.start, s.end) == local_span(first, req.handoff, local_days, req.zone)


@PROPERTY
@given(requests(), some_weekdays)
def test_skipped_turns_use_nobodys_turn(req: RotationRequest, weekdays: frozenset[int]) -> None:
    plan = plan_rotation(dataclasses.replace(req, weekdays=weekdays))
    turns: dict[int, set[int]] = {}
    for s in plan.shifts:
        turn = (local_day(s, req.zone) - req.first_day).days // req.shift_days
        turns.setdefault(turn, set()).add(s.counsellor_id)
    ids, n = req.counsellor_ids, len(req.counsellor_ids)
    rotated = ids[req.start_index :] + ids[: req.start_index]
    assert [turns[t] for t in sorted(turns)] == [{rotated[k % n]} for k in range(len(turns))]
    assert plan.next_index == (req.start_index + len(turns)) % n


@PROPERTY
@given(requests(max_length=60), st.integers(0, 90), some_weekdays)
def test_continuation_on_some_weekdays_equals_one_run(
    req: RotationRequest, more: int, weekdays: frozenset[int]
) -> None:
    req = dataclasses.replace(req, weekdays=weekdays)
    first = plan_rotation(req)
    following = dataclasses.replace(req, last_day=req.last_day + timedelta(days=more))
    whole = plan_rotation(following)
    if following.last_day < first.next_first_day:
        assert whole == first
        return
    second = plan_rotation(continue_from(first, following))
    assert whole == RotationPlan(
        first.shifts + second.shifts, second.next_index, second.next_first_day
    )


def test_covered_runs_of_a_turn() -> None:
    wednesday = date(2026, 3, 25)
    assert covered_runs(wednesday, 7, ALL_WEEKDAYS) == [(wednesday, 7)]
    assert covered_runs(wednesday, 7, MON_FRI) == [(wednesday, 3), (date(2026, 3, 30), 2)]
    assert covered_runs(wednesday, 7, WEEKEND) == [(date(2026, 3, 28), 2)]
    assert covered_runs(wednesday, 2, WEEKEND) == []


def test_weekdays_and_weekend_rotations_over_spring_forward() -> None:
    """A working-week rotation and a weekend one, both weekly from Monday, over the week of
    2026-03-29 (clocks go forward on Sunday): they meet at Saturday's and Monday's handoff."""
    weekly = request(shift_days=7, first_day=date(2026, 3, 23), last_day=date(2026, 4, 5))
    week = plan_rotation(dataclasses.replace(weekly, weekdays=MON_FRI))
    weekend = plan_rotation(dataclasses.replace(weekly, counsellor_ids=(21, 22), weekdays=WEEKEND))
    assert [(s.counsellor_id, s.start, s.end) for s in week.shifts] == [
        (11, utc(2026, 3, 23, 8), utc(2026, 3, 28, 8)),  # Mon 09:00 CET → Sat 09:00 CET
        (12, utc(2026, 3, 30, 7), utc(2026, 4, 4, 7)),  # the next week, in summer time
    ]
    assert [(s.counsellor_id, s.start, s.end) for s in weekend.shifts] == [
        (21, utc(2026, 3, 28, 8), utc(2026, 3, 30, 7)),  # Sat 09:00 CET → Mon 09:00 CEST
        (22, utc(2026, 4, 4, 7), utc(2026, 4, 6, 7)),
    ]
    assert [hours(s) for s in weekend.shifts] == [47, 48]
    assert (week.next_index, weekend.next_index) == (2, 0)
    assert week.next_first_day == weekend.next_first_day == date(2026, 4, 6)


def test_daily_weekdays_over_fall_back_skip_the_weekend_without_a_turn() -> None:
    plan = plan_rotation(
        request(first_day=date(2026, 10, 22), last_day=date(2026, 10, 27), weekdays=MON_FRI)
    )
    days = [(local_day(s, BERLIN), s.counsellor_id, hours(s)) for s in plan.shifts]
    assert days == [
        (date(2026, 10, 22), 11, 24),  # Thursday
        (date(2026, 10, 23), 12, 24),  # Friday, ends Saturday 09:00 CEST
        (date(2026, 10, 26), 13, 24),  # Monday: the weekend took no turn
        (date(2026, 10, 27), 11, 24),
    ]
    weekend = plan_rotation(
        request(first_day=date(2026, 10, 22), last_day=date(2026, 10, 27), weekdays=WEEKEND)
    )
    assert [(local_day(s, BERLIN), hours(s)) for s in weekend.shifts] == [
        (date(2026, 10, 24), 25),  # Saturday 09:00 CEST → Sunday 09:00 CET
        (date(2026, 10, 25), 24),
    ]
    assert plan.next_first_day == weekend.next_first_day == date(2026, 10, 28)


def test_a_weekly_turn_from_midweek_keeps_one_counsellor_for_both_parts() -> None:
    midweek = request(shift_days=7, first_day=date(2026, 11, 25), last_day=date(2026, 12, 2))
    plan = plan_rotation(dataclasses.replace(midweek, weekdays=MON_FRI))
    assert [(local_day(s, BERLIN), s.counsellor_id, hours(s)) for s in plan.shifts] == [
        (date(2026, 11, 25), 11, 72),  # Wed 09:00 → Sat 09:00
        (date(2026, 11, 30), 11, 48),  # Mon 09:00 → Wed 09:00, the same turn
        (date(2026, 12, 2), 12, 72),
        (date(2026, 12, 7), 12, 48),
    ]


def test_a_period_without_a_covered_day_plans_nothing() -> None:
    plan = plan_rotation(
        request(first_day=date(2026, 11, 23), last_day=date(2026, 11, 27), weekdays=WEEKEND)
    )
    assert plan == RotationPlan((), next_index=0, next_first_day=date(2026, 11, 28))


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"counsellor_ids": ()}, "counsellor_ids", "mindestens eine"),
        ({"counsellor_ids": (1, 2, 1, 3, 2)}, "counsellor_ids", r"nur einmal.*mehrfach: 1, 2"),
        ({"shift_days": 0}, "shift_days", "höchstens 31 Tage"),
        ({"shift_days": -7}, "shift_days", "höchstens 31 Tage"),
        ({"shift_days": 32}, "shift_days", "höchstens 31 Tage"),
        ({"shift_days": True}, "shift_days", "höchstens 31 Tage"),
        ({"start_index": 3}, "start_index", r"außerhalb der Reihenfolge \(3 Einträge\)"),
        ({"start_index": -1}, "start_index", "außerhalb der Reihenfolge"),
        ({"handoff": time(9, tzinfo=UTC)}, "handoff", "ohne Zeitzone"),
        ({"handoff": time(9, tzinfo=BERLIN)}, "handoff", "ohne Zeitzone"),
        ({"tier": "standby"}, "tier", "Bereitschaftsstufe"),
        ({"weekdays": frozenset()}, "weekdays", "mindestens einen Wochentag"),
        ({"weekdays": frozenset({0, 7})}, "weekdays", r"0 \(Montag\) bis 6 \(Sonntag\)"),
        ({"weekdays": frozenset({-1})}, "weekdays", "bis 6"),
        ({"weekdays": frozenset({True})}, "weekdays", "bis 6"),
        ({"last_day": date(2026, 3, 26)}, "last_day", "Der letzte Tag liegt vor dem ersten Tag."),
        (
            {"last_day": date(2026, 3, 27) + timedelta(days=MAX_RANGE_DAYS)},
            "last_day",
            "höchstens 400 Tage",
        ),
    ],
)
def test_invalid_requests_name_the_field(changes: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(RotationError, match=message) as caught:
        plan_rotation(request(**changes))
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert caught.value.message == str(caught.value)


def test_limits_themselves_are_accepted() -> None:
    longest = request(last_day=date(2026, 3, 27) + timedelta(days=MAX_RANGE_DAYS - 1))
    assert len(plan_rotation(longest).shifts) == MAX_RANGE_DAYS
    one_day = plan_rotation(request(last_day=date(2026, 3, 27), start_index=2))
    assert [s.counsellor_id for s in one_day.shifts] == [13]


def test_tier_given_as_string_is_normalised() -> None:
    plan = plan_rotation(request(tier="backup", last_day=date(2026, 3, 27)))
    assert plan.shifts[0].tier is Tier.BACKUP


def test_plan_is_deterministic() -> None:
    req = request(shift_days=3, last_day=date(2026, 5, 1))
    assert plan_rotation(req) == plan_rotation(req)


# --- saving a plan (scheduling.rotation_save) ---------------------------------------------------


def test_a_saved_rotation_is_all_or_nothing(database: Database, config: HotlineConfig) -> None:
    """The rota page's "Speichern" without HTTP: the plan is saved whole, or (one shift in
    the way) nothing of it, and the clash names the refused start."""
    with database.write() as session:
        anna = add_counsellor(session, config, "islamism", name="Anna").id
        ben = add_counsellor(session, config, "islamism", name="Ben").id
    plan = plan_rotation(request(counsellor_ids=(anna, ben), last_day=date(2026, 3, 30)))
    with database.write() as session:
        saved = save_rotation(session, config, "islamism", plan.shifts[:2], actor="tests")
    assert [(s.counsellor_id, s.start_at) for s in saved] == [
        (p.counsellor_id, p.start) for p in plan.shifts[:2]
    ]
    with database.read() as session:
        before = (
            session.scalar(select(func.count(Shift.id))),
            session.scalar(select(func.count(AuditEntry.id))),
        )
    with database.write() as session:
        with pytest.raises(RotationClash) as clash:
            save_rotation(session, config, "islamism", plan.shifts, actor="tests")
        assert clash.value.starts == [p.start for p in plan.shifts[:2]]
        assert session.scalar(select(func.count(Shift.id))) == before[0]  # rolled back here
    with database.read() as session:
        after = (
            session.scalar(select(func.count(Shift.id))),
            session.scalar(select(func.count(AuditEntry.id))),
        )
    assert after == before
