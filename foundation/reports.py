"""Reports (issue 17): the shared shape of a team's report, its periods, and the protection of
small counts. The figures themselves are computed beside each other: calls, voicemails,
callback requests, call-backs and the text relay in `hotline.reports`, appointments, reminders
and the rota in `scheduling.reports`; the web layer composes both halves into one `Report`.

Everything here is plain data and pure functions (no database, no clock).

Small counts. A count is computed from some number of distinct people (callers, clients): its
`Raw.people`. A cell from fewer than `min_count` people is *suppressed*: it carries no value at
all (`Cell.value is None`), so that nothing downstream can show it by mistake. The rules:

1. **Primary**: `Raw.people < k` → suppressed (a zero count is shown: it names nobody).
2. **Complementary** (`suppress_row`): a row of parts that add up to a shown total (the calls'
   outcomes, the tiers of the accepted calls, the heat map's hours) must not have exactly one
   suppressed part, or total minus the visible parts gives it away. Then the smallest other
   non-zero visible part (of the groups `choose` allows) is suppressed too; if there is none,
   the total is. A suppressed total suppresses every part. A part shown beside its total
   ("davon erledigt") is a row with the rest it leaves (`part_of`).
3. **Differences** (`compare`): the change between two periods is suppressed when either side
   is; since each side's row has either no suppressed part or at least two, the changes
   cannot be subtracted to reveal one either.
4. **Derived figures** (shares, medians) are suppressed with what they are computed from; a
   median needs k people among its own events (`timing`).

What two tables of a report count alike is suppressed alike, by the code that composes them
(`hotline.reports`). Reports of two freely chosen overlapping periods are not protected
against each other (docs/reports.md#small-counts).

No report holds a caller hash, a number, a pseudonym or a name: only counts and seconds.
"""

from __future__ import annotations

import calendar
import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["week", "month", "quarter", "year", "range"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("week", "month", "quarter", "year", "range")
MAX_DAYS = 5 * 366  # the longest period a report covers (five years)
WEEKDAYS = 7
HOURS = 24


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days [first, last] (both included) in the organisation's time zone."""

    kind: PeriodKind
    """"week" (Monday to Sunday), "month", "quarter", "year", or "range" (any days)."""
    first: date
    """The first local day of the period."""
    last: date
    """The last local day of the period (included)."""
    zone: str = "Europe/Berlin"
    """The IANA time zone the days are in."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def start(self) -> datetime:
        """The first instant (UTC): local midnight of `first`."""
        return local_midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        """The instant after the period (UTC, excluded): local midnight after `last`. A day
        across a DST change is 23 or 25 hours long; this follows the wall clock."""
        return local_midnight(self.last + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of equal kind just before: the week, month, quarter or year before, or
        for a range the same number of days before."""
        if self.kind == "range":
            last = self.first - timedelta(days=1)
            return Period("range", last - timedelta(days=self.days - 1), last, self.zone)
        return of_kind(self.kind, self.first - timedelta(days=1), self.zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as a UTC instant (midnight exists in Europe/Berlin always)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def of_kind(kind: PeriodKind, day: date, zone: str = "Europe/Berlin") -> Period:
    """The week, month, quarter or year that contains `day`."""
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return Period("week", first, first + timedelta(days=6), zone)
    if kind == "month":
        last_day = calendar.monthrange(day.year, day.month)[1]
        return Period("month", day.replace(day=1), day.replace(day=last_day), zone)
    if kind == "quarter":
        month = 3 * ((day.month - 1) // 3) + 1
        first = date(day.year, month, 1)
        end_month = month + 2
        last = date(day.year, end_month, calendar.monthrange(day.year, end_month)[1])
        return Period("quarter", first, last, zone)
    if kind == "year":
        return Period("year", date(day.year, 1, 1), date(day.year, 12, 31), zone)
    raise ValueError(f"unknown period kind {kind!r}")


def between(first: date, last: date, zone: str = "Europe/Berlin") -> Period:
    """The days [first, last]; recognised as a week, month, quarter or year when they are
    exactly one (so that the previous period is the previous month, not as many days).
    Raises ValueError when last is before first or the range is longer than five years."""
    if last < first:
        raise ValueError("the period ends before it begins")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError("the period is longer than five years")
    for kind in ("week", "month", "quarter", "year"):
        candidate = of_kind(kind, first, zone)
        if candidate.first == first and candidate.last == last:
            return candidate
    return Period("range", first, last, zone)


# --- counts and their protection ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """A count as computed, before protection: never leaves the computation."""

    value: int
    """How many (calls, callers, messages, appointments, ...)."""
    people: int
    """How many distinct people it comes from (callers by keyed hash, clients by pseudonym);
    a lower bound where not exactly known (a call without a hash counts as one person, a
    rolled-up day contributes its own distinct count: see docs/reports.md)."""

    def __add__(self, other: Raw) -> Raw:
        """Two disjoint counts: people are at least the larger of both."""
        return Raw(self.value + other.value, max(self.people, other.people))


ZERO = Raw(0, 0)


@dataclass(frozen=True, slots=True)
class Cell:
    """A count as a report shows it."""

    value: int | None
    """The count, or None when it is suppressed (from fewer than k people, or to protect
    another suppressed cell)."""

    @property
    def suppressed(self) -> bool:
        return self.value is None

    def shown(self, min_count: int) -> int | str:
        """The count, or "<5" (with the configured k) when suppressed: the JSON and CSV form."""
        return f"<{min_count}" if self.value is None else self.value

    def text(self, min_count: int) -> str:
        """For pages: "12", or "< 5"."""
        return f"< {min_count}" if self.value is None else str(self.value)


HIDDEN = Cell(None)


@dataclass(frozen=True, slots=True)
class Compared:
    """A count in the period, in the previous period, and the change."""

    now: Cell
    """In the period."""
    before: Cell
    """In the previous period of equal kind."""
    change: Cell
    """now - before; suppressed when either side is (else it would reveal it)."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds of a set of events (ring seconds until accepted, talk seconds, time until a
    task was done, time to the first reply)."""

    events: Cell
    """How many events the figures are computed from."""
    median: float | None
    """The median in seconds; None when there are no events or they are suppressed."""
    p90: float | None
    """The 90th percentile in seconds (linear interpolation, as PostgreSQL's
    percentile_cont); None like the median."""


@dataclass(frozen=True, slots=True)
class ComparedTiming:
    """A timing in the period and in the previous period (no difference: both are shown)."""

    now: Timing
    before: Timing


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Calls by local weekday × local hour in the period (Europe/Berlin wall clock: the hour
    the clock showed when the call came in; the repeated hour of the October change counts
    both its halves into 02:00)."""

    cells: tuple[tuple[Cell, ...], ...]
    """7 rows (Monday first) of 24 cells (00:00 to 23:00), each a count of calls; protected as
    one row (complementary suppression across all 168 cells)."""


@dataclass(frozen=True, slots=True)
class CallFigures:
    """The calls to one line. `total` = accepted + fallback + voicemail + abandoned +
    outside_hours (calls still in progress are not counted)."""

    total: Compared
    """Every call that ended (or reached an outcome) in the period."""
    accepted: Compared
    """Accepted by a counsellor (pressed 1 at the whisper, or answered a line without
    screening)."""
    accepted_primary: Compared
    """Of `accepted`: by a counsellor rung at the primary tier."""
    accepted_backup: Compared
    """Of `accepted`: by a counsellor rung at the backup tier."""
    accepted_unknown_tier: Compared
    """Of `accepted`: the tier is not known (records from before it was kept, unscreened
    lines' answers)."""
    fallback: Compared
    """Nobody on call took it; the line's fallback number answered."""
    voicemail: Compared
    """Within hours, nobody took it, and the caller left a voicemail."""
    abandoned: Compared
    """Within hours, the caller hung up before anyone took the call (and left no voicemail)."""
    outside_hours: Compared
    """The line was closed (outside its hours, or a public holiday), whatever followed."""
    answered_share: float | None
    """(accepted + fallback) / total in the period, 0..1; None when there are no calls or a
    count it is computed from is suppressed."""
    answered_share_before: float | None
    """The same for the previous period."""


@dataclass(frozen=True, slots=True)
class CallerFigures:
    """Who called one line."""

    available: bool
    """False when the line keeps no caller hash (`caller_hash = false`): first-time and
    repeat callers are then not shown at all (all three counts below are suppressed)."""
    callers: Compared
    """Distinct callers (by keyed hash) in the period; withheld numbers are not counted."""
    first_time: Compared
    """Callers whose first call kept on record falls in the period."""
    repeat: Compared
    """Callers who had called the line before the period (within what retention keeps)."""
    relatives: Compared
    """Calls in which the caller chose the relatives menu (a count of calls)."""


@dataclass(frozen=True, slots=True)
class TaskFigures:
    """Voicemails or callback requests of one line."""

    count: Compared
    """How many came in during the period."""
    done: Compared
    """Of those: how many are done now."""
    time_to_done: ComparedTiming
    """Seconds from coming in until done, of those done."""


@dataclass(frozen=True, slots=True)
class CallBackFigures:
    """Call-backs through the line (hotline.outbound_calls) started in the period."""

    made: Compared
    """Call-backs placed (the counsellor's leg was dialled)."""
    reached: Compared
    """Of those: the client was reached (the bridge to the client was answered)."""


@dataclass(frozen=True, slots=True)
class RelayFigures:
    """The text relay of one line (conversations are counted on the line last written to)."""

    conversations: Compared
    """Conversations opened in the period."""
    messages_in: Compared
    """Messages from clients in the period."""
    messages_out: Compared
    """Messages to clients in the period (counsellors' replies, out-of-hours answers)."""
    first_reply: ComparedTiming
    """Seconds from a conversation's first client message to the first message to the
    client, of conversations opened in the period that have one."""


UNKNOWN_LANGUAGE = "unknown"
"""The language of calls from before the service kept one (`calls.language` NULL, or a day
rolled up before that)."""


@dataclass(frozen=True, slots=True)
class LanguageFigures:
    """The calls of one line in one language, the one the caller chose (or the line's first:
    `calls.language`). The languages of a line add up to its calls (`CallFigures.total`)."""

    code: str
    """ISO 639-1 ("tr"), or "unknown" (`UNKNOWN_LANGUAGE`)."""
    calls: Compared
    """Calls in this language that reached an outcome (as `CallFigures.total`)."""
    accepted: Compared
    """Of those: accepted by a counsellor (as `CallFigures.accepted`)."""
    accepted_share: float | None
    """accepted / calls in the period, 0..1; None when there are none or either is
    suppressed. (Not (accepted + fallback) / calls as the line's `answered_share`: that
    would show the fallback calls of each language, a third part of each language's calls
    that these rules do not protect across languages.)"""
    accepted_share_before: float | None
    """The same for the previous period."""


@dataclass(frozen=True, slots=True)
class LineFigures:
    """Everything about one line of the team."""

    slug: str
    """The line's slug in the configuration ("islamismus")."""
    name: str
    """The line's display name."""
    calls: CallFigures
    ring: ComparedTiming
    """Ring seconds until accepted by a counsellor (accepted calls only)."""
    talk: ComparedTiming
    """Talk seconds of accepted calls."""
    heat: HeatMap
    """Calls by weekday × hour, in the period only."""
    callers: CallerFigures
    voicemails: TaskFigures
    callback_requests: TaskFigures
    call_backs: CallBackFigures
    relay: RelayFigures
    languages: tuple[LanguageFigures, ...] = ()
    """The calls by language: the line's languages in the order of its menu, then others
    that calls were in (a language since removed from the line), then "unknown" if any."""


@dataclass(frozen=True, slots=True)
class AppointmentFigures:
    """Appointments of the team's counsellors starting in the period (a counsellor in two
    teams counts in both). People are clients by pseudonym (regardless of case and
    blanks: `scheduling.reports.person`)."""

    booked: Compared
    """Every appointment starting in the period, whatever became of it."""
    held: Compared
    """Marked done."""
    no_show: Compared
    """Marked no-show."""
    cancelled_by_client: Compared
    """Cancelled by the client by SMS (ABSAGEN)."""
    cancelled_by_staff: Compared
    """Cancelled in the service by staff."""
    open: Compared
    """Still booked (in the future, or not marked yet)."""


@dataclass(frozen=True, slots=True)
class ReminderFigures:
    """Reminders to clients and counsellors of the team's appointments, due in the period."""

    sent: Compared
    missed: Compared
    """Not sent: its moment passed while the service could not send (longer than the grace)."""
    failed: Compared
    """The provider refused it: certainly not sent."""
    uncertain: Compared
    """May or may not have been sent (a person decides)."""


@dataclass(frozen=True, slots=True)
class Hours:
    """Hours of rota time (staff, not clients: never suppressed)."""

    now: float
    before: float
    change: float


@dataclass(frozen=True, slots=True)
class RotaFigures:
    """The team's rota in the period."""

    gap_hours: Hours
    """Hours in which nobody was on call at the primary tier (absences count as gaps)."""
    stand_in_hours: Hours
    """Hours of shifts worked by a stand-in instead of their holder."""
    notices_sent: Hours
    """Shift notices sent to counsellors (a count; in `Hours` for its three plain numbers)."""


@dataclass(frozen=True, slots=True)
class Report:
    """A team's report for a period, compared with the previous period of equal kind."""

    team: str
    """The team's slug."""
    team_name: str
    period: Period
    previous: Period
    min_count: int
    """k: a cell from fewer people is suppressed ("< k")."""
    lines: tuple[LineFigures, ...]
    """The team's lines, in the order of the configuration."""
    appointments: AppointmentFigures
    reminders: ReminderFigures
    rota: RotaFigures
    detail_since: date | None = None
    """The first local day whose call records are kept in detail; days before it come from the
    daily roll-up (no first-time/repeat callers there, see docs/reports.md). None: every day
    of both periods is in detail."""
    notes: tuple[str, ...] = field(default=())
    """Limits of this report, in English (e.g. "caller hash off on line x")."""


# --- protection --------------------------------------------------------------------------


def suppress(raw: Raw, min_count: int) -> Cell:
    """Rule 1: a count from fewer than k people is suppressed; zero is shown."""
    if raw.value == 0:
        return Cell(0)
    return Cell(raw.value) if raw.people >= min_count else HIDDEN


def suppress_row(
    total: Raw,
    parts: Sequence[Raw],
    min_count: int,
    choose: Sequence[Sequence[int]] | None = None,
) -> tuple[Cell, list[Cell]]:
    """Rules 1 and 2: the total and its parts (which add up to it) protected together.
    `choose`: the parts that may be hidden to protect another, in groups tried in turn (the
    smallest non-zero shown part of the first group that has one); by default any part. A
    part that the report shows again elsewhere (the voicemails, the accepted calls' timings)
    is best left out of the first group, one whose calls another table gives away (those
    outside the line's hours: the heat map's closed hours) left out altogether."""
    shown_total = suppress(total, min_count)
    if shown_total.suppressed:
        return shown_total, _all_hidden(parts)
    cells = [suppress(part, min_count) for part in parts]
    if not _complement(cells, choose):
        shown_total = HIDDEN
    return shown_total, cells


def _all_hidden(parts: Sequence[Raw]) -> list[Cell]:
    """The parts of a hidden total: each hidden, but a zero."""
    return [Cell(0) if p.value == 0 else HIDDEN for p in parts]


def _complement(cells: list[Cell], choose: Sequence[Sequence[int]] | None = None) -> bool:
    """Rule 2 on the cells of a row whose total is shown: when exactly one is hidden, the
    smallest non-zero shown one (of the first group of `choose` that has one) is hidden too.
    False when there is none: then only hiding the total protects the part."""
    if sum(cell.suppressed for cell in cells) != 1:
        return True
    for group in choose if choose is not None else (range(len(cells)),):
        visible = [(cells[i].value, i) for i in group if cells[i].value]  # non-zero, shown
        if visible:
            cells[min(visible)[1]] = HIDDEN
            return True
    return False


def partition(shown_total: Cell, total: Raw, parts: Sequence[Raw], min_count: int) -> list[Cell]:
    """Rules 1 and 2 for the parts of a count that the report shows elsewhere (the calls of a
    line by the caller's language, whose total is the line's calls): `suppress_row`, and every
    part hidden when that count is, as shown, hidden (or the row could only be protected by
    hiding it): else the parts would add up to it."""
    own_total, cells = suppress_row(total, parts, min_count)
    if shown_total.suppressed or own_total.suppressed:
        return _all_hidden(parts)
    return cells


def parts_within(
    shown_total: Cell,
    groups: Sequence[tuple[Cell, Raw, Raw, Raw]],
    min_count: int,
) -> list[Cell]:
    """A count shown elsewhere (`shown_total`: the line's accepted calls) split over groups
    that are themselves shown (the calls in each language), of each group the part (accepted)
    beside it: `groups` holds each group's (cell as shown, count, part, rest = count - part).
    Each part is protected beside its group (`part_of`, rules 1 and 3), then the parts as a
    row whose total is `shown_total` (rule 2), all hidden when that is. As the groups' row
    (`partition`) and this one each have no hidden cell or at least two, and the rests follow
    from both, no hidden cell is the difference of shown ones."""
    cells = [part_of(cell, group, part, min_count, rest) for cell, group, part, rest in groups]
    if shown_total.suppressed or not _complement(cells):
        return _all_hidden([part for _, _, part, _ in groups])
    return cells


def within(total: Raw, part: Raw) -> Raw:
    """`part`, a subset of the events counted in `total`, with its people bounded from below
    by the total's too: the rest (total - part) can take at most one person per event away."""
    rest = max(0, total.value - part.value)
    return Raw(part.value, max(part.people, total.people - rest))


def part_of(
    shown_total: Cell, total: Raw, part: Raw, min_count: int, rest: Raw | None = None
) -> Cell:
    """Rules 1 and 2 for a part shown beside its total ("davon erledigt" of the voicemails,
    the call-backs that reached the client, the calls through the relatives menu, a timing's
    events): the rest, total - part, is a part of the row too, only not shown. A part of a
    hidden total is hidden; so is the part when the rest comes from fewer than k people
    (else total minus part would show it). `rest`: the rest as counted, if it was (else its
    people are bounded from below: the part takes at most one person per event away)."""
    if part.value == 0:
        return Cell(0)
    if shown_total.suppressed:
        return HIDDEN
    bounded = within(total, part)
    left = Raw(max(0, total.value - part.value), max(0, total.people - part.value))
    if rest is not None:
        left = Raw(left.value, max(left.people, rest.people))
    if suppress(left, min_count).suppressed:
        return HIDDEN
    return suppress(bounded, min_count)


def compared_part(
    totals: tuple[Cell, Cell],
    raw_totals: tuple[Raw, Raw],
    parts: tuple[Raw, Raw],
    min_count: int,
    rests: tuple[Raw, Raw] | None = None,
) -> Compared:
    """`part_of` in both periods (now, before), then compared."""
    now, before = (
        part_of(totals[i], raw_totals[i], parts[i], min_count, rests[i] if rests else None)
        for i in (0, 1)
    )
    return compare(now, before)


def compare(now: Cell, before: Cell) -> Compared:
    """Rule 3: the change is suppressed when either side is."""
    if now.value is None or before.value is None:
        return Compared(now, before, HIDDEN)
    return Compared(now, before, Cell(now.value - before.value))


def compared(now: Raw, before: Raw, min_count: int) -> Compared:
    """A single count (not part of a row) in both periods."""
    return compare(suppress(now, min_count), suppress(before, min_count))


def compared_row(
    now: tuple[Raw, Sequence[Raw]],
    before: tuple[Raw, Sequence[Raw]],
    min_count: int,
    choose: Sequence[Sequence[int]] | None = None,
) -> tuple[Compared, list[Compared]]:
    """A row (total, parts) in both periods: each side protected, then compared."""
    total_now, parts_now = suppress_row(now[0], now[1], min_count, choose)
    total_before, parts_before = suppress_row(before[0], before[1], min_count, choose)
    return compare(total_now, total_before), [
        compare(a, b) for a, b in zip(parts_now, parts_before, strict=True)
    ]


def share(part: Iterable[Cell], total: Cell) -> float | None:
    """Rule 4: sum(part) / total, None if any of them is suppressed or the total is 0."""
    values = [cell.value for cell in part]
    if total.value is None or not total.value or any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None) / total.value


# --- timings -------------------------------------------------------------------------------


def percentile(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The `fraction` percentile of the values counted in `histogram` (value → how often),
    interpolated linearly between neighbours like PostgreSQL's percentile_cont. A histogram
    (one row per distinct second, grouped in the database) is what both databases can give
    fast and what the daily roll-up keeps, so one function serves detail and roll-up."""
    return percentiles(histogram, (fraction,))[0]


def percentiles(histogram: Mapping[int, int], fractions: Sequence[float]) -> list[float | None]:
    """`percentile` of each of `fractions`, the histogram sorted once."""
    values = sorted(value for value, count in histogram.items() if count > 0)
    ranks = list(accumulate(histogram[value] for value in values))  # events up to each value
    if not ranks:
        return [None for _ in fractions]
    found: list[float | None] = []
    for fraction in fractions:
        position = fraction * (ranks[-1] - 1)
        lower_rank, upper_rank = math.floor(position), math.ceil(position)
        lower = values[bisect_right(ranks, lower_rank)]
        upper = values[bisect_right(ranks, upper_rank)]
        found.append(lower + (upper - lower) * (position - lower_rank))
    return found


@dataclass(frozen=True, slots=True)
class RawTiming:
    """Seconds of events, before protection: value → how many events, and from how many
    people."""

    histogram: Mapping[int, int]
    people: int

    def __add__(self, other: RawTiming) -> RawTiming:
        merged = dict(self.histogram)
        for value, count in other.histogram.items():
            merged[value] = merged.get(value, 0) + count
        return RawTiming(merged, max(self.people, other.people))


NO_TIMING = RawTiming({}, 0)


Of = tuple[Cell, Raw]
"""What a timing's events are a part of: that count as shown, and as counted (the accepted
calls of the ring seconds, the done voicemails of the time until done)."""


def timing(raw: RawTiming, min_count: int, of: Of | None = None) -> Timing:
    """Rule 4: median and p90, or nothing when the events come from fewer than k people.
    With `of`, the events are a part of that count (not every accepted call has its ring
    seconds): their people are bounded by its people less the events without seconds, and
    their number is protected as a part beside it (`part_of`: hidden with it, or when the
    rest is small), while the median and p90 stay shown if the events' people are k."""
    n = sum(raw.histogram.values())
    if of is None:
        people = raw.people
        events = suppress(Raw(n, people), min_count)
    else:
        shown, parent = of
        people = within(parent, Raw(n, 0)).people
        events = part_of(shown, parent, Raw(n, 0), min_count)
    if n == 0 or people < min_count:
        return Timing(events, None, None)
    median, p90 = percentiles(raw.histogram, (0.5, 0.9))
    return Timing(events, median, p90)


def compared_timing(
    now: RawTiming, before: RawTiming, min_count: int, of: tuple[Of, Of] | None = None
) -> ComparedTiming:
    return ComparedTiming(
        timing(now, min_count, of[0] if of else None),
        timing(before, min_count, of[1] if of else None),
    )


def hours(now: float, before: float) -> Hours:
    return Hours(round(now, 2), round(before, 2), round(now - before, 2))
