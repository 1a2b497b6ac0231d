from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation.models import Tier
from scheduling.rota import (
    Absence,
    OnCall,
    Part,
    ShiftSpan,
    StandIn,
    gaps,
    local_span,
    next_change,
    on_call,
    timeline,
    worked,
)

BERLIN = ZoneInfo("Europe/Berlin")
BASE = datetime(2026, 3, 27, tzinfo=UTC)  # the grid spans the spring DST change (in UTC)
MINUTE = timedelta(minutes=1)
GRID_MINUTES = 2 * 24 * 60

PRIMARY, BACKUP = Tier.PRIMARY, Tier.BACKUP

# No example database: the tests must not leave files behind.
PROPERTY = settings(max_examples=150, deadline=None, database=None)


def at(minutes: int) -> datetime:
    return BASE + minutes * MINUTE


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def shift(who: int, tier: Tier, start: int, end: int) -> ShiftSpan:
    """Shift on the test grid, bounds in minutes after BASE."""
    return ShiftSpan(who, tier, at(start), at(end))


def stand_in(absent: int, substitute: int, start: int, end: int) -> StandIn:
    return StandIn(absent, substitute, at(start), at(end))


def away(who: int, start: int, end: int) -> Absence:
    return Absence(who, at(start), at(end))


# --- brute-force oracles: deliberately literal, no cleverness ---------------------------------


def oracle_on_call(
    shifts: Sequence[ShiftSpan],
    stand_ins: Sequence[StandIn],
    when: datetime,
    absences: Sequence[Absence] = (),
) -> OnCall:
    entries: dict[Tier, list[tuple[datetime, int]]] = {PRIMARY: [], BACKUP: []}
    for s in shifts:
        if s.start <= when < s.end:
            who = s.counsellor_id
            for si in stand_ins:  # later ones overwrite earlier ones: last wins
                if si.absent_id == s.counsellor_id and si.start <= when < si.end:
                    who = si.substitute_id
            if any(a.counsellor_id == who and a.start <= when < a.end for a in absences):
                continue  # whoever would serve is away: nobody does
            entries[s.tier].append((s.start, who))
    seen: set[int] = set()
    result: dict[Tier, tuple[int, ...]] = {}
    for tier in (PRIMARY, BACKUP):
        ids: list[int] = []
        for _, who in sorted(entries[tier]):
            if who not in seen:
                seen.add(who)
                ids.append(who)
        result[tier] = tuple(ids)
    return OnCall(result[PRIMARY], result[BACKUP])


def oracle_empty(oc: OnCall, tier: Tier | None) -> bool:
    if tier is None:
        return not oc.primary and not oc.backup
    return not (oc.primary if tier is PRIMARY else oc.backup)


def oracle_gaps(
    shifts: Sequence[ShiftSpan],
    stand_ins: Sequence[StandIn],
    start: datetime,
    end: datetime,
    tier: Tier | None,
    absences: Sequence[Absence] = (),
) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = []
    t = start
    while t < end:
        if oracle_empty(oracle_on_call(shifts, stand_ins, t, absences), tier):
            if found and found[-1][1] == t:
                found[-1] = (found[-1][0], t + MINUTE)
            else:
                found.append((t, t + MINUTE))
        t += MINUTE
    return found


def oracle_next_change(
    shifts: Sequence[ShiftSpan],
    stand_ins: Sequence[StandIn],
    after: datetime,
    absences: Sequence[Absence] = (),
) -> datetime | None:
    ends = [s.end for s in [*shifts, *stand_ins, *absences]]
    last = max(ends, default=after)
    current = oracle_on_call(shifts, stand_ins, after, absences)
    t = after + MINUTE
    while t <= last:
        if oracle_on_call(shifts, stand_ins, t, absences) != current:
            return t
        t += MINUTE
    return None


# --- strategies: minute grid, biased so that boundaries collide and spans overlap ------------

offsets = st.one_of(
    st.integers(0, 8).map(lambda quarters: quarters * 15),  # a crowded first two hours
    st.integers(0, GRID_MINUTES // 60).map(lambda hours: hours * 60),
    st.integers(0, GRID_MINUTES),
)
durations = st.one_of(
    st.integers(1, 8).map(lambda quarters: quarters * 15),
    st.integers(1, 24).map(lambda hours: hours * 60),
    st.integers(1, 18 * 60),
)
counsellor_ids = st.integers(1, 4)


@st.composite
def shift_spans(draw: st.DrawFn) -> ShiftSpan:
    start = draw(offsets)
    return shift(draw(counsellor_ids), draw(st.sampled_from(Tier)), start, start + draw(durations))


@st.composite
def stand_in_spans(draw: st.DrawFn) -> StandIn:
    start = draw(offsets)
    # Substitutes may themselves have shifts, be stood in for, or equal the absentee.
    return stand_in(draw(counsellor_ids), draw(st.integers(1, 5)), start, start + draw(durations))


@st.composite
def absence_spans(draw: st.DrawFn) -> Absence:
    start = draw(offsets)
    return away(draw(st.integers(1, 5)), start, start + draw(durations))


shift_lists = st.lists(shift_spans(), max_size=8)
stand_in_lists = st.lists(stand_in_spans(), max_size=5)
absence_lists = st.lists(absence_spans(), max_size=3)


def interesting_instants(
    shifts: Sequence[ShiftSpan], stand_ins: Sequence[StandIn], absences: Sequence[Absence] = ()
) -> set[datetime]:
    bounds = {t for s in [*shifts, *stand_ins, *absences] for t in (s.start, s.end)}
    return {t + d for t in bounds for d in (-MINUTE, timedelta(0), MINUTE)}


# --- properties ---------------------------------------------------------------------------------


@PROPERTY
@given(shift_lists, stand_in_lists, absence_lists, st.lists(offsets, max_size=10))
def test_on_call_matches_oracle(
    shifts: list[ShiftSpan], stand_ins: list[StandIn], absences: list[Absence], extra: list[int]
) -> None:
    for when in interesting_instants(shifts, stand_ins, absences) | {at(m) for m in extra}:
        expected = oracle_on_call(shifts, stand_ins, when, absences)
        assert on_call(shifts, stand_ins, when, absences) == expected
        # Generators are consumed once; the result must not depend on the container type.
        assert on_call(iter(shifts), iter(stand_ins), when, iter(absences)) == expected


@PROPERTY
@given(
    shift_lists,
    stand_in_lists,
    absence_lists,
    offsets,
    offsets,
    st.sampled_from([PRIMARY, BACKUP, None]),
)
def test_gaps_match_minute_sampling(
    shifts: list[ShiftSpan],
    stand_ins: list[StandIn],
    absences: list[Absence],
    a: int,
    b: int,
    tier: Tier | None,
) -> None:
    start, end = at(min(a, b)), at(max(a, b))
    assert gaps(shifts, stand_ins, start, end, tier, absences) == oracle_gaps(
        shifts, stand_ins, start, end, tier, absences
    )


@PROPERTY
@given(shift_lists, stand_in_lists, absence_lists, offsets)
def test_next_change_matches_minute_stepping(
    shifts: list[ShiftSpan], stand_ins: list[StandIn], absences: list[Absence], after: int
) -> None:
    expected = oracle_next_change(shifts, stand_ins, at(after), absences)
    assert next_change(shifts, stand_ins, at(after), absences) == expected


@PROPERTY
@given(shift_lists, stand_in_lists, absence_lists, offsets, offsets)
def test_timeline_segments_are_maximal_and_match_on_call(
    shifts: list[ShiftSpan], stand_ins: list[StandIn], absences: list[Absence], a: int, b: int
) -> None:
    start, end = at(min(a, b)), at(max(a, b))
    segments = timeline(shifts, stand_ins, start, end, absences)
    if start == end:
        assert segments == []
        return
    assert segments[0].start == start
    assert segments[-1].end == end
    for left, right in itertools.pairwise(segments):
        assert left.end == right.start
        assert left.on_call != right.on_call  # maximal: neighbours differ
    for segment in segments:
        for when in (segment.start, segment.end - MINUTE):
            assert oracle_on_call(shifts, stand_ins, when, absences) == segment.on_call


def oracle_worked_by(
    shift: ShiftSpan, stand_ins: Sequence[StandIn], when: datetime, absences: Sequence[Absence]
) -> int | None:
    """Who works `shift` at `when`, read literally off the rules."""
    who = shift.counsellor_id
    for si in stand_ins:
        if si.absent_id == shift.counsellor_id and si.start <= when < si.end:
            who = si.substitute_id
    if any(a.counsellor_id == who and a.start <= when < a.end for a in absences):
        return None
    return who


@PROPERTY
@given(shift_lists, stand_in_lists, absence_lists)
def test_worked_parts_cover_each_shift_and_agree_with_on_call(
    shifts: list[ShiftSpan], stand_ins: list[StandIn], absences: list[Absence]
) -> None:
    parts = worked(shifts, stand_ins, absences)
    assert len(parts) == len(shifts)
    for s, pieces in zip(shifts, parts, strict=True):
        assert pieces[0].start == s.start
        assert pieces[-1].end == s.end
        for left, right in itertools.pairwise(pieces):
            assert left.end == right.start
            assert left.by != right.by  # maximal
        for piece in pieces:
            assert piece.start < piece.end
            for when in (piece.start, piece.end - MINUTE):
                assert oracle_worked_by(s, stand_ins, when, absences) == piece.by
    # Whoever works a part at t is exactly who on_call lists at t, tier by tier.
    for when in interesting_instants(shifts, stand_ins, absences):
        working: dict[Tier, set[int]] = {PRIMARY: set(), BACKUP: set()}
        for s, pieces in zip(shifts, parts, strict=True):
            for piece in pieces:
                if piece.by is not None and piece.start <= when < piece.end:
                    working[s.tier].add(piece.by)
        expected = on_call(shifts, stand_ins, when, absences)
        assert working[PRIMARY] == set(expected.primary)
        assert working[BACKUP] - working[PRIMARY] == set(expected.backup)


def test_worked_cuts_a_shift_where_the_stand_in_and_the_absences_change_it() -> None:
    day = shift(1, PRIMARY, 0, 24 * 60)
    (parts,) = worked(
        [day],
        [stand_in(1, 2, 6 * 60, 12 * 60)],
        [away(1, 6 * 60, 18 * 60), away(2, 10 * 60, 11 * 60), away(3, 0, 60)],
    )
    assert [(p.start, p.end, p.by) for p in parts] == [
        (at(0), at(6 * 60), 1),
        (at(6 * 60), at(10 * 60), 2),
        (at(10 * 60), at(11 * 60), None),  # the substitute is away herself
        (at(11 * 60), at(12 * 60), 2),
        (at(12 * 60), at(18 * 60), None),  # absent, nobody named
        (at(18 * 60), at(24 * 60), 1),
    ]
    assert worked([day], [], []) == [(Part(at(0), at(24 * 60), 1),)]


def test_absence_opens_a_gap_and_a_stand_in_closes_it_whatever_the_order() -> None:
    day = [shift(1, PRIMARY, 0, 24 * 60)]
    holiday = [away(1, 6 * 60, 12 * 60)]
    assert gaps(day, [], at(0), at(24 * 60), absences=holiday) == [(at(6 * 60), at(12 * 60))]
    covered = [stand_in(1, 2, 0, 24 * 60)]  # entered before or after the absence: same result
    assert gaps(day, covered, at(0), at(24 * 60), absences=holiday) == []
    assert on_call(day, covered, at(7 * 60), holiday) == OnCall((2,), ())
    assert on_call(day, [], at(7 * 60), holiday) == OnCall((), ())


def test_an_absent_substitute_serves_nothing() -> None:
    day = [shift(1, PRIMARY, 0, 600), shift(3, BACKUP, 0, 600)]
    subs = [stand_in(1, 2, 0, 600)]
    assert on_call(day, subs, at(60), [away(2, 0, 120)]) == OnCall((), (3,))
    assert on_call(day, subs, at(180), [away(2, 0, 120)]) == OnCall((2,), (3,))


# --- stories --------------------------------------------------------------------------------


def test_primary_then_backup_in_calling_order() -> None:
    shifts = [
        shift(3, BACKUP, 0, 600),
        shift(2, PRIMARY, 60, 600),
        shift(1, PRIMARY, 0, 600),
        shift(4, PRIMARY, 60, 600),
    ]
    oc = on_call(shifts, [], at(120))
    assert oc == OnCall(primary=(1, 2, 4), backup=(3,))
    assert oc.tiers() == [(PRIMARY, (1, 2, 4)), (BACKUP, (3,))]
    assert oc.counsellors() == (1, 2, 4, 3)
    assert oc


def test_empty_on_call() -> None:
    oc = on_call([shift(1, BACKUP, 0, 60)], [], at(30))
    assert oc.tiers() == [(BACKUP, (1,))]
    empty = on_call([], [], at(30))
    assert not empty
    assert empty.tiers() == []
    assert empty.counsellors() == ()


def test_stand_in_replaces_primary_only_while_it_lasts() -> None:
    shifts = [shift(1, PRIMARY, 0, 600), shift(2, BACKUP, 0, 600)]
    stand_ins = [stand_in(1, 7, 120, 240)]
    assert on_call(shifts, stand_ins, at(119)).primary == (1,)
    assert on_call(shifts, stand_ins, at(120)).primary == (7,)
    assert on_call(shifts, stand_ins, at(239)).primary == (7,)
    assert on_call(shifts, stand_ins, at(240)).primary == (1,)
    assert next_change(shifts, stand_ins, at(0)) == at(120)
    assert next_change(shifts, stand_ins, at(120)) == at(240)


def test_stand_in_for_counsellor_without_shift_changes_nothing() -> None:
    shifts = [shift(1, PRIMARY, 0, 600)]
    stand_ins = [stand_in(9, 7, 0, 600)]
    assert on_call(shifts, stand_ins, at(60)) == on_call(shifts, [], at(60))
    assert next_change(shifts, stand_ins, at(0)) == at(600)


def test_last_stand_in_wins_and_substitutes_are_not_chained() -> None:
    shifts = [shift(1, PRIMARY, 0, 600)]
    stand_ins = [stand_in(1, 7, 0, 600), stand_in(1, 8, 0, 300), stand_in(8, 9, 0, 600)]
    assert on_call(shifts, stand_ins, at(60)).primary == (8,)  # not 9: no chaining
    assert on_call(shifts, stand_ins, at(300)).primary == (7,)
    # A later stand-in naming the absentee herself reinstates her.
    assert on_call(shifts, [*stand_ins, stand_in(1, 1, 0, 60)], at(30)).primary == (1,)


def test_counsellor_on_both_tiers_appears_once_as_primary() -> None:
    shifts = [shift(1, BACKUP, 0, 600), shift(1, PRIMARY, 60, 600), shift(2, BACKUP, 0, 600)]
    assert on_call(shifts, [], at(120)) == OnCall(primary=(1,), backup=(2,))


def test_substitute_already_on_call_appears_once() -> None:
    shifts = [shift(1, PRIMARY, 0, 600), shift(2, BACKUP, 0, 600)]
    stand_ins = [stand_in(1, 2, 0, 600)]
    assert on_call(shifts, stand_ins, at(60)) == OnCall(primary=(2,), backup=())
    # Nobody left to escalate to: that is a backup gap, though no backup shift is missing.
    assert gaps(shifts, stand_ins, at(0), at(600), BACKUP) == [(at(0), at(600))]
    assert gaps(shifts, [], at(0), at(600), BACKUP) == []


def test_daily_handoff_at_nine_local_leaves_no_gap() -> None:
    days = [date(2026, 3, 27) + timedelta(days=i) for i in range(4)]  # across the DST change
    shifts = [
        ShiftSpan(i + 1, PRIMARY, *local_span(day, time(9), 1, BERLIN))
        for i, day in enumerate(days)
    ]
    first, last = shifts[0].start, shifts[-1].end
    assert gaps(shifts, [], first, last) == []
    assert gaps(shifts, [], first, last, None) == []
    handoff = shifts[2].start
    assert handoff.astimezone(BERLIN).time() == time(9)
    assert on_call(shifts, [], handoff - MINUTE).primary == (2,)
    assert on_call(shifts, [], handoff).primary == (3,)


def test_gap_reported_where_a_shift_is_missing() -> None:
    shifts = [shift(1, PRIMARY, 0, 480), shift(2, PRIMARY, 600, 1440), shift(3, BACKUP, 0, 1440)]
    assert gaps(shifts, [], at(0), at(1440)) == [(at(480), at(600))]
    assert gaps(shifts, [], at(500), at(550)) == [(at(500), at(550))]  # clipped to the window
    assert gaps(shifts, [], at(-60), at(1500), None) == [(at(-60), at(0)), (at(1440), at(1500))]
    assert gaps(shifts, [], at(0), at(1440), BACKUP) == []


def test_gaps_empty_or_reversed_window() -> None:
    assert gaps([], [], at(60), at(60)) == []
    assert gaps([], [], at(60), at(0)) == []
    assert gaps([], [], at(0), at(60)) == [(at(0), at(60))]


def test_next_change_skips_boundaries_that_change_nothing() -> None:
    shifts = [shift(1, PRIMARY, 0, 300), shift(1, PRIMARY, 300, 600)]
    assert next_change(shifts, [stand_in(1, 1, 100, 200)], at(0)) == at(600)
    assert next_change(shifts, [], at(600)) is None
    assert next_change([], [], at(0)) is None


def test_next_change_reports_reordering() -> None:
    # Same people, new calling order: 2's shift started before 1's new one.
    shifts = [shift(1, PRIMARY, 0, 300), shift(2, PRIMARY, 60, 600), shift(1, PRIMARY, 300, 600)]
    assert on_call(shifts, [], at(120)).primary == (1, 2)
    assert on_call(shifts, [], at(300)).primary == (2, 1)
    assert next_change(shifts, [], at(120)) == at(300)


def test_local_span_spring_forward_lasts_23_hours() -> None:
    start, end = local_span(date(2026, 3, 28), time(9), 1, BERLIN)
    assert (start, end) == (utc(2026, 3, 28, 8), utc(2026, 3, 29, 7))
    assert end - start == timedelta(hours=23)


def test_local_span_fall_back_lasts_25_hours() -> None:
    start, end = local_span(date(2026, 10, 24), time(9), 1, BERLIN)
    assert (start, end) == (utc(2026, 10, 24, 7), utc(2026, 10, 25, 8))
    assert end - start == timedelta(hours=25)


def test_weekly_shift_across_fall_back() -> None:
    start, end = local_span(date(2026, 10, 19), time(9), 7, BERLIN)
    assert end - start == timedelta(hours=7 * 24 + 1)


def test_local_span_nonexistent_handoff_moves_forward() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin; it is read as 02:30+01:00 = 03:30 CEST.
    before, after = (
        local_span(date(2026, 3, 28), time(2, 30), 1, BERLIN),
        local_span(date(2026, 3, 29), time(2, 30), 1, BERLIN),
    )
    assert before[1] == after[0] == utc(2026, 3, 29, 1, 30)
    assert after[0].astimezone(BERLIN).time() == time(3, 30)
    assert before[1] - before[0] == timedelta(hours=24)
    assert after[1] - after[0] == timedelta(hours=23)


def test_local_span_ambiguous_handoff_takes_first_occurrence() -> None:
    start, _ = local_span(date(2026, 10, 25), time(2, 30, fold=1), 1, BERLIN)
    assert start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first 02:30


def test_local_span_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        local_span(date(2026, 3, 28), time(9), 0, BERLIN)
    with pytest.raises(ValueError, match="naive local wall-clock"):
        local_span(date(2026, 3, 28), time(9, tzinfo=UTC), 1, BERLIN)


def test_on_call_around_spring_forward_with_local_spans() -> None:
    night = ShiftSpan(1, PRIMARY, *local_span(date(2026, 3, 28), time(21), 1, BERLIN))
    day = ShiftSpan(2, PRIMARY, *local_span(date(2026, 3, 29), time(2, 30), 1, BERLIN))
    early = ShiftSpan(3, PRIMARY, *local_span(date(2026, 3, 28), time(9), 1, BERLIN))
    shifts = [night, day, early]
    # 02:30 UTC on 2026-03-29 is 04:30 CEST: all three shifts run, ordered by their start.
    assert on_call(shifts, [], utc(2026, 3, 29, 2, 30)).primary == (3, 1, 2)
    assert on_call(shifts, [], utc(2026, 3, 29, 1, 29)).primary == (3, 1)
    assert next_change(shifts, [], utc(2026, 3, 29, 1)) == utc(2026, 3, 29, 1, 30)
    # 09:00 CEST is 07:00 UTC: the early shift started at 09:00 CET and ends at 09:00 CEST.
    assert on_call(shifts, [], utc(2026, 3, 29, 6, 59)).primary == (3, 1, 2)
    assert on_call(shifts, [], utc(2026, 3, 29, 7)).primary == (1, 2)


def test_berlin_datetimes_are_compared_as_instants() -> None:
    # 02:30 CEST then 02:10 CET on 2026-10-25: 40 real minutes, though the wall clock goes back.
    start = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    end = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN)
    span = ShiftSpan(1, PRIMARY, start, end)
    assert (span.start, span.end) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 10))
    assert on_call([span], [], datetime(2026, 10, 25, 2, 5, fold=1, tzinfo=BERLIN)).primary == (1,)
    window = gaps([span], [], utc(2026, 10, 25), utc(2026, 10, 25, 2))
    assert window == [(utc(2026, 10, 25), span.start), (span.end, utc(2026, 10, 25, 2))]
    assert all(t.tzinfo is UTC for gap in window for t in gap)


def test_invalid_intervals_raise() -> None:
    with pytest.raises(ValueError, match="start before it ends"):
        shift(1, PRIMARY, 60, 60)
    with pytest.raises(ValueError, match="start before it ends"):
        stand_in(1, 2, 60, 0)


def test_tier_given_as_string_is_normalised() -> None:
    span = ShiftSpan(1, "backup", at(0), at(60))  # type: ignore[arg-type]
    assert span.tier is BACKUP
    with pytest.raises(ValueError, match="'standby'"):
        ShiftSpan(1, "standby", at(0), at(60))  # type: ignore[arg-type]


def test_naive_datetimes_raise() -> None:
    naive = datetime(2026, 3, 28, 9)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        ShiftSpan(1, PRIMARY, naive, at(60))
    with pytest.raises(ValueError, match="timezone-aware"):
        StandIn(1, 2, at(0), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call([], [], naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        gaps([], [], naive, at(60))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_change([], [], naive)
