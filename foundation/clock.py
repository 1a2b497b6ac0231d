"""The clock: every instant the service stores or compares is an aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, date, datetime

# The days the service plans for. What lies outside is a typing error or an attack, refused
# where it is read: near datetime's own limits (year 1, 9999) a time zone or a range overflows.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def utcnow() -> datetime:
    return datetime.now(UTC)


def served(day: date) -> bool:
    """Whether `day` lies within the days the service plans for."""
    return FIRST_DAY <= day <= LAST_DAY
