"""The one check of a [start, end) interval that use cases take from their callers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foundation.errors import Invalid


def utc_interval(
    start: datetime, end: datetime, *, longest: timedelta, too_long: str
) -> tuple[datetime, datetime]:
    """The interval in UTC, or Invalid. (Comparing two datetimes of one ZoneInfo ignores
    `fold`, and so misorders the repeated autumn hour; UTC instants compare correctly.)"""
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("start and end need a UTC offset", field="start")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise Invalid("end must be after start", field="end")
    if end - start > longest:
        raise Invalid(too_long, field="end")
    return start, end
