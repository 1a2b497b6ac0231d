"""On-call shifts: create, list, delete, and "who is on call" over the database.

The rota logic itself is pure (`scheduling.rota`); this module loads the few rows it needs.
Shifts are at most MAX_SHIFT long, so the rows covering an instant all start within
(t - MAX_SHIFT, t]: one bounded range scan of the (team_id, start_at) index, however many years of
shifts the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from config.model import HotlineConfig
from foundation import audit
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import Absence, Counsellor, Shift, StandIn, Team, TeamMembership, Tier
from foundation.teams import team_by_slug
from scheduling import rota
from scheduling.intervals import utc_interval
from scheduling.rota import OnCall, ShiftSpan

MAX_SHIFT = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class NewShift:
    team: str
    counsellor_id: int
    tier: Tier
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class OnCallNow:
    """Who is on call for a team at an instant, as counsellor rows in calling order."""

    team: Team
    at: datetime
    primary: tuple[Counsellor, ...]
    backup: tuple[Counsellor, ...]
    next_change: datetime | None


def snapshot(shift: Shift) -> dict[str, object]:
    """A shift as the audit log records it."""
    return {
        "team_id": shift.team_id,
        "counsellor_id": shift.counsellor_id,
        "tier": shift.tier.value,
        "start": shift.start_at.isoformat(),
        "end": shift.end_at.isoformat(),
    }


def create_shift(session: Session, config: HotlineConfig, new: NewShift, *, actor: str) -> Shift:
    """Add a shift; refuses unknown team or counsellor, non-members, and overlaps of the same
    counsellor in the same team (being on call for two teams at once is allowed)."""
    start, end = utc_interval(
        new.start,
        new.end,
        longest=MAX_SHIFT,
        too_long=f"a shift lasts at most {MAX_SHIFT.days} days",
    )
    team = team_by_slug(session, new.team, config)
    # Lock the counsellor row: two concurrent bookings for one person serialise here
    # (SQLite write transactions are already exclusive).
    counsellor = session.get(Counsellor, new.counsellor_id, with_for_update=True)
    if counsellor is None:
        raise NotFound(f"no counsellor with id {new.counsellor_id}", field="counsellor_id")
    if not counsellor.active:
        raise Invalid("the counsellor is deactivated", field="counsellor_id")
    if team not in counsellor.teams:
        raise Invalid(f"the counsellor is not a member of team {team.slug!r}", field="team")
    clash = session.scalar(
        select(Shift.id).where(
            Shift.counsellor_id == counsellor.id,
            Shift.team_id == team.id,
            Shift.start_at < end,
            Shift.start_at > start - MAX_SHIFT,
            Shift.end_at > start,
        )
    )
    if clash is not None:
        raise Conflict(
            f"the counsellor already has shift {clash} in team {team.slug!r} at that time",
            field="start",
        )
    shift = Shift(team=team, counsellor=counsellor, tier=new.tier, start_at=start, end_at=end)
    session.add(shift)
    session.flush()
    audit.record(session, actor, "create", "shift", shift.id, after=snapshot(shift))
    return shift


def delete_shift(session: Session, shift_id: int, *, actor: str) -> None:
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"no shift with id {shift_id}")
    audit.record(session, actor, "delete", "shift", shift.id, before=snapshot(shift))
    session.delete(shift)


def list_shifts(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    team: Team | None = None,
    counsellor_id: int | None = None,
) -> list[Shift]:
    """Shifts overlapping [start, end), in start order."""
    query = (
        select(Shift)
        .options(joinedload(Shift.team), joinedload(Shift.counsellor))
        .where(Shift.start_at < end, Shift.start_at > start - MAX_SHIFT, Shift.end_at > start)
        .order_by(Shift.start_at, Shift.id)
    )
    if team is not None:
        query = query.where(Shift.team_id == team.id)
    if counsellor_id is not None:
        query = query.where(Shift.counsellor_id == counsellor_id)
    return list(session.scalars(query))


def _spans(session: Session, team: Team, start: datetime, end: datetime) -> list[ShiftSpan]:
    rows = session.execute(
        select(Shift.counsellor_id, Shift.tier, Shift.start_at, Shift.end_at)
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(
            Shift.team_id == team.id,
            Shift.start_at < end,
            Shift.start_at > start - MAX_SHIFT,
            Shift.end_at > start,
            Counsellor.active.is_(True),
        )
        .order_by(Shift.start_at, Shift.id)
    )
    return [ShiftSpan(cid, tier, s, e) for cid, tier, s, e in rows]


def _stand_ins(session: Session, team: Team, start: datetime, end: datetime) -> list[rota.StandIn]:
    # Stand-ins are rare and may be long (a parental leave): no start bound, ordered by creation.
    rows = session.execute(
        select(StandIn.absent_id, StandIn.substitute_id, StandIn.start_at, StandIn.end_at)
        .join(Counsellor, Counsellor.id == StandIn.substitute_id)
        .where(
            StandIn.team_id == team.id,
            StandIn.start_at < end,
            StandIn.end_at > start,
            Counsellor.active.is_(True),
        )
        .order_by(StandIn.created_at, StandIn.id)
    )
    return [rota.StandIn(a, s, b, e) for a, s, b, e in rows]


def _absences(session: Session, team: Team, start: datetime, end: datetime) -> list[rota.Absence]:
    # Absences are rare and may be long: no start bound. Only the team's members matter.
    rows = session.execute(
        select(Absence.counsellor_id, Absence.start_at, Absence.end_at)
        .join(TeamMembership, TeamMembership.counsellor_id == Absence.counsellor_id)
        .where(TeamMembership.team_id == team.id, Absence.start_at < end, Absence.end_at > start)
        .order_by(Absence.start_at, Absence.id)
    )
    return [rota.Absence(cid, s, e) for cid, s, e in rows]


def on_call(
    session: Session,
    config: HotlineConfig,
    team_slug: str,
    at: datetime,
    *,
    next_change: bool = True,
) -> OnCallNow:
    """Who is on call at `at`, and (unless `next_change=False`, as a call's routing asks) when
    that changes next, which needs the shifts of the following 31 days."""
    team = team_by_slug(session, team_slug, config)
    horizon = at + MAX_SHIFT if next_change else at + timedelta(microseconds=1)
    spans = _spans(session, team, at, horizon)
    stand_ins = _stand_ins(session, team, at, horizon)
    away = _absences(session, team, at, horizon)
    current = rota.on_call(spans, stand_ins, at, away)
    people = _people(session, current.counsellors())
    return OnCallNow(
        team=team,
        at=at,
        primary=tuple(people[i] for i in current.primary),
        backup=tuple(people[i] for i in current.backup),
        next_change=rota.next_change(spans, stand_ins, at, away) if next_change else None,
    )


def rota_of(
    session: Session, config: HotlineConfig, team_slug: str, start: datetime, end: datetime
) -> tuple[list[ShiftSpan], list[rota.StandIn], list[rota.Absence]]:
    """The team's shifts, stand-ins and absences overlapping [start, end): what `rota.gaps`
    and `rota.worked` read, loaded once for several windows inside it (the reports)."""
    team = team_by_slug(session, team_slug, config)
    return (
        _spans(session, team, start, end),
        _stand_ins(session, team, start, end),
        _absences(session, team, start, end),
    )


def gaps(
    session: Session, config: HotlineConfig, team_slug: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Intervals of [start, end) in which the team has no primary on call (absences count)."""
    team = team_by_slug(session, team_slug, config)
    return rota.gaps(
        _spans(session, team, start, end),
        _stand_ins(session, team, start, end),
        start,
        end,
        absences=_absences(session, team, start, end),
    )


def worked(
    session: Session, config: HotlineConfig, team_slug: str, start: datetime, end: datetime
) -> list[tuple[rota.ShiftSpan, tuple[rota.Part, ...]]]:
    """The team's shifts overlapping [start, end), each with the parts worked by one person
    (see `rota.worked`)."""
    team = team_by_slug(session, team_slug, config)
    spans = _spans(session, team, start, end)
    parts = rota.worked(
        spans, _stand_ins(session, team, start, end), _absences(session, team, start, end)
    )
    return list(zip(spans, parts, strict=True))


def timeline(
    session: Session, config: HotlineConfig, team_slug: str, start: datetime, end: datetime
) -> list[rota.Segment]:
    """[start, end) cut into segments of unchanging on-call state (see `rota.timeline`),
    with stand-ins and absences applied. Meant for windows of days."""
    team = team_by_slug(session, team_slug, config)
    return rota.timeline(
        _spans(session, team, start, end),
        _stand_ins(session, team, start, end),
        start,
        end,
        _absences(session, team, start, end),
    )


def _people(session: Session, ids: Sequence[int]) -> dict[int, Counsellor]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Counsellor).where(Counsellor.id.in_(ids)))}


__all__ = [
    "MAX_SHIFT",
    "NewShift",
    "OnCall",
    "OnCallNow",
    "Rota",
    "create_shift",
    "delete_shift",
    "gaps",
    "list_shifts",
    "on_call",
    "timeline",
    "update_shift",
]


def update_shift(
    session: Session, config: HotlineConfig, shift_id: int, new: NewShift, *, actor: str
) -> Shift:
    """Change a shift: the old one goes and the new one is checked like a new shift, in one
    transaction, so a refused change leaves the old shift in place."""
    old = session.get(Shift, shift_id, with_for_update=True)
    if old is None:
        raise NotFound(f"no shift with id {shift_id}")
    before = snapshot(old)
    session.delete(old)
    session.flush()
    shift = create_shift(session, config, new, actor=actor)
    audit.record(session, actor, "update", "shift", shift.id, before=before, after=snapshot(shift))
    return shift


@dataclass(frozen=True, slots=True)
class Rota:
    """ "Who is on call" as telephony asks it (`hotline.routing.Rota`), bound to the
    configuration by the code that composes the service."""

    config: HotlineConfig

    def __call__(
        self, session: Session, team: str, at: datetime, *, next_change: bool = False
    ) -> OnCallNow:
        return on_call(session, self.config, team, at, next_change=next_change)
