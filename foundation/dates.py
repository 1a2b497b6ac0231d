"""Dates and times as German readers write them, through Babel (de_DE): the one place that
knows weekday and month names. Every function takes an instant or a day and, for instants, the
zone to show it in (the organisation's: Europe/Berlin).

The short weekday is CLDR's stand-alone abbreviation ("Do", no dot), which is how the service
has always written it in SMS, e-mails and pages.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from babel.dates import format_date, format_datetime

LOCALE = "de_DE"


def weekday(day: date) -> str:
    """'Do'."""
    return format_date(day, "ccc", locale=LOCALE)


def day_month(day: date) -> str:
    """'26.11.'."""
    return format_date(day, "dd.MM.", locale=LOCALE)


def day_month_year(day: date) -> str:
    """'26.11.2026'."""
    return format_date(day, "dd.MM.y", locale=LOCALE)


def weekday_day(day: date) -> str:
    """'Do 26.11.'."""
    return format_date(day, "ccc dd.MM.", locale=LOCALE)


def month_year(day: date) -> str:
    """'November 2026'."""
    return format_date(day, "LLLL y", locale=LOCALE)


def clock(moment: datetime, zone: tzinfo) -> str:
    """'09:00' in `zone`."""
    return format_datetime(moment, "HH:mm", tzinfo=zone, locale=LOCALE)


def when(moment: datetime, zone: tzinfo) -> str:
    """'Do 26.11., 09:00' in `zone`."""
    return format_datetime(moment, "ccc dd.MM., HH:mm", tzinfo=zone, locale=LOCALE)


def when_short(moment: datetime, zone: tzinfo) -> str:
    """'Do 26.11. 09:00' in `zone` (the rota's timeline)."""
    return format_datetime(moment, "ccc dd.MM. HH:mm", tzinfo=zone, locale=LOCALE)


def span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """'Do 26.11., 09:00 – Fr 27.11., 09:00': how people name a shift, in `zone`."""
    return f"{when(start, zone)} – {when(end, zone)}"
