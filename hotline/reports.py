"""The telephony half of a team's report (issue 17): calls, callers, voicemails, callback
requests, call-backs and the text relay of each of the team's lines, for a period and the
previous one (`foundation.reports` holds the shape and the protection of small counts).

Everything is counted in the database, both periods at once: the calls in one statement
(everything per caller, then per line; the ring and talk histograms), one scan of the calls
(on PostgreSQL grouping sets; the `(line, started_at)` index covers it); the tasks,
call-backs and the relay in two more (`_Batch`: their counts, their histograms); distinct
people are counted by grouping per person first, never COUNT(DISTINCT) (a sort each). Python
only folds the grouped rows. Local weekdays and hours
(Europe/Berlin, across DST) are computed in SQL from the epoch plus the zone's offset, which is
constant between the transitions found in Python (`offsets`): the same expression on SQLite
and PostgreSQL. Percentiles come from histograms (seconds → how many) grouped in SQL.

Call records older than `[retention] calls_days` are rolled up into daily aggregates
(`roll_up`, run by the retention job before it deletes them); the figures read detail rows
and roll-up rows seamlessly, days before the oldest kept detail coming from the roll-up.
What a roll-up cannot keep: which callers called (first-time and repeat callers, and the
distinct callers of a period, count only days still in detail), and the distinct callers of
a cell across days (the largest day's count is used: a lower bound, so more is suppressed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from config.model import HotlineConfig, ServiceHours
from foundation import call_tallies
from foundation import reports as r
from foundation.models import (
    Call,
    CallbackRequest,
    CallDay,
    CallDayHour,
    CallDaySeconds,
    CallMonth,
    CallTally,
    CallTallySecond,
    Conversation,
    ConversationMessage,
    Direction,
    OutboundCall,
    TaskStatus,
    Voicemail,
)

CATEGORIES = ("accepted", "fallback", "voicemail", "abandoned", "outside_hours")
TIERS = ("primary", "backup", "")  # "": accepted, tier not known
NOW, BEFORE = 1, 0  # the period key of grouped rows
RING, PER_CALLER, TALK = 1, 2, 3  # the kinds of rows of the calls' first grouping
LANGUAGE_ROWS = -100  # the tag of the languages' rows in the calls' statement
HEAT_ROWS = -200  # the tag of the heat map's rows in the tallies' statement

Key = tuple[int, str]  # (period key, line)


# --- local time in SQL -------------------------------------------------------------------


def offsets(start: datetime, end: datetime, zone: Any) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets (seconds) over [start, end): (from this instant, offset), the
    first from `start`. Found day by day, the transition to the hour (enough for zones that
    change on the hour, as Europe/Berlin does)."""
    found = [(start, _offset(start, zone))]
    day = start
    while day < end:
        following = min(day + timedelta(days=1), end)
        if _offset(following, zone) != found[-1][1]:
            hour = day
            while _offset(hour, zone) == found[-1][1]:
                hour += timedelta(hours=1)
            found.append((hour, _offset(hour, zone)))
        day = following
    return found


def _offset(instant: datetime, zone: Any) -> int:
    offset = instant.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def epoch(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970 of a stored instant, its fraction dropped (as SQLite's
    strftime('%s') does: 10:59:59.7 is in the hour of 10:00). On PostgreSQL from date_part's
    double precision, not EXTRACT's numeric: numeric arithmetic on every call of a year cost
    as much as grouping them (bench/README.md), and a numeric cast to bigint rounds."""
    if dialect == "postgresql":
        return cast(func.floor(func.date_part("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def local_seconds(column: Any, dialect: str, zones: Sequence[tuple[datetime, int]]) -> Any:
    """The local wall clock of an instant as seconds since 1970-01-01 00:00 local."""
    if len(zones) == 1:
        return epoch(column, dialect) + zones[0][1]
    whens = [(column < zones[i + 1][0], zones[i][1]) for i in range(len(zones) - 1)]
    return epoch(column, dialect) + case(*whens, else_=zones[-1][1])


def hour_of_week(seconds: Any) -> Any:
    """0 (Monday 00:00) to 167 (Sunday 23:00) of local seconds (1970-01-01 was a Thursday,
    72 hours after a Monday's midnight): the seconds evaluated once per row, not twice."""
    return (seconds // 3600 + 72) % 168


EPOCH_DAY = date(1970, 1, 1)


# --- the category of a call ----------------------------------------------------------------


def category() -> Any:
    """What became of a call, one of CATEGORIES, or None while it is in progress."""
    return case(
        (Call.closed_reason.is_not(None), "outside_hours"),
        (Call.outcome == "accepted", "accepted"),
        (Call.outcome == "fallback", "fallback"),
        (Call.outcome == "voicemail", "voicemail"),
        (Call.outcome == "hung_up", "abandoned"),
        else_=None,
    )


def counted() -> Any:
    """The calls `category` gives one of CATEGORIES (not in progress), as plain predicates
    (the planner estimates these; a CASE it guesses, and PostgreSQL then chose a seq scan)."""
    return or_(Call.closed_reason.is_not(None), Call.outcome.in_(_OUTCOMES))


def accepted() -> Any:
    """The calls whose category is "accepted"."""
    return and_(Call.closed_reason.is_(None), Call.outcome == "accepted")


_OUTCOMES = ("accepted", "fallback", "voicemail", "hung_up")


def _people(hash_column: Any) -> tuple[Any, Any]:
    """Distinct hashes, and rows without one (each counted as a person of its own)."""
    return (
        func.count(distinct(hash_column)),
        func.sum(case((hash_column.is_(None), 1), else_=0)),
    )


# --- collecting ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Raw:
    """What the queries found, per (period key, line)."""

    categories: dict[tuple[int, str, str], r.Raw]
    tiers: dict[tuple[int, str, str], r.Raw]
    callers: dict[Key, r.Raw]
    first_time: dict[Key, r.Raw]
    relatives: dict[Key, r.Raw]
    ring: dict[Key, r.RawTiming]
    talk: dict[Key, r.RawTiming]
    heat: dict[tuple[str, int], r.Raw]
    total_people: dict[Key, int]
    languages: dict[tuple[int, str, str], tuple[r.Raw, r.Raw, r.Raw]]
    """(period key, line, language or "unknown") → its calls, accepted calls, and the rest."""

    def add(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        table[key] = table[key] + value if key in table else value

    def add_language(self, key: tuple[int, str, str], *found: r.Raw) -> None:
        known = self.languages.get(key, (r.ZERO, r.ZERO, r.ZERO))
        calls, accepted_, rest = (a + b for a, b in zip(known, found, strict=True))
        self.languages[key] = (calls, accepted_, rest)


def _empty() -> _Raw:
    return _Raw({}, {}, {}, {}, {}, {}, {}, {}, {}, {})


class _Window:
    """Both periods over the lines: the rows' filter and the period key of a row, from the
    instants where the previous period starts, the period starts and it ends."""

    lines: list[str]
    dialect: str
    previous_start: Any
    period_start: Any
    period_end: Any

    def where(self, column: Any = Call.started_at, line: Any = Call.line) -> list[Any]:
        return [line.in_(self.lines), column >= self.previous_start, column < self.period_end]

    def key(self, column: Any = Call.started_at) -> Any:
        return case((column < self.period_start, BEFORE), else_=NOW)


class _Scope(_Window):
    """The window of a report's two periods, its instants in the statements."""

    def __init__(self, lines: Sequence[str], period: r.Period, dialect: str) -> None:
        self.lines, self.period, self.previous = list(lines), period, period.previous()
        self.dialect = dialect
        self.previous_start, self.period_start = self.previous.start, period.start
        self.period_end = period.end
        self.detail_since = self.previous.first  # lowered to the oldest kept detail's day

    def day_key(self, column: Any) -> Any:
        return case((column < self.period.first, BEFORE), else_=NOW)


def _per_person(counts: Sequence[Any], person: Any) -> list[Any]:
    """Of per-person subtotals (a subquery grouped by person, `counts` its columns): for each,
    the total and its people (distinct persons with any; rows without a person each count as
    one). Two-level aggregation: the database hashes the rows by person once instead of
    sorting them for every COUNT(DISTINCT ...)."""
    found: list[Any] = []
    for n in counts:
        found += [
            func.coalesce(func.sum(n), 0),
            func.coalesce(func.sum(case((person.is_(None), n), (n > 0, 1), else_=0)), 0),
        ]
    return found


def _calls(session: Session, scope: _Scope, raw: _Raw) -> None:
    """The calls of both periods in one statement over one scan: outcomes, tiers, callers,
    first-time callers, relatives, the heat map, and the ring and talk histograms. The calls
    are grouped per caller and hour of the week first (`fine`), so that the distinct callers of
    a cell are a plain count of the next grouping: the database hashes each row once instead
    of sorting the rows for every COUNT(DISTINCT ...). The same grouping counts the accepted
    calls per ring and per talk second (on PostgreSQL grouping sets of the one scan; SQLite,
    which has none, reads the calls three times)."""
    key = scope.key().label("p")
    zones = offsets(scope.period.start, scope.period.end, scope.period.tz)
    slot = case(
        (
            Call.started_at >= scope.period.start,
            hour_of_week(local_seconds(Call.started_at, scope.dialect, zones)),
        )
    ).label("h")  # the heat map is of the period only
    within = Call.closed_reason.is_(None)
    cells: list[Any] = [
        Call.closed_reason.is_not(None),  # outside_hours, then the outcomes of CATEGORIES
        *(and_(within, Call.outcome == outcome) for outcome in _OUTCOMES),
        and_(accepted(), Call.accepted_tier == "primary"),
        and_(accepted(), Call.accepted_tier == "backup"),
        and_(accepted(), Call.accepted_tier.is_(None)),
        Call.from_relative,
        literal(True),  # every call (the heat map's)
    ]
    n = [f"n{i}" for i in range(len(cells))]
    accepted_n = n[1 + _OUTCOMES.index("accepted")]  # the histograms' counts
    counts = [func.count().filter(cell).label(name) for cell, name in zip(cells, n, strict=True)]
    # The seconds of accepted calls only (NULL for the others, which then share one group).
    ring = case((accepted(), Call.ring_seconds)).label("rs")
    talk = case((accepted(), Call.talk_seconds)).label("ts")
    # Per caller, hour of the week and language: the heat map's hours and the languages are
    # groupings of these few rows (a caller's calls in one hour in two languages are two rows
    # here, one person of the hour there).
    person = (key, Call.line, Call.caller_hash, slot, Call.language)
    all_n = n[-1]
    fine_columns = (
        key,
        Call.line.label("line"),
        Call.caller_hash.label("caller"),
        slot,
        Call.language.label("language"),
    )
    if scope.dialect == "postgresql":
        # kind: PER_CALLER per caller and hour, RING per ring second, TALK per talk second
        # (grouping()'s bits: 1 where the caller is not grouped by, 2 where the ring seconds
        # are not).
        kind = (func.grouping(Call.caller_hash) + 2 * func.grouping(ring)).label("kind")
        fine = (
            select(kind, *fine_columns, ring, talk, *counts)
            .where(*scope.where(), counted())
            .group_by(
                func.grouping_sets(
                    tuple_(*person), tuple_(key, Call.line, ring), tuple_(key, Call.line, talk)
                )
            )
            .cte("fine")
        )
        seconds_of = {
            k: select(fine.c.p, fine.c.line, fine.c[name].label("s"), fine.c[accepted_n])
            .where(fine.c.kind == k)
            .subquery()
            for k, name in ((RING, "rs"), (TALK, "ts"))
        }
    else:
        # SQLite has no grouping sets: each histogram its own grouping of the calls (the three
        # as one union in the CTE took 13 % more CPU in bench/reports.py).
        fine = (
            select(literal(PER_CALLER).label("kind"), *fine_columns, *counts)
            .where(*scope.where(), counted())
            .group_by(*person)
            .cte("fine")
        )
        seconds_of = {
            k: select(key, Call.line.label("line"), seconds.label("s"), counts[n.index(accepted_n)])
            .where(*scope.where(), accepted())
            .group_by(key, Call.line, seconds)
            .subquery()
            for k, seconds in ((RING, ring), (TALK, talk))
        }
    f = fine.c
    per_caller = (
        select(f.p, f.line, f.caller, *(func.sum(f[name]).label(name) for name in n))
        .where(f.kind == PER_CALLER)
        .group_by(f.p, f.line, f.caller)
        .subquery()
    )
    c = per_caller.c
    earlier = aliased(Call)
    before = exists().where(
        earlier.caller_hash == c.caller,
        earlier.line == c.line,
        earlier.started_at < case((c.p == NOW, scope.period.start), else_=scope.previous.start),
    )
    no_pairs = type_coerce(literal(None), String).label("pairs")
    by_line = _by_line(c, [c[name] for name in n], before, no_pairs)
    zeros = [literal(0)] * (2 + 2 * len(n))
    hourly = (
        select(f.h, f.p, f.line, f.caller, func.sum(f[all_n]).label(all_n))
        .where(f.kind == PER_CALLER, f.h.is_not(None))
        .group_by(f.h, f.p, f.line, f.caller)
        .subquery()
    )
    by_hour = select(  # the heat map: only the count of every call and its people
        hourly.c.h,
        hourly.c.p,
        hourly.c.line,
        *zeros[: 2 * len(n)],
        *_per_person([hourly.c[all_n]], hourly.c.caller),
        no_pairs,
    ).group_by(hourly.c.h, hourly.c.p, hourly.c.line)
    spoken = (
        select(
            f.p,
            f.line,
            f.caller,
            f.language,
            *(func.sum(f[name]).label(name) for name in (all_n, accepted_n)),
        )
        .where(f.kind == PER_CALLER)
        .group_by(f.p, f.line, f.language, f.caller)
        .subquery()
    )
    s_ = spoken.c
    by_language = _by_language(spoken, s_[all_n], s_[accepted_n], len(n))
    histograms = [
        select(
            literal(-1 - k).label("h"),
            h.c.p,
            h.c.line,
            *zeros,
            func.aggregate_strings(
                cast(h.c.s, String) + literal(":") + cast(h.c[accepted_n], String), ","
            ),
        )
        .where(h.c.s.is_not(None), h.c[accepted_n] > 0)
        .group_by(h.c.p, h.c.line)
        for k, h in seconds_of.items()
    ]
    timings = []
    for h, p, line, callers, first_time, *found_counts, pairs in session.execute(
        union_all(by_line, by_hour, by_language, *histograms)
    ):
        if h == LANGUAGE_ROWS:
            raw.add_language(
                (p, line, pairs or r.UNKNOWN_LANGUAGE), *_people_pairs(found_counts[:6])
            )
            continue
        if h < -1:  # a histogram: -1 - RING, -1 - TALK
            timings.append((raw.ring if h == -1 - RING else raw.talk, (p, line), pairs))
            continue
        counts_ = [int(v) for v in found_counts]
        if h >= 0:
            raw.heat[(line, int(h))] = r.Raw(counts_[-2], counts_[-1])
            continue
        _fold_line((p, line), callers, first_time, counts_, raw)
    for table, found_key, pairs in timings:  # their people: the accepted calls'
        people = raw.categories.get((*found_key, "accepted"), r.ZERO).people
        table[found_key] = r.RawTiming(_pairs(pairs), people)


def _day_number(day: date) -> int:
    return (day - EPOCH_DAY).days


def _month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


@lru_cache(maxsize=64)
def _tallied(lines: tuple[str, ...]) -> Any:
    """`_calls_tallied`'s statement over `lines`, its days bound at execution ("first_before",
    "first_now", "last": day numbers): built once per team's lines. Building it (some 400 column
    expressions) took 14.5 ms of a report; SQLAlchemy's cache of compiled statements spares the
    compiling, not the building."""
    t = CallTally.__table__.c
    first_before, first_now, last = (
        bindparam(name, type_=Integer) for name in ("first_before", "first_now", "last")
    )
    columns = [
        t.n_outside,
        t.n_accepted,
        t.n_fallback,
        t.n_voicemail,
        t.n_hung_up,
        t.n_primary,
        t.n_backup,
        t.n_untiered,
        t.n_relatives,
        t.n_counted,
    ]  # in the order of `_calls`' cells
    n = [f"n{i}" for i in range(len(columns))]
    hours = call_tallies.HOURS
    key = case((t.day < first_now, BEFORE), else_=NOW).label("p")
    caller = func.nullif(t.caller, "").label("caller")
    within = [t.line.in_(lines), t.day <= last, t.n_counted > 0]
    spoken = (
        select(
            key,
            t.line,
            caller,
            t.language,
            *(func.sum(column).label(name) for column, name in zip(columns, n, strict=True)),
        )
        .where(*within, t.day >= first_before)
        .group_by(key, t.line, t.caller, t.language)
        .cte("spoken")  # read twice: per caller, per language
    )
    s_ = spoken.c
    per_caller = (
        select(s_.p, s_.line, s_.caller, *(func.sum(s_[name]).label(name) for name in n))
        .group_by(s_.p, s_.line, s_.caller)
        .subquery()
    )
    c = per_caller.c
    earlier = CallTally.__table__.alias("earlier")
    before = exists().where(
        earlier.c.caller == c.caller,
        earlier.c.line == c.line,
        earlier.c.day < case((c.p == NOW, first_now), else_=first_before),
    )
    no_pairs = type_coerce(literal(None), String).label("pairs")
    by_line = _by_line(c, [c[name] for name in n], before, no_pairs)
    zeros = [literal(0)] * (2 * len(n))
    by_language = _by_language(spoken, s_[n[-1]], s_[n[1]], len(n))
    weekday = ((t.day + 3) % 7).label("w")  # 1970-01-01 (day 0) was a Thursday: 3, Monday 0
    weekly = (  # the period's tallies only, with their hours (the two years' without)
        select(weekday, t.line, caller, *(func.sum(t[hour]).label(hour) for hour in hours))
        .where(*within, t.day >= first_now)
        .group_by(weekday, t.line, t.caller)
        .subquery()
    )
    k_ = weekly.c
    hour_pairs: Any = None  # "calls:people,..." of the 24 hours (|| : SQLite has no concat)
    for column in hours:
        calls_, people = (cast(x, String) for x in _per_person([k_[column]], k_.caller))
        pair = calls_ + literal(":") + people
        hour_pairs = pair if hour_pairs is None else hour_pairs + literal(",") + pair
    by_weekday = select(
        literal(HEAT_ROWS).label("h"),
        literal(NOW),
        k_.line,
        k_.w,
        *zeros[:1],
        *zeros,
        hour_pairs,
    ).group_by(k_.w, k_.line)
    return union_all(by_line, by_language, by_weekday)


def _calls_tallied(session: Session, scope: _Scope, raw: _Raw) -> None:
    """What `_calls` counts, from the tallies the database keeps as calls change
    (`foundation.call_tallies`): per local day, line, caller and language instead of every
    call, so a yearly report reads about half as many rows and groups none of them by hour
    (the tallies' 24 hour columns). The tallies of both periods are grouped per caller and
    language once (a CTE); from that the same two-level counting of people as `_calls` (per
    caller, then per line; per language) and the first-time probe on the tallies (a caller's
    earlier calls, ended or not). The heat map reads the period's tallies with their hours
    per weekday and caller, each weekday's 24 hours as one string of "calls:people" (one
    statement, one shape of row; a CTE of every column read once cost more to materialise
    than reading the rows twice). The
    histograms come from the months wholly in a period (`call_tally_seconds`) and, for the
    days around them, from the calls. tests/test_report_exact.py and
    tests/test_call_tallies.py check that both give the same counts and the same report."""
    days = {
        "first_before": _day_number(scope.previous.first),
        "first_now": _day_number(scope.period.first),
        "last": _day_number(scope.period.last),
    }
    hours = call_tallies.HOURS
    for h, p, line, callers, first_time, *found_counts, pairs in session.execute(
        _tallied(tuple(scope.lines)), days
    ):
        if h == LANGUAGE_ROWS:
            raw.add_language(
                (p, line, pairs or r.UNKNOWN_LANGUAGE), *_people_pairs(found_counts[:6])
            )
            continue
        if h == HEAT_ROWS:  # callers: the weekday; pairs: its hours' "calls:people"
            for i, found in enumerate(pairs.split(",")):
                calls_n, people_n = map(int, found.split(":"))
                if calls_n:
                    raw.heat[(line, int(callers) * len(hours) + i)] = r.Raw(calls_n, people_n)
            continue
        counts_ = [int(v) for v in found_counts]
        _fold_line((p, line), callers, first_time, counts_, raw)
    _seconds_tallied(session, scope, raw)


_SECONDS = ((call_tallies.RING, Call.ring_seconds), (call_tallies.TALK, Call.talk_seconds))


def _seconds_tallied(session: Session, scope: _Scope, raw: _Raw) -> None:
    """The ring and talk histograms of both periods: the months wholly inside a period from
    `call_tally_seconds`, its other days from the accepted calls."""
    t = CallTallySecond.__table__.c
    parts: list[Any] = []
    months: list[int] = []
    for p, period in ((BEFORE, scope.previous), (NOW, scope.period)):
        whole = _months_within(period)
        months += [_month_number(month) for month in whole]
        if whole:
            after = r.of_kind("month", whole[-1]).last + timedelta(days=1)
            rest = [(period.first, whole[0]), (after, period.last + timedelta(days=1))]
        else:
            rest = [(period.first, period.last + timedelta(days=1))]
        for first, end in rest:
            if first >= end:
                continue
            instants = r.local_midnight(first, period.tz), r.local_midnight(end, period.tz)
            for kind, column in (
                (call_tallies.RING, Call.ring_seconds),
                (call_tallies.TALK, Call.talk_seconds),
            ):
                parts.append(
                    select(
                        literal(p).label("p"),
                        Call.line.label("line"),
                        literal(kind).label("kind"),
                        column.label("s"),
                        func.count().label("n"),
                    )
                    .where(
                        Call.line.in_(scope.lines),
                        Call.started_at >= instants[0],
                        Call.started_at < instants[1],
                        accepted(),
                        column.is_not(None),
                    )
                    .group_by(Call.line, column)
                )
    if months:
        first_now = min(
            (_month_number(m) for m in _months_within(scope.period)), default=months[-1] + 1
        )
        parts.append(
            select(
                case((t.month < first_now, BEFORE), else_=NOW).label("p"),
                t.line.label("line"),
                t.kind.label("kind"),
                t.seconds.label("s"),
                t.n_calls.label("n"),
            ).where(t.line.in_(scope.lines), t.month.in_(months), t.n_calls > 0)
        )
    if not parts:
        return
    found = union_all(*parts).subquery()
    summed = (
        select(found.c.p, found.c.line, found.c.kind, found.c.s, func.sum(found.c.n).label("n"))
        .group_by(found.c.p, found.c.line, found.c.kind, found.c.s)
        .subquery()
    )
    pair = cast(summed.c.s, String) + literal(":") + cast(summed.c.n, String)
    rows = session.execute(
        select(summed.c.p, summed.c.line, summed.c.kind, func.aggregate_strings(pair, ","))
        .where(summed.c.n > 0)
        .group_by(summed.c.p, summed.c.line, summed.c.kind)
    )
    for p, line, kind, pairs in rows:  # their people: the accepted calls'
        people = raw.categories.get((p, line, "accepted"), r.ZERO).people
        table = raw.ring if kind == call_tallies.RING else raw.talk
        table[(p, line)] = r.RawTiming(_pairs(pairs), people)


def _by_line(c: Any, cells: list[Any], before: Any, no_pairs: Any) -> Any:
    """A line's row of the calls' statement from its per-caller rows `c` (p, line, caller and
    `cells`): callers, first-time callers (`before`: the caller called the line earlier), and
    each cell with its people."""
    first = case((and_(c.caller.is_not(None), ~before), 1), else_=0)
    return select(
        literal(-1).label("h"),
        c.p,
        c.line,
        func.count(c.caller),
        func.coalesce(func.sum(first), 0),
        *_per_person(cells, c.caller),
        no_pairs,
    ).group_by(c.p, c.line)


def _by_language(spoken: Any, every: Any, taken: Any, cells: int) -> Any:
    """The languages' rows of the calls' statement from per-caller rows by language `spoken`
    (p, line, caller, language): calls, accepted and the rest with their people, padded with
    zeros to the shape of a line's row (`cells` counts), the language where a row's pairs are."""
    s = spoken.c
    zeros = [literal(0)] * (2 * cells)
    return select(
        literal(LANGUAGE_ROWS).label("h"),
        s.p,
        s.line,
        *zeros[:2],
        *_per_person([every, taken, every - taken], s.caller),
        *zeros[: 2 * cells - 6],
        cast(s.language, String),
    ).group_by(s.p, s.line, s.language)


LINE_CELLS = ("outside_hours", *CATEGORIES[:4], "primary", "backup", "", "relatives", "all")
"""The calls' cells of a line's row (`_calls`, `_calls_tallied`), each a count and its people."""


def _fold_line(key: Key, callers: int, first_time: Any, counts: list[int], raw: _Raw) -> None:
    """A line's row of the calls' statement: callers, first-time callers, the cells."""
    raw.callers[key] = r.Raw(callers, callers)
    if callers:
        raw.first_time[key] = r.Raw(int(first_time), int(first_time))
    for i, name in enumerate(LINE_CELLS[:-1]):
        n, people = counts[2 * i], counts[2 * i + 1]
        if name == "relatives":
            raw.relatives[key] = r.Raw(n, people)
        elif not n:
            continue
        elif i < len(CATEGORIES):
            raw.add(raw.categories, (*key, name), r.Raw(n, people))
        else:
            raw.add(raw.tiers, (*key, name), r.Raw(n, people))


def _people_pairs(found: Sequence[Any]) -> list[r.Raw]:
    """(count, people, count, people, ...) as Raws."""
    numbers = [int(v) for v in found]
    return [r.Raw(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2)]


def _pairs(pairs: str) -> dict[int, int]:
    """A histogram from its "seconds:count,..." string."""
    numbers = map(int, pairs.replace(":", ",").split(","))  # seconds, count, seconds, ...
    return dict(zip(numbers, numbers, strict=False))


def _histogram_select(rows: Any, tag: int) -> Any:
    """Histograms of the seconds `s` of `rows` (an ungrouped select of (p, line, s)) per
    (p, line), seconds that are NULL left out, as rows (tag, p, line, pairs). Each comes back
    as one string of "seconds:count" pairs (string_agg, group_concat): a year of talk seconds
    has thousands of distinct values, and a row each cost more in Python than the database
    took to count them."""
    found = rows.subquery()
    found = (
        select(found.c.p, found.c.line, found.c.s, func.count().label("n"))
        .group_by(found.c.p, found.c.line, found.c.s)
        .subquery()
    )
    pair = cast(found.c.s, String) + literal(":") + cast(found.c.n, String)
    return (
        select(
            literal(tag).label("tag"), found.c.p, found.c.line, func.aggregate_strings(pair, ",")
        )
        .where(found.c.s.is_not(None))
        .group_by(found.c.p, found.c.line)
    )


def _rolled(session: Session, scope: _Scope, raw: _Raw) -> None:
    """The roll-up's days of both periods, added to the detail."""
    days = [
        CallDay.line.in_(scope.lines),
        CallDay.day >= scope.previous.first,
        CallDay.day <= scope.period.last,
    ]
    key = scope.day_key(CallDay.day).label("p")
    # A cell's callers over several days: the largest day (a lower bound, see the docstring).
    daily = (
        select(
            key,
            CallDay.line,
            CallDay.category,
            CallDay.tier,
            CallDay.day,
            func.sum(CallDay.calls).label("calls"),
            # The day's rows of the two relatives flags may hold the same callers: the larger.
            func.max(CallDay.callers).label("callers"),
        )
        .where(*days)
        .group_by(key, CallDay.line, CallDay.category, CallDay.tier, CallDay.day)
        .subquery()
    )
    rows = session.execute(
        select(
            daily.c.p,
            daily.c.line,
            daily.c.category,
            daily.c.tier,
            func.sum(daily.c.calls),
            func.max(daily.c.callers),
        ).group_by(daily.c.p, daily.c.line, daily.c.category, daily.c.tier)
    )
    for p, line, c, tier, n, callers in rows:
        raw.add(raw.categories, (p, line, c), r.Raw(n, callers))
        if c == "accepted":
            raw.add(raw.tiers, (p, line, tier), r.Raw(n, callers))
    rows1 = session.execute(
        select(key, CallDay.line, func.sum(CallDay.calls), func.max(CallDay.callers))
        .where(*days, CallDay.relative)
        .group_by(key, CallDay.line)
    )
    for p, line, n, callers in rows1:
        raw.add(raw.relatives, (p, line), r.Raw(n, callers))
    _rolled_languages(session, days, key, raw)
    seconds_key = scope.day_key(CallDaySeconds.day).label("p")
    rows2 = session.execute(
        select(
            seconds_key,
            CallDaySeconds.line,
            CallDaySeconds.kind,
            CallDaySeconds.seconds,
            func.sum(CallDaySeconds.calls),
        )
        .where(
            CallDaySeconds.line.in_(scope.lines),
            CallDaySeconds.day >= scope.previous.first,
            CallDaySeconds.day <= scope.period.last,
        )
        .group_by(seconds_key, CallDaySeconds.line, CallDaySeconds.kind, CallDaySeconds.seconds)
    )
    histograms: dict[tuple[int, str, str], dict[int, int]] = defaultdict(dict)
    for p, line, kind, seconds, n in rows2:
        histograms[(p, line, kind)][seconds] = n
    for (p, line, kind), histogram in histograms.items():
        table = raw.ring if kind == "ring" else raw.talk
        people = raw.categories.get((p, line, "accepted"), r.ZERO).people
        raw.add(table, (p, line), r.RawTiming(histogram, people))
    rows3 = session.execute(
        select(
            CallDayHour.line,
            CallDayHour.day,
            CallDayHour.hour,
            func.sum(CallDayHour.calls),
            func.sum(CallDayHour.callers),
        )
        .where(
            CallDayHour.line.in_(scope.lines),
            CallDayHour.day >= scope.period.first,
            CallDayHour.day <= scope.period.last,
        )
        .group_by(CallDayHour.line, CallDayHour.day, CallDayHour.hour)
    )
    for line, day, hour, n, callers in rows3:
        raw.add(raw.heat, (line, day.weekday() * 24 + hour), r.Raw(n, callers))


def _rolled_languages(session: Session, days: list[Any], key: Any, raw: _Raw) -> None:
    """The roll-up's calls by language (all, accepted, the rest); a language's callers of a day
    are at least those of its largest row, of a period at least those of its largest day."""
    is_accepted = CallDay.category == "accepted"
    parts = (literal(True), is_accepted, ~is_accepted)
    daily = (
        select(
            key,
            CallDay.line,
            CallDay.language,
            *(_filtered(func.sum, CallDay.calls, c, f"n{i}") for i, c in enumerate(parts)),
            *(_filtered(func.max, CallDay.callers, c, f"c{i}") for i, c in enumerate(parts)),
        )
        .where(*days)
        .group_by(key, CallDay.line, CallDay.language, CallDay.day)
        .subquery()
    )
    d = daily.c
    found = session.execute(
        select(
            d.p,
            d.line,
            d.language,
            *(x for i in range(len(parts)) for x in (func.sum(d[f"n{i}"]), func.max(d[f"c{i}"]))),
        ).group_by(d.p, d.line, d.language)
    )
    for p, line, code, *counts in found:
        raw.add_language(
            (p, line, code or r.UNKNOWN_LANGUAGE),
            *(r.Raw(int(counts[i]), int(counts[i + 1])) for i in (0, 2, 4)),
        )


def _filtered(aggregate: Any, column: Any, where: Any, name: str) -> Any:
    return func.coalesce(aggregate(column).filter(where), 0).label(name)


def _months_within(period: r.Period) -> list[date]:
    """The first days of the months that lie wholly inside the period."""
    found, month = [], period.first.replace(day=1)
    while month <= period.last:
        if month >= period.first and r.of_kind("month", month).last <= period.last:
            found.append(month)
        month = r.of_kind("month", month).last + timedelta(days=1)
    return found


def _monthly(session: Session, scope: _Scope, raw: _Raw) -> None:
    """Distinct callers of whole rolled-up months inside each period: a better lower bound of
    a period's people than its largest day."""
    for p, period in ((BEFORE, scope.previous), (NOW, scope.period)):
        months = _months_within(period)
        if not months:
            continue
        rows = session.execute(
            select(CallMonth.line, CallMonth.category, CallMonth.tier, func.max(CallMonth.callers))
            .where(CallMonth.line.in_(scope.lines), CallMonth.month.in_(months))
            .group_by(CallMonth.line, CallMonth.category, CallMonth.tier)
        )
        for line, c, tier, callers in rows:
            more = r.Raw(0, callers)
            if c == "total":
                raw.total_people[(p, line)] = max(raw.total_people.get((p, line), 0), callers)
            elif c == "relatives":
                raw.add(raw.relatives, (p, line), more)
            elif tier == "*":
                raw.add(raw.categories, (p, line, c), more)
            else:
                raw.add(raw.tiers, (p, line, tier), more)


def detail_since(session: Session, lines: Sequence[str]) -> date | None:
    """The first local day after the newest rolled-up day (detail is kept from there)."""
    newest = session.scalar(select(func.max(CallDay.day)).where(CallDay.line.in_(lines)))
    return None if newest is None else newest + timedelta(days=1)


# --- the tasks, call-backs and the relay ---------------------------------------------------


MOST_SUBSETS = 3  # of a table counted by `_Batch.count`


class _Bound(_Window):
    """The window with the periods' instants bound at execution (`params`): the batch's
    statements are built once per team's lines (`_batch`)."""

    def __init__(self, lines: Sequence[str], dialect: str) -> None:
        self.lines, self.dialect = list(lines), dialect
        # Untyped: each takes the type of the column it is compared with.
        self.previous_start = bindparam("previous_start")
        self.period_start = bindparam("period_start")
        self.period_end = bindparam("period_end")

    @staticmethod
    def params(scope: _Scope) -> dict[str, datetime]:
        return {
            "previous_start": scope.previous_start,
            "period_start": scope.period_start,
            "period_end": scope.period_end,
        }


Found = tuple[list[dict[Key, r.Raw]], list[dict[Key, r.RawTiming]]]
"""What `_Batch.run` found: its tables of counts and of timings, by the ids `count` and
`durations` gave."""


class _Batch:
    """The counts and histograms of the tasks, call-backs and the relay, each table's its own
    select, run as two statements (UNION ALL of the counts, of the histograms) instead of one
    each: the round trips cost more than the statements on a busy machine. `count` and
    `durations` name the tables `run` fills by ids; built once per team's lines (`_batch`):
    building the statements took 7.5 ms of a report."""

    def __init__(self, scope: _Bound) -> None:
        self.scope = scope
        self.counts: list[tuple[Any, tuple[int, ...]]] = []  # a select, its tables' ids
        self.histograms: list[tuple[Any, int]] = []  # a select, its people's table's id
        self.tables = 0
        self._statements: tuple[Any, Any] | None = None

    def count(
        self, column: Any, line: Any, person: Any, *subsets: Any, join: Any = None
    ) -> tuple[int, ...]:
        """Rows per (period key, line) of a table with their distinct people: of each subset (a
        condition, None: every row; at most MOST_SUBSETS), per person, then per line."""
        scope = self.scope
        key = scope.key(column).label("p")
        per_person = select(
            key,
            line.label("line"),
            person.label("person"),
            *(
                (func.count() if subset is None else func.count().filter(subset)).label(f"n{i}")
                for i, subset in enumerate(subsets)
            ),
        )
        if join is not None:
            per_person = per_person.select_from(join)
        grouped = (
            per_person.where(*scope.where(column, line)).group_by(key, line, person).subquery()
        )
        c = grouped.c
        counts = _per_person([c[f"n{i}"] for i in range(len(subsets))], c.person)
        counts += [literal(0)] * (2 * (MOST_SUBSETS - len(subsets)))
        tag = literal(len(self.counts)).label("tag")
        ids = tuple(range(self.tables, self.tables + len(subsets)))
        self.tables += len(subsets)
        self.counts.append((select(tag, c.p, c.line, *counts).group_by(c.p, c.line), ids))
        return ids

    def durations(
        self, column: Any, line: Any, seconds: Any, people: int, *where: Any, join: Any = None
    ) -> int:
        """Histograms of whole seconds per (period key, line); their people are those of the
        table `people`."""
        query = select(self.scope.key(column).label("p"), line.label("line"), seconds.label("s"))
        if join is not None:
            query = query.select_from(join)
        query = query.where(*self.scope.where(column, line), *where)
        self.histograms.append((_histogram_select(query, len(self.histograms)), people))
        return len(self.histograms) - 1

    def statements(self) -> tuple[Any, Any]:
        if self._statements is None:
            self._statements = (
                union_all(*(q for q, _ in self.counts)) if self.counts else None,
                union_all(*(q for q, _ in self.histograms)) if self.histograms else None,
            )
        return self._statements

    def run(self, session: Session, params: dict[str, datetime]) -> Found:
        counts, histograms = self.statements()
        tables: list[dict[Key, r.Raw]] = [{} for _ in range(self.tables)]
        timings: list[dict[Key, r.RawTiming]] = [{} for _ in self.histograms]
        if counts is not None:
            for tag, p, line, *n in session.execute(counts, params):
                for i, table in enumerate(self.counts[tag][1]):
                    tables[table][(p, line)] = r.Raw(int(n[2 * i]), int(n[2 * i + 1]))
        if histograms is not None:
            for tag, p, line, pairs in session.execute(histograms, params).all():
                people = tables[self.histograms[tag][1]]
                timings[tag][(p, line)] = r.RawTiming(
                    _pairs(pairs), people.get((p, line), r.ZERO).people
                )
        return tables, timings


def _seconds_between(start: Any, end: Any, dialect: str) -> Any:
    return epoch(end, dialect) - epoch(start, dialect)


@dataclass(slots=True)
class _Tasks:
    count: dict[Key, r.Raw]
    done: dict[Key, r.Raw]
    open: dict[Key, r.Raw]
    """The rest of `count`: not done (the part not shown, protected with `done`)."""
    time: dict[Key, r.RawTiming]


@dataclass(frozen=True, slots=True)
class _TaskIds:
    """A `_Tasks`' tables in what `_Batch.run` finds."""

    count: int
    done: int
    open: int
    time: int

    def of(self, found: Found) -> _Tasks:
        tables, timings = found
        return _Tasks(tables[self.count], tables[self.done], tables[self.open], timings[self.time])


def _voicemails(batch: _Batch) -> _TaskIds:
    # The voicemail keeps its call's caller hash (no join with the calls). A voicemail without
    # a hash whose call was rolled up before the hash was kept (migration 0028): all of those
    # are one person together (a lower bound; `line_figures` raises it to the rolled-up
    # voicemail calls' callers), not one each; one with its call but no hash (a withheld
    # number) is a person of its own.
    person = case(
        (Voicemail.caller_hash.is_not(None), Voicemail.caller_hash),
        (Voicemail.call_id.is_(None), literal("-")),
        else_=None,
    )
    args = (Voicemail.created_at, Voicemail.line, person)
    done_rows = (Voicemail.status == TaskStatus.DONE,)
    count, done, left = batch.count(*args, None, *done_rows, Voicemail.status != TaskStatus.DONE)
    seconds = _seconds_between(Voicemail.created_at, Voicemail.done_at, batch.scope.dialect)
    time = batch.durations(
        Voicemail.created_at,
        Voicemail.line,
        seconds,
        done,
        *done_rows,
        Voicemail.done_at.is_not(None),
    )  # (the people are `done`'s)
    return _TaskIds(count, done, left, time)


def _callback_requests(batch: _Batch) -> _TaskIds:
    args = (CallbackRequest.created_at, CallbackRequest.line, CallbackRequest.phone_hash)
    done_rows = (CallbackRequest.status == TaskStatus.DONE,)
    count, done, left = batch.count(
        *args, None, *done_rows, CallbackRequest.status != TaskStatus.DONE
    )
    seconds = _seconds_between(
        CallbackRequest.created_at, CallbackRequest.done_at, batch.scope.dialect
    )
    time = batch.durations(
        CallbackRequest.created_at,
        CallbackRequest.line,
        seconds,
        done,
        *done_rows,
        CallbackRequest.done_at.is_not(None),
    )
    return _TaskIds(count, done, left, time)


def _call_backs(batch: _Batch) -> tuple[int, ...]:
    """Made, reached, and made but not reached (the rest, protected with `reached`)."""
    person = OutboundCall.kind + literal(":") + cast(OutboundCall.target_id, String)
    args = (OutboundCall.created_at, OutboundCall.line, person)
    made = OutboundCall.status != "not_placed"
    reached = OutboundCall.client_status == "completed"
    not_reached = and_(made, or_(OutboundCall.client_status.is_(None), ~reached))
    return batch.count(*args, made, reached, not_reached)


@dataclass(slots=True)
class _Relay:
    conversations: dict[Key, r.Raw]
    messages_in: dict[Key, r.Raw]
    messages_out: dict[Key, r.Raw]
    first_reply: dict[Key, r.RawTiming]


@dataclass(frozen=True, slots=True)
class _RelayIds:
    """A `_Relay`'s tables in what `_Batch.run` finds."""

    conversations: int
    messages_in: int
    messages_out: int
    first_reply: int

    def of(self, found: Found) -> _Relay:
        tables, timings = found
        return _Relay(
            tables[self.conversations],
            tables[self.messages_in],
            tables[self.messages_out],
            timings[self.first_reply],
        )


def _relay(batch: _Batch) -> _RelayIds:
    """A client is a person by her keyed hash while it is kept; a conversation whose hash
    went with the retention is a person of its own."""
    person = func.coalesce(
        Conversation.client_hash, literal("conversation:") + cast(Conversation.id, String)
    )
    scope = batch.scope
    (conversations,) = batch.count(Conversation.created_at, Conversation.line, person, None)
    join = ConversationMessage.__table__.join(
        Conversation.__table__, ConversationMessage.conversation_id == Conversation.id
    )
    args = (ConversationMessage.created_at, Conversation.line, person)
    messages_in, messages_out = batch.count(
        *args,
        ConversationMessage.direction == Direction.IN,
        ConversationMessage.direction == Direction.OUT,
        join=join,
    )
    first_in = func.min(
        case((ConversationMessage.direction == Direction.IN, ConversationMessage.created_at))
    )
    first_out = func.min(
        case((ConversationMessage.direction == Direction.OUT, ConversationMessage.created_at))
    )
    firsts = (
        select(
            ConversationMessage.conversation_id.label("id"),
            first_in.label("first_in"),
            first_out.label("first_out"),
        )
        # A conversation's messages come after it was opened: those of the periods' ones too.
        .where(ConversationMessage.created_at >= scope.previous_start)
        .group_by(ConversationMessage.conversation_id)
        .subquery()
    )
    first = batch.durations(
        Conversation.created_at,
        Conversation.line,
        _seconds_between(firsts.c.first_in, firsts.c.first_out, scope.dialect),
        conversations,
        firsts.c.first_out >= firsts.c.first_in,
        join=Conversation.__table__.join(firsts, firsts.c.id == Conversation.id),
    )
    return _RelayIds(conversations, messages_in, messages_out, first)


@lru_cache(maxsize=64)
def _batch(
    lines: tuple[str, ...], dialect: str
) -> tuple[_Batch, _TaskIds, _TaskIds, tuple[int, ...], _RelayIds]:
    """The batch of the tasks, call-backs and the relay over `lines`, with its tables' ids."""
    batch = _Batch(_Bound(lines, dialect))
    voicemails, requests = _voicemails(batch), _callback_requests(batch)
    call_backs = _call_backs(batch)
    relay = _relay(batch)
    batch.statements()
    return batch, voicemails, requests, call_backs, relay


# --- the figures ---------------------------------------------------------------------------


def tune(session: Session) -> None:
    """PostgreSQL settings for the report's transaction (SET LOCAL: this transaction only).
    The grouping hashes a year or two of calls: in memory, not on disk (the default work_mem
    of 4 MB spills at about 50,000 calls), and the hash tables may take four times that
    (hash_mem_multiplier): the planner estimates a group per call for the grouping per caller
    and hour (there are far fewer), and with the default it sorted the 133,000 calls of two
    years for it instead of hashing all three grouping sets of the calls at once. No JIT: the
    first-time callers' probe makes the planner's cost estimate large, and compiling then
    took 2.8 s of a 3 s report."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true),"
                " set_config('hash_mem_multiplier', '4', true)"
            )
        )  # (true: SET LOCAL; one round trip)


def line_figures(
    session: Session, config: HotlineConfig, team: str, period: r.Period, min_count: int
) -> tuple[tuple[r.LineFigures, ...], date | None]:
    """The figures of the team's lines (in the order of the configuration) for `period` and
    its previous period, protected with k = `min_count`; and the first day kept in detail
    (None if nothing was rolled up yet)."""
    lines = [slug for slug, line in config.lines.items() if line.team == team]
    if not lines:
        return (), None
    scope = _Scope(lines, period, session.get_bind().dialect.name)
    tune(session)
    raw = _empty()
    if call_tallies.zone_of(session.connection()) == period.zone:
        _calls_tallied(session, scope, raw)
    else:  # the tallies are of another zone (until `hotline db upgrade` rezones them)
        _calls(session, scope, raw)
    since = detail_since(session, lines)
    if since is not None and since > scope.previous.first:  # rolled-up days in the periods
        _monthly(session, scope, raw)  # first: the roll-up's timings take its people
        _rolled(session, scope, raw)
    batch, voicemail_ids, request_ids, call_back_ids, relay_ids = _batch(
        tuple(lines), scope.dialect
    )
    found = batch.run(session, _Bound.params(scope))
    voicemails, requests = voicemail_ids.of(found), request_ids.of(found)
    call_backs = [found[0][i] for i in call_back_ids]
    relay = relay_ids.of(found)
    _voicemail_people(raw, voicemails)
    figures = tuple(
        _line(raw, config, slug, min_count, voicemails, requests, call_backs, relay)
        for slug in lines
    )
    return figures, since


def _voicemail_people(raw: _Raw, voicemails: _Tasks) -> None:
    """Every call that ended in a voicemail left one (hotline.calls.store_voicemail): the
    voicemails' people are at least the voicemail calls' callers, also of rolled-up days
    (whose voicemails rolled up before migration 0028 lost their caller with the call)."""
    for key, count in list(voicemails.count.items()):
        calls = raw.categories.get((*key, "voicemail"), r.ZERO)
        voicemails.count[key] = r.Raw(count.value, max(count.people, calls.people))


def _line(
    raw: _Raw,
    config: HotlineConfig,
    slug: str,
    k: int,
    voicemails: _Tasks,
    requests: _Tasks,
    call_backs: list[dict[Key, r.Raw]],
    relay: _Relay,
) -> r.LineFigures:
    """One line's figures. Besides each row's own protection, what the tables show twice is
    protected alike: a hidden part of the calls hides the tiers (accepted), the timings'
    events (accepted) and the voicemail tasks (voicemail) too; a hidden total hides the heat
    map; a part beside its total (done, reached, relatives, a timing's events) is protected
    with the rest it leaves (`foundation.reports.part_of`)."""
    line = config.lines[slug]

    def both(table: dict[Key, r.Raw]) -> tuple[r.Raw, r.Raw]:
        return table.get((NOW, slug), r.ZERO), table.get((BEFORE, slug), r.ZERO)

    def timings(table: dict[Key, r.RawTiming]) -> tuple[r.RawTiming, r.RawTiming]:
        return table.get((NOW, slug), r.NO_TIMING), table.get((BEFORE, slug), r.NO_TIMING)

    def sides(cell: r.Compared) -> tuple[r.Cell, r.Cell]:
        return cell.now, cell.before

    def of(cell: r.Compared, counted: tuple[r.Raw, r.Raw]) -> tuple[r.Of, r.Of]:
        return (cell.now, counted[0]), (cell.before, counted[1])

    calls = _call_figures(raw, slug, k)
    accepted = (
        raw.categories.get((NOW, slug, "accepted"), r.ZERO),
        raw.categories.get((BEFORE, slug, "accepted"), r.ZERO),
    )
    totals = (_row(raw, NOW, slug)[0], _row(raw, BEFORE, slug)[0])

    def tasks(found: _Tasks, shown_with: r.Compared | None = None) -> r.TaskFigures:
        count_raw, done_raw = both(found.count), both(found.done)
        count = r.compared(*count_raw, k)
        if shown_with is not None:  # the voicemail calls: hidden there, hidden here
            count = r.compare(
                _hidden_if(count.now, shown_with.now), _hidden_if(count.before, shown_with.before)
            )
        done = r.compared_part(sides(count), count_raw, done_raw, k, both(found.open))
        bounded = (r.within(count_raw[0], done_raw[0]), r.within(count_raw[1], done_raw[1]))
        time = r.compared_timing(*timings(found.time), k, of(done, bounded))
        return r.TaskFigures(count, done, time)

    made, reached, not_reached = (both(table) for table in call_backs)
    made_cell = r.compared(*made, k)
    conversations = both(relay.conversations)
    conversations_cell = r.compared(*conversations, k)
    return r.LineFigures(
        slug=slug,
        name=line.display_name,
        calls=calls,
        ring=r.compared_timing(*timings(raw.ring), k, of(calls.accepted, accepted)),
        talk=r.compared_timing(*timings(raw.talk), k, of(calls.accepted, accepted)),
        heat=_heat(raw, slug, k, calls, closed_hours(line.hours)),
        callers=_caller_figures(
            raw, slug, k, available=line.caller_hash, totals=(sides(calls.total), totals)
        ),
        voicemails=tasks(voicemails, calls.voicemail),
        callback_requests=tasks(requests),
        call_backs=r.CallBackFigures(
            made_cell, r.compared_part(sides(made_cell), made, reached, k, not_reached)
        ),
        relay=r.RelayFigures(
            conversations_cell,
            r.compared(*both(relay.messages_in), k),
            r.compared(*both(relay.messages_out), k),
            r.compared_timing(
                *timings(relay.first_reply), k, of(conversations_cell, conversations)
            ),
        ),
        languages=_languages(raw, slug, line.languages, k, calls, totals),
    )


def _languages(
    raw: _Raw,
    line: str,
    offered: Sequence[str],
    k: int,
    calls: r.CallFigures,
    totals: tuple[r.Raw, r.Raw],
) -> tuple[r.LanguageFigures, ...]:
    """The line's calls by language, each period protected as two rows: the languages' calls,
    whose total is the line's calls as shown, and their accepted calls (each beside its
    language's calls), whose total is the line's accepted calls as shown
    (`foundation.reports.partition`, `parts_within`). `totals`: the line's calls as counted
    (now, before)."""
    found = {code for p, slug, code in raw.languages if slug == line}
    others = sorted(found - set(offered) - {r.UNKNOWN_LANGUAGE})
    codes = [*offered, *others, *([r.UNKNOWN_LANGUAGE] if r.UNKNOWN_LANGUAGE in found else [])]
    columns: list[tuple[list[r.Cell], list[r.Cell]]] = []
    for i, (p, shown) in enumerate(((NOW, calls.total.now), (BEFORE, calls.total.before))):
        rows = [raw.languages.get((p, line, code), (r.ZERO, r.ZERO, r.ZERO)) for code in codes]
        spoken = r.partition(shown, totals[i], [row[0] for row in rows], k)
        taken = r.parts_within(
            calls.accepted.now if p == NOW else calls.accepted.before,
            [(cell, *row) for cell, row in zip(spoken, rows, strict=True)],
            k,
        )
        columns.append((spoken, taken))
    (spoken_now, taken_now), (spoken_before, taken_before) = columns
    return tuple(
        r.LanguageFigures(
            code=code,
            calls=r.compare(spoken_now[i], spoken_before[i]),
            accepted=r.compare(taken_now[i], taken_before[i]),
            accepted_share=r.share((taken_now[i],), spoken_now[i]),
            accepted_share_before=r.share((taken_before[i],), spoken_before[i]),
        )
        for i, code in enumerate(codes)
    )


def _hidden_if(cell: r.Cell, other: r.Cell) -> r.Cell:
    """`cell`, hidden (unless zero) when `other`, which counts the same, is hidden."""
    return r.HIDDEN if other.suppressed and cell.value else cell


def _row(raw: _Raw, p: int, line: str) -> tuple[r.Raw, list[r.Raw]]:
    parts = [raw.categories.get((p, line, c), r.ZERO) for c in CATEGORIES]
    total = sum(parts, r.ZERO)
    # The total's people: at least the line's distinct callers of the period.
    callers = raw.callers.get((p, line), r.ZERO).people
    people = max(total.people, callers, raw.total_people.get((p, line), 0))
    return r.Raw(total.value, people), parts


# The parts that may be hidden to protect another: first those that appear nowhere else
# (hung up, fallback), then those the tables show again and that are then hidden there too
# (voicemail: the voicemail tasks; accepted: the tiers and the timings' events), never those
# outside hours (the heat map's hours when the line is closed would add up to them): rather
# the total.
PROTECTING = (
    (CATEGORIES.index("abandoned"), CATEGORIES.index("fallback")),
    (CATEGORIES.index("voicemail"), CATEGORIES.index("accepted")),
)


def _call_figures(raw: _Raw, line: str, k: int) -> r.CallFigures:
    total, parts = r.compared_row(
        _row(raw, NOW, line), _row(raw, BEFORE, line), k, choose=PROTECTING
    )
    accepted, fallback, voicemail, abandoned, outside = parts

    def tiers(p: int) -> tuple[r.Raw, list[r.Raw]]:
        return raw.categories.get((p, line, "accepted"), r.ZERO), [
            raw.tiers.get((p, line, t), r.ZERO) for t in TIERS
        ]

    _, (primary, backup, unknown) = r.compared_row(tiers(NOW), tiers(BEFORE), k)
    # The tiers' row is protected on its own; its total is the accepted cell of the outcomes.
    if accepted.now.suppressed:
        primary, backup, unknown = (_hide_now(c) for c in (primary, backup, unknown))
    if accepted.before.suppressed:
        primary, backup, unknown = (_hide_before(c) for c in (primary, backup, unknown))
    return r.CallFigures(
        total=total,
        accepted=accepted,
        accepted_primary=primary,
        accepted_backup=backup,
        accepted_unknown_tier=unknown,
        fallback=fallback,
        voicemail=voicemail,
        abandoned=abandoned,
        outside_hours=outside,
        answered_share=r.share((accepted.now, fallback.now), total.now),
        answered_share_before=r.share((accepted.before, fallback.before), total.before),
    )


def _hide_now(cell: r.Compared) -> r.Compared:
    return r.compare(r.HIDDEN if cell.now.value else cell.now, cell.before)


def _hide_before(cell: r.Compared) -> r.Compared:
    return r.compare(cell.now, r.HIDDEN if cell.before.value else cell.before)


def closed_hours(hours: ServiceHours) -> frozenset[int]:
    """The hours of the week (0: Monday 00:00 to 167: Sunday 23:00) in which the line is never
    open: every call counted there came outside hours. An hour the line is open for part of
    (opening at 09:30) is not one of them."""
    monday = date(2026, 11, 23)
    closed: set[int] = set()
    for day in range(r.WEEKDAYS):
        spans = hours.on(monday + timedelta(days=day))
        for hour in range(r.HOURS):
            if not any(s.start < (hour + 1) * 60 and s.end > hour * 60 for s in spans):
                closed.add(day * r.HOURS + hour)
    return frozenset(closed)


def _heat(raw: _Raw, line: str, k: int, calls: r.CallFigures, closed: frozenset[int]) -> r.HeatMap:
    """The 168 hours, protected as three rows: all of them, whose total is the calls' total as
    shown (hidden there, every hour is hidden); the hours the line is closed, whose calls are
    all outside hours (their total is the count outside hours as shown); and the other hours,
    whose total is then the rest. A row whose total is shown never has a single hidden hour
    (its complement is taken in the same row first). When the count outside hours is hidden,
    so is at least one hour the line is open, else the total minus the open hours would give
    the closed hours' calls, and with them the hidden count."""
    slots = [raw.heat.get((line, h), r.ZERO) for h in range(r.WEEKDAYS * r.HOURS)]
    if calls.total.now.suppressed:
        return _heat_map([r.Cell(0) if s.value == 0 else r.HIDDEN for s in slots])
    cells = [r.suppress(slot, k) for slot in slots]
    shut = [h for h in range(len(slots)) if h in closed]
    open_ = [h for h in range(len(slots)) if h not in closed]
    outside_shown = not calls.outside_hours.now.suppressed
    rows = [(list(range(len(slots))), True), (shut, outside_shown), (open_, outside_shown)]

    def hidden(row: list[int]) -> list[int]:
        return [h for h in row if cells[h].suppressed]

    def hide_smallest(row: list[int]) -> bool:
        visible = [(cells[h].value, h) for h in row if cells[h].value]
        if visible:
            cells[min(visible)[1]] = r.HIDDEN
        return bool(visible)

    changed = True
    while changed:
        changed = False
        for row, total_known in rows:
            lone = hidden(row)
            if total_known and len(lone) == 1:
                own = shut if lone[0] in closed else open_
                if not hide_smallest([h for h in own if h in row]) and not hide_smallest(row):
                    return _heat_map([r.Cell(0) if s.value == 0 else r.HIDDEN for s in slots])
                changed = True
        if not outside_shown and hidden(shut) and not hidden(open_):
            if not hide_smallest(open_):
                return _heat_map([r.Cell(0) if s.value == 0 else r.HIDDEN for s in slots])
            changed = True
    return _heat_map(cells)


def _heat_map(cells: Sequence[r.Cell]) -> r.HeatMap:
    return r.HeatMap(
        tuple(tuple(cells[d * r.HOURS : (d + 1) * r.HOURS]) for d in range(r.WEEKDAYS))
    )


def _caller_figures(
    raw: _Raw,
    line: str,
    k: int,
    *,
    available: bool,
    totals: tuple[tuple[r.Cell, r.Cell], tuple[r.Raw, r.Raw]],
) -> r.CallerFigures:
    """`totals`: the calls' total as shown and as counted (the relatives' calls are a part
    of it)."""
    relatives = r.compared_part(
        totals[0],
        totals[1],
        (raw.relatives.get((NOW, line), r.ZERO), raw.relatives.get((BEFORE, line), r.ZERO)),
        k,
    )
    if not available:
        hidden = r.Compared(r.HIDDEN, r.HIDDEN, r.HIDDEN)
        return r.CallerFigures(False, hidden, hidden, hidden, relatives)

    def row(p: int) -> tuple[r.Raw, list[r.Raw]]:
        callers = raw.callers.get((p, line), r.ZERO)
        first = raw.first_time.get((p, line), r.ZERO)
        repeat = callers.value - first.value
        return callers, [first, r.Raw(repeat, repeat)]

    callers, (first, repeat) = r.compared_row(row(NOW), row(BEFORE), k)
    return r.CallerFigures(True, callers, first, repeat, relatives)


# --- the roll-up ---------------------------------------------------------------------------


ROLL_UP_DAYS = 92  # at most this many days per run (the first run after years of history)


def roll_up(session: Session, config: HotlineConfig, before: date) -> int:
    """Roll the call records of local days before `before` into the daily aggregates, then
    delete them (voicemails keep their row and caller hash, without the link). Days at most
    ROLL_UP_DAYS from the oldest record on; returns how many calls were rolled up.
    Idempotent: what is rolled up is deleted in the same transaction."""
    zone = config.organisation.zone
    oldest = session.scalar(select(func.min(Call.started_at)))
    if oldest is None:
        return 0
    first = oldest.astimezone(zone).date()
    last = min(before, first + timedelta(days=ROLL_UP_DAYS))
    if last <= first:
        return 0
    start, end = r.local_midnight(first, zone), r.local_midnight(last, zone)
    dialect = session.get_bind().dialect.name
    local = local_seconds(Call.started_at, dialect, offsets(start, end, zone))
    day = (local // 86400).label("d")
    hour = ((local % 86400) // 3600).label("h")
    cat = category().label("c")
    window = [Call.started_at >= start, Call.started_at < end, counted()]
    tier = func.coalesce(type_coerce(Call.accepted_tier, String), "").label("t")
    language = func.coalesce(Call.language, "").label("language")
    rows = session.execute(
        select(
            day,
            Call.line,
            cat,
            tier,
            Call.from_relative,
            language,
            func.count(),
            *_people(Call.caller_hash),
        )
        .where(*window)
        .group_by(day, Call.line, cat, tier, Call.from_relative, language)
    ).all()
    _insert(
        session,
        CallDay,
        [
            {
                "day": _day(d),
                "line": line,
                "category": c,
                "tier": t if c == "accepted" else "",
                "relative": bool(rel),
                "language": code,
                "calls": n,
                "callers": hashes + (anonymous or 0),
            }
            for d, line, c, t, rel, code, n, hashes, anonymous in rows
        ],
    )
    rows_hours = session.execute(
        select(day, Call.line, hour, func.count(), *_people(Call.caller_hash))
        .where(*window)
        .group_by(day, Call.line, hour)
    ).all()
    _insert(
        session,
        CallDayHour,
        [
            {"day": _day(d), "line": line, "hour": int(h), "calls": n, "callers": a + (b or 0)}
            for d, line, h, n, a, b in rows_hours
        ],
    )
    for kind, column in (("ring", Call.ring_seconds), ("talk", Call.talk_seconds)):
        seconds = session.execute(
            select(day, Call.line, column, func.count())
            .where(*window, accepted(), column.is_not(None))
            .group_by(day, Call.line, column)
        ).all()
        _insert(
            session,
            CallDaySeconds,
            [
                {"day": _day(d), "line": line, "kind": kind, "seconds": s, "calls": n}
                for d, line, s, n in seconds
            ],
        )
    _roll_up_months(session, first, last, zone)
    doomed = select(Call.id).where(Call.started_at >= start, Call.started_at < end)
    session.execute(
        update(Voicemail)
        .where(Voicemail.call_id.in_(doomed))
        .values(call_id=None)
        .execution_options(synchronize_session=False)
    )
    gone = session.execute(
        delete(Call).where(Call.started_at < end).execution_options(synchronize_session=False)
    )
    return int(getattr(gone, "rowcount", 0) or 0)


def _roll_up_months(session: Session, first: date, last: date, zone: Any) -> None:
    """Distinct callers per local month (clipped to [first, last)) of the calls rolled up."""
    month = first.replace(day=1)
    while month < last:
        following = r.of_kind("month", month).last + timedelta(days=1)
        start = r.local_midnight(max(month, first), zone)
        end = r.local_midnight(min(following, last), zone)
        cat = category()
        window = [Call.started_at >= start, Call.started_at < end, counted()]
        people = _people(Call.caller_hash)
        tier = func.coalesce(type_coerce(Call.accepted_tier, String), "")
        groups: list[tuple[Any, Any, list[Any]]] = [
            (cat, literal("*"), []),
            (literal("accepted"), tier, [accepted()]),
            (literal("relatives"), literal("*"), [Call.from_relative]),
            (literal("total"), literal("*"), []),
        ]
        rows = []
        for c, t, where in groups:
            found = session.execute(
                select(Call.line, c, t, *people).where(*window, *where).group_by(Call.line, c, t)
            )
            rows += [
                {"month": month, "line": ln, "category": cc, "tier": tt, "callers": a + (b or 0)}
                for ln, cc, tt, a, b in found
            ]
        _insert(session, CallMonth, rows)
        month = following


def _day(number: Any) -> date:
    return EPOCH_DAY + timedelta(days=int(number))


def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        session.execute(insert(model), batch)
