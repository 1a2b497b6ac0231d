"""Who is on call for a team, and when nobody is.

A pure core: plain data in, plain data out, no I/O and no clock.

Semantics
---------
* Every datetime must be timezone-aware; a naive one raises ``ValueError``.
  ``ShiftSpan`` and ``StandIn`` store their bounds converted to UTC, and every datetime
  returned by this module is in UTC.  (Comparing two datetimes that share a ``ZoneInfo``
  ignores ``fold`` and so misorders the repeated autumn hour; UTC never does.)
* Intervals are half-open: a shift or stand-in covers ``at`` iff ``start <= at < end``.
  ``start >= end`` raises ``ValueError``.
* Stand-ins: if a stand-in for counsellor X covers ``at``, every shift of X covering ``at``
  is served by the substitute instead.  If several stand-ins for X cover ``at``, the last
  one in the given iterable wins (callers pass them in creation order), so a later stand-in
  naming X as her own substitute reinstates X.
* Absences: a counsellor who is absent (holiday, sick) at ``at`` serves no shift at ``at``:
  neither her own nor one she stands in for. Her own shifts are served by whoever a stand-in
  names for her (if that person is not absent too); otherwise they count as gaps. So an absence
  opens a gap and a stand-in closes it, whatever order they were entered in.
* No chaining: the substitute is never replaced by a stand-in of her own.  Following chains
  could loop (X -> Y -> X) and would put someone on call whom the coordinator never named;
  this way the coordinator sees exactly the person they entered.
* Order within a tier: by shift start ascending, then by the id of the counsellor actually
  serving (a substitute takes the shift's place).  A counsellor appears at most once, in
  the highest tier (primary beats backup) and there at the earliest position.
* ``gaps`` reports the maximal half-open intervals inside ``[start, end)`` where the given
  tier of ``on_call`` is empty (``tier=None``: where nobody at all is on call).  Because of
  the at-most-once rule, a backup tier staffed only by people already on primary counts as
  a backup gap: there is nobody further to escalate to.  Computed by one sweep over the
  boundaries, O(n log n).
* ``next_change`` returns the first shift or stand-in boundary strictly after ``after`` at
  which ``on_call`` really differs from ``on_call(..., after)`` (a different person, tier or
  calling order), or ``None`` if nothing changes any more.
* ``worked`` cuts each shift into the parts in which one person works it: the holder, a
  substitute, or nobody (an absence with no stand-in, or an absent substitute). It applies the
  very rule ``on_call`` applies (``_server``), so at every instant the people working a part
  are exactly the people ``on_call`` lists; the calendar feeds show duties this way.
* ``local_span`` turns a local handoff wall-clock time into UTC instants, so its shifts are
  23 or 25 real hours long across a DST change.  The handoff's ``fold`` is ignored and
  treated as 0: an ambiguous wall time (autumn) means its first occurrence (summer time);
  a wall time that does not exist (spring gap) is read with the offset in force before
  the change, i.e. it moves forward by the length of the gap (02:30 -> 03:30 in Berlin).
  Both ends of consecutive daily spans resolve the same way, so they still meet exactly.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from foundation.models import Tier

_TIERS = (Tier.PRIMARY, Tier.BACKUP)


def _as_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _normalise_interval(obj: ShiftSpan | StandIn | Absence) -> None:
    start = _as_utc(obj.start, "start")
    end = _as_utc(obj.end, "end")
    if start >= end:
        raise ValueError(f"{type(obj).__name__} must start before it ends: {start} >= {end}")
    # Frozen dataclass: normalising in __post_init__ needs object.__setattr__.
    object.__setattr__(obj, "start", start)
    object.__setattr__(obj, "end", end)


def _covers(span: ShiftSpan | StandIn | Absence, at: datetime) -> bool:
    return span.start <= at < span.end


@dataclass(frozen=True, slots=True)
class ShiftSpan:
    """One on-call shift of one counsellor in one team, covering [start, end)."""

    counsellor_id: int
    tier: Tier
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "tier", Tier(self.tier))
        _normalise_interval(self)


@dataclass(frozen=True, slots=True)
class StandIn:
    """absent_id is replaced by substitute_id during [start, end)."""

    absent_id: int
    substitute_id: int
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _normalise_interval(self)


@dataclass(frozen=True, slots=True)
class Absence:
    """counsellor_id is away (holiday, sick) during [start, end)."""

    counsellor_id: int
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _normalise_interval(self)


@dataclass(frozen=True, slots=True)
class OnCall:
    primary: tuple[int, ...]
    backup: tuple[int, ...]

    def tiers(self) -> list[tuple[Tier, tuple[int, ...]]]:
        """Non-empty tiers in calling order."""
        pairs = ((Tier.PRIMARY, self.primary), (Tier.BACKUP, self.backup))
        return [(tier, ids) for tier, ids in pairs if ids]

    def counsellors(self) -> tuple[int, ...]:
        return self.primary + self.backup

    def __bool__(self) -> bool:
        return bool(self.primary or self.backup)


# --- on_call ---------------------------------------------------------------------------------


def on_call(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    at: datetime,
    absences: Iterable[Absence] = (),
) -> OnCall:
    at = _as_utc(at, "at")
    away = {a.counsellor_id for a in absences if _covers(a, at)}
    return _rank([s for s in shifts if _covers(s, at)], _substitutes_at(stand_ins, at), away)


def _substitutes_at(stand_ins: Iterable[StandIn], at: datetime) -> dict[int, int]:
    # Later entries overwrite earlier ones: the last stand-in in creation order wins.
    return {si.absent_id: si.substitute_id for si in stand_ins if _covers(si, at)}


def _server(holder: int, substitutes: Mapping[int, int], away: set[int]) -> int | None:
    """Who works a shift of `holder` at an instant: her substitute if a stand-in names one,
    else herself; nobody (None) if that person is away."""
    who = substitutes.get(holder, holder)
    return None if who in away else who


def _rank(covering: Iterable[ShiftSpan], substitutes: Mapping[int, int], away: set[int]) -> OnCall:
    keyed = sorted(
        (_TIERS.index(s.tier), s.start, who)
        for s in covering
        if (who := _server(s.counsellor_id, substitutes, away)) is not None
    )
    seen: set[int] = set()
    ranked: tuple[list[int], list[int]] = ([], [])
    for tier_index, _, who in keyed:
        if who not in seen:
            seen.add(who)
            ranked[tier_index].append(who)
    return OnCall(primary=tuple(ranked[0]), backup=tuple(ranked[1]))


# --- next_change -----------------------------------------------------------------------------


def next_change(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    after: datetime,
    absences: Iterable[Absence] = (),
) -> datetime | None:
    after = _as_utc(after, "after")
    # Anything that ended by `after` can never cover a later instant again.
    live_shifts = [s for s in shifts if s.end > after]
    live_stand_ins = [si for si in stand_ins if si.end > after]
    live_absences = [a for a in absences if a.end > after]
    current = on_call(live_shifts, live_stand_ins, after, live_absences)
    for candidate in _boundaries_after(live_shifts, live_stand_ins, live_absences, after):
        if on_call(live_shifts, live_stand_ins, candidate, live_absences) != current:
            return candidate
    return None


def _boundaries_after(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    absences: Iterable[Absence],
    after: datetime,
) -> list[datetime]:
    spans: Iterator[ShiftSpan | StandIn | Absence] = itertools.chain(shifts, stand_ins, absences)
    return sorted({t for span in spans for t in (span.start, span.end) if t > after})


# --- timeline --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """Who is on call during [start, end): the same people, tiers and order throughout."""

    start: datetime
    end: datetime
    on_call: OnCall


def timeline(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    start: datetime,
    end: datetime,
    absences: Iterable[Absence] = (),
) -> list[Segment]:
    """[start, end) cut into maximal segments of unchanging on-call state (empty ones too).

    Evaluates `on_call` once per boundary: O(n * b) for n spans and b boundaries, meant for
    windows of days (notices, a page of the rota), not for years."""
    start = _as_utc(start, "start")
    end = _as_utc(end, "end")
    if start >= end:
        return []
    spans = [s for s in shifts if s.end > start and s.start < end]
    subs = [si for si in stand_ins if si.end > start and si.start < end]
    away = [a for a in absences if a.end > start and a.start < end]
    cuts = [start] + [t for t in _boundaries_after(spans, subs, away, start) if t < end] + [end]
    segments: list[Segment] = []
    for seg_start, seg_end in itertools.pairwise(cuts):
        state = on_call(spans, subs, seg_start, away)
        if segments and segments[-1].on_call == state:
            segments[-1] = Segment(segments[-1].start, seg_end, state)
        else:
            segments.append(Segment(seg_start, seg_end, state))
    return segments


# --- worked ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """[start, end) of one shift, worked throughout by `by`: the holder, a substitute, or
    nobody (None: the duty is a gap there)."""

    start: datetime
    end: datetime
    by: int | None


def worked(
    shifts: Sequence[ShiftSpan],
    stand_ins: Sequence[StandIn],
    absences: Iterable[Absence] = (),
) -> list[tuple[Part, ...]]:
    """Each shift (in the order given) cut into maximal parts worked by one person, with the
    rule `on_call` applies: the latest stand-in for the holder names who works it, and
    whoever would work it serves nothing while absent. The parts of a shift cover it exactly.

    Only the stand-ins for the shift's holder and the absences of her and of the substitutes
    those name are looked at, so this is O(n * k) for n shifts and k stand-ins and absences
    per person: meant for a feed's year of shifts."""
    by_holder: dict[int, list[StandIn]] = {}
    for stand_in in stand_ins:  # creation order kept: the latest wins
        by_holder.setdefault(stand_in.absent_id, []).append(stand_in)
    away_of: dict[int, list[Absence]] = {}
    for absence in absences:
        away_of.setdefault(absence.counsellor_id, []).append(absence)
    return [_parts(s, by_holder.get(s.counsellor_id, []), away_of) for s in shifts]


def _parts(
    shift: ShiftSpan, stand_ins: Sequence[StandIn], away_of: Mapping[int, Sequence[Absence]]
) -> tuple[Part, ...]:
    mine = [si for si in stand_ins if si.start < shift.end and si.end > shift.start]
    people = {shift.counsellor_id} | {si.substitute_id for si in mine}
    away = [
        a
        for who in sorted(people)
        for a in away_of.get(who, ())
        if a.start < shift.end and a.end > shift.start
    ]
    if not mine and not away:  # most shifts: worked by their holder throughout
        return (Part(shift.start, shift.end, shift.counsellor_id),)
    spans: list[StandIn | Absence] = [*mine, *away]
    inner = {t for span in spans for t in (span.start, span.end)}
    cuts = [shift.start, *sorted(t for t in inner if shift.start < t < shift.end), shift.end]
    parts: list[Part] = []
    for start, end in itertools.pairwise(cuts):
        gone = {a.counsellor_id for a in away if _covers(a, start)}
        who = _server(shift.counsellor_id, _substitutes_at(mine, start), gone)
        if parts and parts[-1].by == who:
            parts[-1] = Part(parts[-1].start, end, who)
        else:
            parts.append(Part(start, end, who))
    return tuple(parts)


# --- gaps ------------------------------------------------------------------------------------


def gaps(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    start: datetime,
    end: datetime,
    tier: Tier | None = Tier.PRIMARY,
    absences: Iterable[Absence] = (),
) -> list[tuple[datetime, datetime]]:
    return gaps_each(shifts, stand_ins, [(start, end)], tier, absences)[0]


def gaps_each(
    shifts: Iterable[ShiftSpan],
    stand_ins: Iterable[StandIn],
    windows: Sequence[tuple[datetime, datetime]],
    tier: Tier | None = Tier.PRIMARY,
    absences: Iterable[Absence] = (),
) -> list[list[tuple[datetime, datetime]]]:
    """`gaps` of each (start, end) window, from one walk over the rota (a report's period
    and the previous one)."""
    bounds = [(_as_utc(start, "start"), _as_utc(end, "end")) for start, end in windows]
    if all(start >= end for start, end in bounds):
        return [[] for _ in bounds]
    timeline = list(_coverage_timeline(tuple(shifts), tuple(stand_ins), tuple(absences), tier))
    return [_uncovered(timeline, start, end) if start < end else [] for start, end in bounds]


def _uncovered(
    timeline: Iterable[tuple[datetime, bool]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Clip a (boundary, covered-from-here) timeline to [start, end) and list the holes."""
    found: list[tuple[datetime, datetime]] = []
    gap_from: datetime | None = start  # before the first boundary nobody is on call
    for t, covered in timeline:
        if t >= end:
            break
        if t <= start:
            gap_from = None if covered else start
        elif covered and gap_from is not None:
            found.append((gap_from, t))
            gap_from = None
        elif not covered and gap_from is None:
            gap_from = t
    if gap_from is not None:
        found.append((gap_from, end))
    return found


_SHIFT_START, _SHIFT_END, _STAND_IN_START, _STAND_IN_END, _AWAY_START, _AWAY_END = range(6)


def _coverage_timeline(
    shifts: Sequence[ShiftSpan],
    stand_ins: Sequence[StandIn],
    absences: Sequence[Absence],
    tier: Tier | None,
) -> Iterator[tuple[datetime, bool]]:
    """Yield each boundary with whether `tier` is staffed from it until the next one."""
    events = sorted(
        [(s.start, _SHIFT_START, i) for i, s in enumerate(shifts)]
        + [(s.end, _SHIFT_END, i) for i, s in enumerate(shifts)]
        + [(si.start, _STAND_IN_START, j) for j, si in enumerate(stand_ins)]
        + [(si.end, _STAND_IN_END, j) for j, si in enumerate(stand_ins)]
        + [(a.start, _AWAY_START, k) for k, a in enumerate(absences)]
        + [(a.end, _AWAY_END, k) for k, a in enumerate(absences)]
    )
    state = _Coverage(stand_ins)
    for t, group in itertools.groupby(events, key=lambda event: event[0]):
        for _, kind, index in group:
            if kind in (_SHIFT_START, _SHIFT_END):
                shift = shifts[index]
                state.shift(shift.tier, shift.counsellor_id, 1 if kind == _SHIFT_START else -1)
            elif kind in (_STAND_IN_START, _STAND_IN_END):
                state.stand_in(index, starting=kind == _STAND_IN_START)
            else:
                state.away(absences[index].counsellor_id, 1 if kind == _AWAY_START else -1)
        yield t, state.staffed(tier)


class _Coverage:
    """Incrementally maintained on-call state, enough to tell whether each tier is empty.

    Every update is O(log n), which keeps gaps() at O(n log n) even with stand-ins and the
    at-most-once rule (which can empty the backup tier without any backup shift ending).
    """

    def __init__(self, stand_ins: Sequence[StandIn]) -> None:
        self._stand_ins = stand_ins
        self._rostered: Counter[tuple[Tier, int]] = Counter()  # active shifts per rota owner
        self._serving: Counter[tuple[Tier, int]] = Counter()  # active shifts per actual server
        self._candidates: dict[int, list[int]] = {}  # absent id -> max-heap of stand-in indices
        self._ended: set[int] = set()  # lazily deleted from the heaps
        self._substitute: dict[int, int] = {}  # absent id -> who serves in her place now
        self._away: Counter[int] = Counter()  # absences under way per counsellor
        self._primary = 0  # present counsellors serving at least one primary shift
        self._backup_only = 0  # present counsellors serving backup shifts and no primary one

    def staffed(self, tier: Tier | None) -> bool:
        if tier is Tier.PRIMARY:
            return self._primary > 0
        if tier is Tier.BACKUP:
            return self._backup_only > 0
        return self._primary + self._backup_only > 0

    def shift(self, tier: Tier, owner: int, delta: int) -> None:
        self._rostered[tier, owner] += delta
        self._move(self._substitute.get(owner, owner), tier, delta)

    def stand_in(self, index: int, *, starting: bool) -> None:
        absent = self._stand_ins[index].absent_id
        if starting:
            # Negated indices: heapq is a min-heap, and the latest stand-in must win.
            heapq.heappush(self._candidates.setdefault(absent, []), -index)
        else:
            self._ended.add(index)
        self._reassign(absent)

    def _reassign(self, absent: int) -> None:
        heap = self._candidates.get(absent, [])
        while heap and -heap[0] in self._ended:
            heapq.heappop(heap)
        new = self._stand_ins[-heap[0]].substitute_id if heap else absent
        old = self._substitute.get(absent, absent)
        if new == old:
            return
        self._substitute[absent] = new
        for tier in _TIERS:
            count = self._rostered[tier, absent]
            if count:
                self._move(old, tier, -count)
                self._move(new, tier, count)

    def away(self, who: int, delta: int) -> None:
        was_primary, was_backup_only = self._flags(who)
        self._away[who] += delta
        self._count(who, was_primary, was_backup_only)

    def _move(self, who: int, tier: Tier, delta: int) -> None:
        was_primary, was_backup_only = self._flags(who)
        self._serving[tier, who] += delta
        self._count(who, was_primary, was_backup_only)

    def _count(self, who: int, was_primary: int, was_backup_only: int) -> None:
        is_primary, is_backup_only = self._flags(who)
        self._primary += is_primary - was_primary
        self._backup_only += is_backup_only - was_backup_only

    def _flags(self, who: int) -> tuple[int, int]:
        if self._away[who] > 0:
            return 0, 0
        primary = self._serving[Tier.PRIMARY, who] > 0
        backup_only = not primary and self._serving[Tier.BACKUP, who] > 0
        return int(primary), int(backup_only)


# --- local_span ------------------------------------------------------------------------------


def local_span(
    first_day: date, handoff: time, days: int, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    if days < 1:
        raise ValueError(f"a shift must last at least one day, got days={days}")
    if handoff.tzinfo is not None:
        raise ValueError(f"handoff must be a naive local wall-clock time, got {handoff!r}")
    return (
        _local_instant(first_day, handoff, zone),
        _local_instant(first_day + timedelta(days=days), handoff, zone),
    )


def _local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    # fold=0 for both ends so that consecutive spans resolve a DST edge identically.
    return datetime.combine(day, wall.replace(fold=0), tzinfo=zone).astimezone(UTC)
