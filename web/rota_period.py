"""The period a rota page shows: a week (Monday to Sunday) or a calendar month, in the
organisation's zone. Pure but for its title, in the request's language (`web.i18n`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from foundation import dates
from web.i18n import _, language
from web.pages import as_day


@dataclass(frozen=True)
class Period:
    view: str  # "week" or "month"
    first: date
    days: int
    zone: Any

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        last = self.first + timedelta(days=self.days)
        return datetime.combine(last, time(0), tzinfo=self.zone).astimezone(UTC)

    def day_starts(self) -> list[tuple[date, datetime]]:
        return [
            (day, datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC))
            for day in (self.first + timedelta(days=i) for i in range(self.days))
        ]

    def previous(self) -> date:
        if self.view == "week":
            return self.first - timedelta(days=7)
        return (self.first - timedelta(days=1)).replace(day=1)

    def next(self) -> date:
        return self.first + timedelta(days=self.days)

    def title(self) -> str:
        if self.view == "week":
            iso = self.first.isocalendar()
            last = self.first + timedelta(days=6)
            return _(
                "KW %(week)s/%(year)s: %(first)s – %(last)s",
                week=iso.week,
                year=iso.year,
                first=dates.day_month(self.first, language()),
                last=dates.day_month_year(last, language()),
            )
        return dates.month_year(self.first, language())


def period_of(view: str, raw_day: str | None, zone: Any, today: date) -> Period:
    day = as_day(raw_day) or today
    if view == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period("month", first, (following - first).days, zone)
    first = day - timedelta(days=day.weekday())
    return Period("week", first, 7, zone)
