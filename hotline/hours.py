"""A line's service hours: whether it is open at an instant, and its hours as spoken German.

Pure functions of the configuration; the call flow (closed lines hear their hours) and the text
relay (its out-of-hours reply) both ask here.
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import groupby

from config.model import HotlineConfig, Line, ServiceHours, TimeRange

_DAYS = ("montags", "dienstags", "mittwochs", "donnerstags", "freitags", "samstags", "sonntags")


def closed_reason(config: HotlineConfig, line: Line, at: datetime) -> str | None:
    """None if the line is open at `at`; else "holiday" or "hours"."""
    local = at.astimezone(config.organisation.zone)
    if line.closed_on_holidays and config.organisation.is_holiday(local.date()):
        return "holiday"
    if any(span.contains(local.time()) for span in line.hours.on(local.date())):
        return None
    return "hours"


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
