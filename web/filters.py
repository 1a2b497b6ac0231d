"""Jinja filters: times in the organisation's zone, written as the page's language writes them
(`web.i18n.language`: German unless the account chose English)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import phonenumbers
from babel.numbers import format_decimal
from jinja2 import Environment

from config.phone import display
from foundation import dates
from web.i18n import language
from web.labels import language_name
from web.outbound_call_pages import describe


def install(env: Environment, zone: ZoneInfo) -> None:
    def when(moment: datetime) -> str:
        """'Do 26.11., 09:00' in the organisation's zone."""
        return dates.when(moment, zone, language())

    def clock(moment: datetime) -> str:
        return dates.clock(moment, zone, language())

    env.filters["when"] = when
    env.filters["day"] = day
    env.filters["clock"] = clock
    env.filters["number"] = number
    env.filters["phone"] = phone
    env.filters["call_back"] = describe  # how a call-back through the line went
    env.filters["language_name"] = language_name  # 'Türkisch'; 'Turkish'


def day(value: date) -> str:
    """A day: '26.11.2026'; '26 Nov 2026'."""
    return dates.day_month_year(value, language())


def number(value: float) -> str:
    """A number in the page's language ('1.234,5'; '1,234.5')."""
    return format_decimal(value, locale=dates.locale_of(language()))


def phone(value: str) -> str:
    """A number the German way; anything else (an e-mail address in the outbox) as it is."""
    try:
        return display(value)
    except phonenumbers.NumberParseException:
        return value
