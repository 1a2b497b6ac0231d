"""Local wall-clock times as people type them, resolved to instants honestly.

A date and a time in Europe/Berlin name exactly one instant on all but two nights a year. On the
spring night (2026-03-29) 02:00–02:59 does not exist: the clocks jump from 02:00 to 03:00. On the
autumn night (2026-10-25) 02:00–02:59 happens twice: first in summer time (MESZ, +02:00), then in
standard time (MEZ, +01:00). Python's `datetime.combine(day, clock, tzinfo=zone)` quietly picks
something in both cases; a booking form must not. `resolve` says which case it is, so the form
can refuse the first with an explanation and ask about the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# German names of the zone abbreviations people see on the page.
ABBREVIATIONS = {"CET": "MEZ", "CEST": "MESZ"}


@dataclass(frozen=True, slots=True)
class Exact:
    """The wall time names one instant."""

    at: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The wall time happens twice (autumn): `first` (fold 0) one hour before `second`."""

    day: date
    clock: time
    first: datetime  # aware, UTC
    second: datetime  # aware, UTC
    back_from: time  # the clocks are put back from this wall time ...
    back_to: time  # ... to this one

    def choose(self, fold: int) -> datetime:
        return self.second if fold else self.first


@dataclass(frozen=True, slots=True)
class Nonexistent:
    """The wall time is skipped (spring): the clocks jump from `jump_from` to `jump_to`."""

    day: date
    clock: time
    jump_from: time
    jump_to: time


Resolution = Exact | Ambiguous | Nonexistent


def resolve(day: date, clock: time, zone: tzinfo) -> Resolution:
    """What `day` at `clock` means in `zone`."""
    naive = datetime.combine(day, clock.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=zone)
    second = naive.replace(tzinfo=zone, fold=1)
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        before, after = _offset(first), _offset(second)
        # fold=0 reads the skipped time with the offset before the jump: so the jump happens
        # where that reading and the fold=1 reading (offset after the jump) bracket it.
        jump = _transition(second.astimezone(UTC), first.astimezone(UTC), zone)
        return Nonexistent(day, clock, (jump + before).time(), (jump + after).time())
    if first.utcoffset() != second.utcoffset():
        early, late = first.astimezone(UTC), second.astimezone(UTC)
        before, after = _offset(first), _offset(second)
        back = _transition(early, late, zone)
        return Ambiguous(day, clock, early, late, (back + before).time(), (back + after).time())
    return Exact(first.astimezone(UTC))


def _offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("resolve needs a zone with UTC offsets")
    return offset


def _transition(low: datetime, high: datetime, zone: tzinfo) -> datetime:
    """The UTC instant in (low, high] at which `zone` changes its offset (to the second)."""
    offset = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0).replace(tzinfo=None)


def abbreviation(moment: datetime, zone: tzinfo) -> str:
    """The zone abbreviation at an instant, German where Germans have one (MEZ, MESZ)."""
    name = moment.astimezone(zone).tzname() or ""
    return ABBREVIATIONS.get(name, name)


def explain_nonexistent(gap: Nonexistent) -> str:
    """The German explanation shown next to the time field."""
    return (
        f"Diese Uhrzeit gibt es am {gap.day:%d.%m.%Y} nicht (Umstellung auf Sommerzeit): "
        f"Um {gap.jump_from:%H:%M} Uhr werden die Uhren auf {gap.jump_to:%H:%M} Uhr vorgestellt. "
        f"Bitte wählen Sie eine Uhrzeit vor {gap.jump_from:%H:%M} oder ab {gap.jump_to:%H:%M} Uhr."
    )


def explain_ambiguous(doubled: Ambiguous) -> str:
    return (
        f"{doubled.clock:%H:%M} Uhr gibt es am {doubled.day:%d.%m.%Y} zweimal (Umstellung auf "
        f"Winterzeit: Um {doubled.back_from:%H:%M} Uhr werden die Uhren auf "
        f"{doubled.back_to:%H:%M} Uhr zurückgestellt). Bitte wählen Sie, welche gemeint ist."
    )


def choice_labels(doubled: Ambiguous, zone: tzinfo) -> tuple[str, str]:
    """Radio labels for the two readings, e.g. "02:30 MESZ (erste)", "02:30 MEZ (zweite)"."""
    clock = f"{doubled.clock:%H:%M}"
    return (
        f"{clock} {abbreviation(doubled.first, zone)} (erste)",
        f"{clock} {abbreviation(doubled.second, zone)} (zweite)",
    )


def explain_offset(moment: datetime, zone: tzinfo) -> str | None:
    """None if `moment` is in UTC or carries `zone`'s UTC offset at that instant; otherwise the
    German explanation of what is wrong with the wall time it was written as. An API client
    that writes 2026-03-29T02:30:00+01:00 means 02:30 in Berlin, which does not exist (the
    instant is 03:30 MESZ): booking that silently would be an hour off in local terms."""
    given = moment.utcoffset()
    if given is None or not given or given == moment.astimezone(zone).utcoffset():
        return None
    written = moment.replace(tzinfo=None)
    found = resolve(written.date(), written.time(), zone)
    if isinstance(found, Nonexistent):
        return explain_nonexistent(found)
    readings = [found.first, found.second] if isinstance(found, Ambiguous) else [found.at]
    offsets = sorted({_hours(_offset(reading.astimezone(zone))) for reading in readings})
    return (
        f"{written:%d.%m.%Y %H:%M} Uhr hat hier den UTC-Versatz {' oder '.join(offsets)}, "
        f"nicht {_hours(given)}. Bitte geben Sie die Zeit mit diesem Versatz an."
    )


def _hours(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
