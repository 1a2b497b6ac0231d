"""Duties, the pure core of shift notices: the maximal intervals in which one counsellor is on
call for one team (`duties`, from a rota timeline), and the notices each calls for
(`planned`): the evening before and minutes before it starts, the handoff before it ends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.model import Notices
from foundation.models import Channel, NoticeKind, Tier
from scheduling import rota

# Upcoming notices are planned for duties starting this far ahead: more than the longest lead of
# an "evening before" notice (up to 48 hours, plus a DST hour), so it is planned before it is due.
LOOKAHEAD = timedelta(hours=50)
# A notice whose moment passed this recently is still planned (the planner runs every minute).
PLAN_SLACK = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Duty:
    """A maximal interval in which one counsellor is on call for one team, in whatever tier."""

    counsellor_id: int
    start: datetime
    end: datetime | None  # None: it lasts beyond the part of the rota that was read
    tier: Tier  # at the start
    last_tier: Tier  # just before the end
    successor: int | None  # who takes over `last_tier` at the end; None: nobody (or end unknown)


def duties(segments: Sequence[rota.Segment]) -> list[Duty]:
    """The duties in a timeline, in start order. A duty cut by the timeline's start begins at
    the timeline's start (so only starts after it are real)."""
    running: dict[int, tuple[datetime, Tier, Tier]] = {}
    found: list[Duty] = []
    for segment in segments:
        here = _tiers(segment.on_call)
        for cid in [cid for cid in running if cid not in here]:
            start, first, last = running.pop(cid)
            successor = _successor(segment.on_call, last)
            found.append(Duty(cid, start, segment.start, first, last, successor))
        for cid, tier in here.items():
            start, first, _ = running.get(cid, (segment.start, tier, tier))
            running[cid] = (start, first, tier)
    found.extend(Duty(cid, s, None, first, last, None) for cid, (s, first, last) in running.items())
    return sorted(found, key=lambda duty: (duty.start, duty.counsellor_id))


def _tiers(on_call: rota.OnCall) -> dict[int, Tier]:
    return {cid: tier for tier, ids in on_call.tiers() for cid in ids}


def _successor(on_call: rota.OnCall, tier: Tier) -> int | None:
    """Who takes over a tier: the first in that tier, else the first on call at all."""
    same = on_call.primary if tier is Tier.PRIMARY else on_call.backup
    everyone = same + on_call.counsellors()
    return everyone[0] if everyone else None


@dataclass(frozen=True, slots=True)
class Planned:
    """A notice a duty calls for, before it is given a channel."""

    kind: NoticeKind
    duty: Duty
    at: datetime  # the instant it is about: the duty's start (upcoming) or end (handoff)
    label: str  # which of the duty's notices: "evening-1800", "60m", "handoff"
    due_at: datetime

    @property
    def tier(self) -> Tier:
        return self.duty.tier if self.kind is NoticeKind.UPCOMING else self.duty.last_tier

    def key(self, team: str, channel: Channel) -> str:
        """What the notice is about: planning it again, anywhere, finds the same key."""
        return ":".join(
            (
                self.kind.value,
                team,
                str(self.duty.counsellor_id),
                channel,
                self.tier.value,
                f"{self.at.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                self.label,
            )
        )


def evening_before(start: datetime, at: time, zone: ZoneInfo) -> datetime:
    """`at` (local wall-clock time) on the day before the local date of `start`."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, at.replace(fold=0), tzinfo=zone).astimezone(UTC)


def planned(
    duty: Duty, rules: Notices, zone: ZoneInfo, now: datetime, until: datetime
) -> list[Planned]:
    """The notices of one duty: before it starts (if it starts in (now, until]) and the handoff
    note (if it ends in (now, until] and someone takes over). Moments already past included:
    the caller decides what is too late."""
    found: list[Planned] = []
    if now < duty.start <= until:
        if rules.evening_before is not None:
            due = evening_before(duty.start, rules.evening_before, zone)
            label = f"evening-{rules.evening_before:%H%M}"
            if due < duty.start:
                found.append(Planned(NoticeKind.UPCOMING, duty, duty.start, label, due))
        for minutes in sorted(set(rules.before_minutes)):
            due = duty.start - timedelta(minutes=minutes)
            found.append(Planned(NoticeKind.UPCOMING, duty, duty.start, f"{minutes}m", due))
    end = duty.end
    if end is not None and now < end <= until and duty.successor is not None:
        due = end - timedelta(minutes=rules.handoff_minutes)
        if rules.handoff_minutes and due >= duty.start:
            found.append(Planned(NoticeKind.HANDOFF, duty, end, "handoff", due))
    return found


def horizon(rules: Notices) -> timedelta:
    """How far ahead the planner looks: far enough for the longest lead of any notice."""
    leads = [LOOKAHEAD, timedelta(minutes=rules.handoff_minutes) + PLAN_SLACK]
    leads += [timedelta(minutes=m) + PLAN_SLACK for m in rules.before_minutes]
    return max(leads)
