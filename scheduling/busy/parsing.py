"""An iCalendar body read into busy [start, end) intervals (pure): recurring events expanded
lazily, series by series, over a window; free, cancelled and our own feeds' events left out;
a body too large, or a rule recurring more often than hourly, refused."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

from foundation.i18n import N_
from scheduling.busy.errors import FetchError

MAX_INTERVALS = 5000  # per calendar and fetch
MAX_OCCURRENCES = 4 * MAX_INTERVALS  # examined per fetch, free and cancelled ones included
# From coarse to fine; rules with more than 24 occurrences a day are refused (a year of a
# rule every minute is half a million events).
FREQUENCIES = ("DAILY", "HOURLY", "MINUTELY", "SECONDLY")


def merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DATE is local midnight, a floating DATE-TIME local time (in the organisation's zone)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def _ours(uid: str, own_host: str) -> bool:
    return uid.endswith(f"@{own_host}") and uid.startswith(("shift-", "appointment-"))


def _per_day(rule: icalendar.vRecur) -> int:
    """The most occurrences a rule can have in one day: its FREQ, or the BYHOUR, BYMINUTE
    and BYSECOND values that multiply a coarser FREQ."""
    freq = str((rule.get("FREQ") or ["DAILY"])[0]).upper()
    finer = FREQUENCIES.index(freq) if freq in FREQUENCIES else 0
    count = 1
    for level, (part, units) in enumerate((("BYHOUR", 24), ("BYMINUTE", 60), ("BYSECOND", 60))):
        values = rule.get(part)
        count *= len(values) if values else (units if finer > level else 1)
    return count


def _too_fine(calendar: icalendar.Calendar) -> bool:
    """Whether an event recurs more often than hourly (every minute, or at many minutes or
    seconds of a day: no calendar of people needs that, and unrolling it costs gigabytes)."""
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE", [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if _per_day(rule) > 24:
                return True
    return False


def _occurrences(body: bytes, start: datetime, end: datetime) -> Iterator[icalendar.Event]:
    """The events of the body overlapping [start, end), expanded lazily, series by series
    (`recurring_ical_events.of(...).between` unrolls every series into one list first, and
    `after` re-reads each series for every day)."""
    unreadable = N_("Die Adresse liefert keinen lesbaren iCalendar-Kalender (ICS).")
    try:
        calendar = icalendar.Calendar.from_ical(body)
        refused = _too_fine(calendar)
        series = recurring_ical_events.of(calendar).series
    except Exception as exc:  # the libraries raise many kinds on bad input
        raise FetchError(unreadable) from exc
    if refused:
        raise FetchError(
            N_(
                "Der Kalender enthält Serientermine, die sich öfter als stündlich wiederholen; "
                "solche Kalender werden nicht gelesen."
            )
        )
    for one in series:
        found = one.between(start, end)
        while True:
            try:
                event = next(found).as_component(False)
            except StopIteration:
                break
            except Exception as exc:  # raised while expanding a broken rule
                raise FetchError(unreadable) from exc
            yield event


def _too_large() -> FetchError:
    return FetchError(
        f"Der Kalender ist zu groß: mehr als {MAX_INTERVALS} Termine in den nächsten Monaten."
    )


def busy_spans(
    body: bytes, start: datetime, end: datetime, zone: ZoneInfo, own_host: str
) -> list[tuple[datetime, datetime]]:
    """The busy intervals of an iCalendar body within [start, end), merged. Raises
    FetchError if the body is not iCalendar, or holds more than MAX_INTERVALS busy times
    (MAX_OCCURRENCES events of any kind) in the window."""
    spans = []
    for seen, event in enumerate(_occurrences(body, start, end)):
        if seen >= MAX_OCCURRENCES:
            raise _too_large()
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if _ours(str(event.get("UID", "")), own_host):
            continue
        try:
            first, last = _instant(event.start, zone), _instant(event.end, zone)
        except (ValueError, TypeError, KeyError):  # no usable DTSTART: nothing to place
            continue
        first, last = max(first, start), min(last, end)
        if last > first:
            spans.append((first, last))
        if len(spans) > MAX_INTERVALS:
            raise _too_large()
    return merge(spans)
