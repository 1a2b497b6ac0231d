"""German dates through Babel (foundation.dates): the words the service has always written."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from foundation import dates

BERLIN = ZoneInfo("Europe/Berlin")


def test_weekdays_and_months_are_german() -> None:
    week = [date(2026, 11, 23 + offset) for offset in range(7)]  # Monday to Sunday
    assert [dates.weekday(day) for day in week] == ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"]
    assert dates.weekday_day(date(2026, 11, 26)) == "Do 26.11."
    assert dates.day_month(date(2026, 1, 5)) == "05.01."
    assert [dates.month_year(date(2026, month, 1)) for month in (1, 3, 12)] == [
        "Januar 2026",
        "März 2026",
        "Dezember 2026",
    ]


def test_instants_are_shown_in_the_zone_on_both_dst_days() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 2026-10-25: 03:00 CEST becomes 02:00 CET.
    assert dates.when(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), BERLIN) == "So 29.03., 01:30"
    assert dates.when(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), BERLIN) == "So 29.03., 03:30"
    assert dates.clock(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BERLIN) == "02:30"  # summer
    assert dates.clock(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN) == "02:30"  # winter
    assert dates.when_short(datetime(2026, 11, 26, 8, tzinfo=UTC), BERLIN) == "Do 26.11. 09:00"


def test_a_span_names_both_ends() -> None:
    start = datetime(2026, 11, 26, 8, tzinfo=UTC)
    end = datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert dates.span(start, end, BERLIN) == "Do 26.11., 09:00 – Fr 27.11., 09:00"
