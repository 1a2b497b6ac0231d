"""What a feed holds, as plain data: the window of time it covers, whose it is, its events and
what it says about itself. No database, no text format: `queries` fills these, `rendering`
writes them.

`window` fixes which events a feed holds: local midnight `past_days` ago to local midnight
`future_days` ahead, so the body changes only when the data (or the date) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from config.model import Feeds
from config.settings import Settings
from foundation.models import AppointmentMode, AppointmentStatus, Tier


@dataclass(frozen=True, slots=True)
class Window:
    """The events a feed holds: those overlapping [start, end). `today` is the local date
    it was computed for; `cancelled_since` the oldest cancellation still shown."""

    start: datetime
    end: datetime
    today: date
    cancelled_since: datetime


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose feed: a counsellor's (shifts and appointments) or a team's (its rota)."""

    counsellor_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True)
class ShiftEvent:
    id: int
    team: str  # "Islamismus"
    tier: Tier
    start: datetime
    end: datetime
    created: datetime
    updated: datetime
    person: str | None = None  # the team feed names who is on call


@dataclass(frozen=True, slots=True)
class AppointmentEvent:
    id: int
    mode: AppointmentMode
    status: AppointmentStatus
    start: datetime
    end: datetime
    sequence: int
    created: datetime
    updated: datetime
    pseudonym: str | None = None


@dataclass(frozen=True, slots=True)
class Calendar:
    """What a feed says about itself."""

    name: str
    uid_host: str
    zone: ZoneInfo
    refresh_minutes: int
    alarm_minutes: int  # 0: no VALARM


def window(now: datetime, zone: ZoneInfo, feeds: Feeds) -> Window:
    """Local midnights, so that every poll of one day sees the same window."""
    today = now.astimezone(zone).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    return Window(
        start=midnight(today - timedelta(days=feeds.past_days)),
        end=midnight(today + timedelta(days=feeds.future_days + 1)),
        today=today,
        cancelled_since=midnight(today - timedelta(days=feeds.cancelled_keep_days)),
    )


def uid_host(settings: Settings) -> str:
    """The host part of every UID (`shift-<id>@<host>`): the public URL's."""
    return urlsplit(settings.public_url).hostname or "konex-hotline"
