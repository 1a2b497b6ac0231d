"""Dates and times as readers of each language of the pages write them, through Babel: the one
place that knows weekday and month names. Every function takes an instant or a day, for
instants the zone to show it in (the organisation's: Europe/Berlin), and the language ("de",
the default and the language of SMS and e-mails; "en" for the pages of an account that chose
English, `foundation.users.LOCALES`).

German: the short weekday is CLDR's stand-alone abbreviation ("Do", no dot), which is how the
service has always written it in SMS, e-mails and pages. English is British (en_GB: day before
month, a 24-hour clock), as written in Europe: "Thu 26 Nov, 09:00".
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import NamedTuple

from babel.dates import format_date, format_datetime

LOCALE = "de_DE"


class Patterns(NamedTuple):
    locale: str  # Babel's (CLDR's) locale
    weekday: str
    day_month: str
    day_month_year: str
    weekday_day: str
    month_year: str
    when: str
    when_short: str


PATTERNS = {
    "de": Patterns(
        LOCALE, "ccc", "dd.MM.", "dd.MM.y", "ccc dd.MM.", "LLLL y", "ccc dd.MM., HH:mm",
        "ccc dd.MM. HH:mm",
    ),
    "en": Patterns(
        "en_GB", "ccc", "d MMM", "d MMM y", "ccc d MMM", "LLLL y", "ccc d MMM, HH:mm",
        "ccc d MMM HH:mm",
    ),
}  # fmt: skip


def _of(language: str) -> Patterns:
    return PATTERNS.get(language, PATTERNS["de"])


def locale_of(language: str) -> str:
    """Babel's locale for the numbers and dates of `language` ('en' -> 'en_GB')."""
    return _of(language).locale


def weekday(day: date, language: str = "de") -> str:
    """'Do'; 'Thu'."""
    p = _of(language)
    return format_date(day, p.weekday, locale=p.locale)


def day_month(day: date, language: str = "de") -> str:
    """'26.11.'; '26 Nov'."""
    p = _of(language)
    return format_date(day, p.day_month, locale=p.locale)


def day_month_year(day: date, language: str = "de") -> str:
    """'26.11.2026'; '26 Nov 2026'."""
    p = _of(language)
    return format_date(day, p.day_month_year, locale=p.locale)


def weekday_day(day: date, language: str = "de") -> str:
    """'Do 26.11.'; 'Thu 26 Nov'."""
    p = _of(language)
    return format_date(day, p.weekday_day, locale=p.locale)


def month_year(day: date, language: str = "de") -> str:
    """'November 2026'."""
    p = _of(language)
    return format_date(day, p.month_year, locale=p.locale)


def clock(moment: datetime, zone: tzinfo, language: str = "de") -> str:
    """'09:00' in `zone`."""
    return format_datetime(moment, "HH:mm", tzinfo=zone, locale=_of(language).locale)


def when(moment: datetime, zone: tzinfo, language: str = "de") -> str:
    """'Do 26.11., 09:00'; 'Thu 26 Nov, 09:00' in `zone`."""
    p = _of(language)
    return format_datetime(moment, p.when, tzinfo=zone, locale=p.locale)


def when_short(moment: datetime, zone: tzinfo, language: str = "de") -> str:
    """'Do 26.11. 09:00'; 'Thu 26 Nov 09:00' in `zone` (the rota's timeline)."""
    p = _of(language)
    return format_datetime(moment, p.when_short, tzinfo=zone, locale=p.locale)


def span(start: datetime, end: datetime, zone: tzinfo, language: str = "de") -> str:
    """'Do 26.11., 09:00 – Fr 27.11., 09:00': how people name a shift, in `zone`."""
    return f"{when(start, zone, language)} – {when(end, zone, language)}"
