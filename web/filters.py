"""Jinja filters: times in the organisation's zone, written the German way."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers
from jinja2 import Environment

from config.phone import display
from foundation import dates
from web.outbound_call_pages import describe


def install(env: Environment, zone: ZoneInfo) -> None:
    def local(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    def when(moment: datetime) -> str:
        """'Do 26.11., 09:00' in the organisation's zone."""
        return dates.when(moment, zone)

    def clock(moment: datetime) -> str:
        return dates.clock(moment, zone)

    env.filters["when"] = when
    env.filters["clock"] = clock
    env.filters["phone"] = phone
    env.filters["call_back"] = describe  # how a call-back through the line went


def phone(value: str) -> str:
    """A number the German way; anything else (an e-mail address in the outbox) as it is."""
    try:
        return display(value)
    except phonenumbers.NumberParseException:
        return value
