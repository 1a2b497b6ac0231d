"""A line's service hours: whether it is open at an instant, and its hours in words (German,
or any language of the line).

Pure functions of the configuration; the call flow (closed lines hear their hours) and the text
relay (its out-of-hours reply) both ask here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import groupby

from babel.dates import format_interval, get_day_names
from babel.lists import format_list

from config.languages import GERMAN, Speech
from config.model import HotlineConfig, Line, ServiceHours, TimeRange

KNOWN_LINES = 64  # lines whose answer `ClosedReasons` keeps (configurations times their lines)
_DAYS = ("montags", "dienstags", "mittwochs", "donnerstags", "freitags", "samstags", "sonntags")


def closed_reason(config: HotlineConfig, line: Line, at: datetime) -> str | None:
    """None if the line is open at `at`; else "holiday" or "hours"."""
    local = at.astimezone(config.organisation.zone)
    if line.closed_on_holidays and config.organisation.is_holiday(local.date()):
        return "holiday"
    if any(span.contains(local.time()) for span in line.hours.on(local.date())):
        return None
    return "hours"


class ClosedReasons:
    """`closed_reason`, worked out once per line and minute: the hot path asks at every call.

    The answer depends on the configuration and the line (immutable: a new configuration is new
    objects) and, of the instant, on the local date (holidays, weekday) and the local time to
    the minute (`TimeRange`), nothing else. Within one UTC minute the local minute stays the
    same when the zone's offset is a whole number of minutes that does not change within it
    (time zone data has no two changes within a minute); so an answer is kept for the UTC
    minute of the instant asked about and reused for any instant within it, in whatever order
    instants come. In a minute in which the offset changes nothing is kept."""

    def __init__(self) -> None:
        # id(line) -> (line, config, minute start, minute end, reason); the objects themselves
        # are kept, so an id is not reused while its entry is there
        self._known: dict[int, tuple[Line, HotlineConfig, datetime, datetime, str | None]] = {}

    def __call__(self, config: HotlineConfig, line: Line, at: datetime) -> str | None:
        known = self._known.get(id(line))
        if (
            known is not None
            and known[0] is line
            and known[1] is config
            and known[2] <= at < known[3]
        ):
            return known[4]
        reason = closed_reason(config, line, at)
        minute = _steady_minute(config.organisation.zone, at)
        if minute is not None:
            if len(self._known) >= KNOWN_LINES:
                self._known.clear()
            self._known[id(line)] = (line, config, *minute, reason)
        return reason


def _steady_minute(zone: tzinfo, at: datetime) -> tuple[datetime, datetime] | None:
    """The UTC minute of `at` (start, end), if `zone`'s offset is the same whole number of
    minutes throughout it; else None."""
    start = at.astimezone(UTC).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1)
    offset = start.astimezone(zone).utcoffset()
    last = (end - timedelta(microseconds=1)).astimezone(zone).utcoffset()
    if offset is None or offset != last or offset % timedelta(minutes=1):
        return None
    return start, end


def _clock(minutes: int) -> tuple[str, str]:
    hours, rest = divmod(minutes, 60)
    return (str(hours), f"{hours} Uhr {rest}") if rest else (str(hours), f"{hours} Uhr")


def _span_text(span: TimeRange) -> str:
    start_short, start_long = _clock(span.start)
    _, end_long = _clock(span.end)
    start = start_short if span.start % 60 == 0 else start_long
    return f"von {start} bis {end_long}"


def hours_text(hours: ServiceHours) -> str:
    """'montags bis donnerstags von 9 bis 18 Uhr und freitags von 9 bis 16 Uhr'."""
    week = [hours.on(date(2026, 11, 23 + offset)) for offset in range(7)]  # Mon..Sun
    parts = []
    for spans, run in groupby(range(7), key=lambda day: week[day]):
        days = list(run)
        if not spans:
            continue
        if len(days) == 1:
            who = _DAYS[days[0]]
        elif len(days) == 2:
            who = f"{_DAYS[days[0]]} und {_DAYS[days[1]]}"
        else:
            who = f"{_DAYS[days[0]]} bis {_DAYS[days[-1]]}"
        parts.append(f"{who} {' und '.join(_span_text(span) for span in spans)}")
    if not parts:
        return ""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " und " + parts[-1]


def spoken_hours(line: Line, speech: Speech) -> str:
    """The line's hours as said in `speech`'s language: its own words (`hours`), the German
    ones of `hours_text`, or made from the hours in its locale ("Pazartesi, Salı, Çarşamba ve
    Perşembe 09:00–18:00 ve Cuma 09:00–16:00")."""
    if speech.hours:
        return speech.hours
    if speech.code == GERMAN:
        return hours_text(line.hours)
    return hours_in(line.hours, speech.locale)


def _interval(span: TimeRange, locale: str) -> str:
    if span.end >= 24 * 60:
        return f"{span.start // 60:02d}:{span.start % 60:02d}–24:00"
    start = time(span.start // 60, span.start % 60)
    end = time(span.end // 60, span.end % 60)
    return str(format_interval(start, end, "Hm", locale=locale))


def hours_in(hours: ServiceHours, locale: str) -> str:
    """The opening hours in `locale`, weekday names and lists as that language writes them."""
    names = get_day_names("wide", locale=locale)  # 0 = Monday
    week = [hours.on(date(2026, 11, 23 + offset)) for offset in range(7)]  # Mon..Sun
    parts = []
    for spans, run in groupby(range(7), key=lambda day: week[day]):
        days = list(run)
        if not spans:
            continue
        who = format_list([names[day] for day in days], locale=locale)
        times = format_list([_interval(span, locale) for span in spans], locale=locale)
        parts.append(f"{who} {times}")
    return format_list(parts, locale=locale) if parts else ""
