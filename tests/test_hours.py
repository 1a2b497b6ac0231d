"""A line's hours as the hot path asks for them: `hours.ClosedReasons` keeps an answer for the
minute and must answer exactly as `closed_reason` does, at the minute a line opens or closes, at
local midnight before a holiday, across the changes to and from summer time, in a zone whose
offset is not a whole number of minutes, and whatever the order of the instants."""

from __future__ import annotations

import functools
import tomllib
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from config.model import SHIPPED, WEEKDAYS, HotlineConfig
from hotline.hours import ClosedReasons, closed_reason
from tests.conftest import berlin

LINE = "islamism"


def config_with(
    hours: dict[str, str | list[str]] | None = None,
    *,
    holidays: bool = True,
    zone: str = "Europe/Berlin",
) -> HotlineConfig:
    """The shipped configuration, with the islamism line's `hours` and `closed_on_holidays`
    and the organisation's time zone as given."""
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data["organisation"]["timezone"] = zone
    if hours is not None:
        data["lines"][LINE]["hours"] = hours
    data["lines"][LINE]["closed_on_holidays"] = holidays
    return HotlineConfig.model_validate(data)


ALWAYS = dict.fromkeys(WEEKDAYS, "00:00-24:00")
CONFIGS = ("shipped", "always open, closed on holidays", "around the clock changes", "Monrovia")


@functools.cache
def configs() -> dict[str, HotlineConfig]:
    """`CONFIGS` by name, built once."""
    return {
        "shipped": config_with(),
        "always open, closed on holidays": config_with(ALWAYS),
        # minutes around both changes of 2026 (Sunday 29 March, Sunday 25 October)
        "around the clock changes": config_with(
            {"sat": "23:59-24:00", "sun": ["01:59-02:01", "02:30-03:01", "03:59-04:00"]},
            holidays=False,
        ),
        # until 1972-01-07 00:44:30 UTC, Liberia's offset was -0:44:30
        "Monrovia": config_with(
            {"wed": "09:00-18:00", "fri": "00:00-24:00"}, holidays=False, zone="Africa/Monrovia"
        ),
    }  # fmt: skip


BOUNDARIES = [
    berlin(2026, 12, 2, 9),  # Wednesday: opens
    berlin(2026, 12, 2, 18),  # and closes
    berlin(2026, 12, 25, 0),  # Christmas Day begins
    berlin(2026, 1, 6, 0),  # Epiphany (Baden-Württemberg)
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # 02:00 CET -> 03:00 CEST
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # 03:00 CEST -> 02:00 CET
    datetime(1971, 6, 2, 9, 44, 30, tzinfo=UTC),  # 09:00 in Monrovia (-0:44:30)
    datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC),  # Monrovia's offset -0:44:30 -> 0
]
NEAR = st.one_of(
    st.integers(-150, 150).map(lambda s: timedelta(seconds=s)),
    st.integers(-150_000_000, 150_000_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(-48, 48).map(lambda h: timedelta(hours=h)),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    asks=st.lists(
        st.tuples(st.sampled_from(CONFIGS), st.sampled_from(BOUNDARIES), NEAR),
        min_size=1,
        max_size=30,
    )
)
def test_closed_reasons_answers_as_closed_reason_does(
    asks: list[tuple[str, datetime, timedelta]],
) -> None:
    memo = ClosedReasons()  # one for all the configurations and instants, in the order drawn
    for name, boundary, offset in asks:
        config = configs()[name]
        line = config.lines[LINE]
        at = boundary + offset
        assert memo(config, line, at) == closed_reason(config, line, at), (name, at)


def answers(config: HotlineConfig, *moments: datetime) -> list[str | None]:
    """What one `ClosedReasons` answers for the islamism line at `moments`, in that order."""
    memo = ClosedReasons()
    return [memo(config, config.lines[LINE], at) for at in moments]


def test_the_minute_the_line_opens_and_closes() -> None:
    config = configs()["shipped"]
    just_before = berlin(2026, 12, 2, 9) - timedelta(microseconds=1)
    at_nine, closing = berlin(2026, 12, 2, 9), berlin(2026, 12, 2, 18)
    assert answers(config, just_before, at_nine, just_before) == ["hours", None, "hours"]
    assert answers(config, closing - timedelta(seconds=1), closing) == [None, "hours"]
    assert answers(config, closing, closing - timedelta(seconds=1)) == ["hours", None]


def test_a_holiday_begins_at_local_midnight() -> None:
    config = configs()["always open, closed on holidays"]
    midnight = berlin(2026, 12, 25, 0)  # 23:00 UTC: the UTC date is still the 24th
    eve = midnight - timedelta(microseconds=1)
    assert answers(config, eve, midnight, eve) == [None, "holiday", None]
    assert answers(config, midnight + timedelta(days=2)) == [None]  # the 27th: an ordinary day


def test_the_clock_changes() -> None:
    second = timedelta(seconds=1)
    spring = datetime(2026, 3, 29, 1, tzinfo=UTC)  # 01:59:59 CET, then 03:00 CEST
    config = config_with({"sun": "03:00-04:00"}, holidays=False)
    assert answers(config, spring - second, spring, spring - second) == ["hours", None, "hours"]
    autumn = datetime(2026, 10, 25, 1, tzinfo=UTC)  # 02:59:59 CEST, then 02:00 CET
    config = config_with({"sun": "02:00-02:30"}, holidays=False)
    half_past = timedelta(minutes=30)
    moments = [
        autumn - half_past - second,  # 02:29:59 CEST
        autumn - half_past,  # 02:30 CEST
        autumn - second,  # 02:59:59 CEST
        autumn,  # 02:00 CET: the half hour again
        autumn + half_past - second,  # 02:29:59 CET
        autumn + half_past,  # 02:30 CET
        autumn - second,
    ]
    assert answers(config, *moments) == [None, "hours", "hours", None, None, "hours", "hours"]


def test_a_minute_in_which_the_local_minute_changes_is_not_kept() -> None:
    """Monrovia's offset was -0:44:30: a UTC minute held two local minutes (and on 7 January
    1972 two days, the offset changing within it). Each instant gets its own answer."""
    config = configs()["Monrovia"]
    opens = datetime(1971, 6, 2, 9, 44, 30, tzinfo=UTC)  # a Wednesday, 09:00 local
    second = timedelta(seconds=1)
    assert answers(config, opens - second, opens, opens - second) == ["hours", None, "hours"]
    change = datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC)  # Thursday 23:59:59 -> Friday 00:44:30
    assert answers(config, change - second, change, change - second) == ["hours", None, "hours"]
