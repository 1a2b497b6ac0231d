"""What a feed holds, as plain data: the window of time it covers, whose it is, its events and
what it says about itself. No database, no text format: `queries` fills these, `rendering`
writes them.

`window` fixes which events a feed holds: local midnight `past_days` ago to local midnight
`future_days` ahead, so the body changes only when the data (or the date) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
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


class Duty(StrEnum):
    """What a part of a shift is to the feed that shows it."""

    OWN = "own"  # worked by its holder (in her feed, or the team's)
    STAND_IN = "stand_in"  # worked by a substitute (in her feed, or the team's)
    CANCELLED = "cancelled"  # the owner's own duty that someone else, or nobody, works now
    GAP = "gap"  # the team feed: nobody works it (an absence with no stand-in)


@dataclass(frozen=True, slots=True)
class ShiftEvent:
    """A shift, or the part of it that one person works (`scheduling.rota.worked`)."""

    id: int  # the shift's
    team: str  # "Islamismus"
    tier: Tier
    start: datetime
    end: datetime
    created: datetime
    updated: datetime  # the newer of the shift's own change and that of who works it
    person: str | None = None  # the team feed names who is on call
    part: datetime | None = None  # a part that starts later than the shift: its start (UID)
    duty: Duty = Duty.OWN
    replaced: str | None = None  # whom a stand-in replaces, where the settings name her


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
