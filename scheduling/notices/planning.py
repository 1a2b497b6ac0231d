"""The planner (every minute): store the notices the rota calls for, each once, and cancel the
pending ones whose duty no longer stands (revive them when it stands again).

The rota is read through `shifts.timeline` (stand-ins and absences applied, so the person
actually serving is told and an absent one is not); `INSERT … ON CONFLICT DO NOTHING` on a
`dedupe_key` that names what a notice is about lets two planners run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation.models import Channel, DispatchState, NoticeKind, ShiftNotice, Team
from foundation.outgoing import channels
from scheduling import shifts
from scheduling.notices.duties import PLAN_SLACK, Duty, Planned, duties, horizon, planned
from scheduling.notices.store import active_counsellors, insert_ignoring_duplicates

LOOKBACK = timedelta(hours=1)
# How far past the planning horizon the rota is read, so that a duty's end is known.
EXTENT = shifts.MAX_SHIFT


@dataclass
class PlanResult:
    inserted: int = 0
    revived: int = 0
    cancelled: int = 0


def team_duties(session: Session, config: HotlineConfig, slug: str, now: datetime) -> list[Duty]:
    """The team's duties around the planning window, from the rota as it stands."""
    until = now + horizon(config.notices) + EXTENT
    return duties(shifts.timeline(session, config, slug, now - LOOKBACK, until))


def plan(session: Session, settings: Settings, now: datetime) -> PlanResult:
    """Store the notices the rota calls for (each once) and cancel those it no longer does."""
    config = settings.config
    rules = config.notices
    until = now + horizon(rules)
    wanted: list[tuple[Team, Planned]] = []
    teams = {
        t.slug: t for t in session.scalars(select(Team).where(Team.slug.in_(list(config.teams))))
    }
    for slug, team in teams.items():
        for duty in team_duties(session, config, slug, now):
            wanted += [
                (team, p) for p in planned(duty, rules, config.organisation.zone, now, until)
            ]
    people = active_counsellors(session, {p.duty.counsellor_id for _, p in wanted})
    rows: dict[str, dict[str, Any]] = {}
    for team, notice in wanted:
        person = people.get(notice.duty.counsellor_id)
        for channel in channels(person) if person is not None else []:
            rows[notice.key(team.slug, channel)] = _row(team, notice, channel, now)
    due = {key: row for key, row in rows.items() if row["due_at"] >= now - PLAN_SLACK}
    result = PlanResult()
    result.inserted = _insert_new(session, due)
    result.revived = _revive(session, [k for k, row in due.items() if row["due_at"] > now], now)
    result.cancelled = _cancel_stale(session, set(rows), now, until)
    return result


def _row(team: Team, notice: Planned, channel: Channel, now: datetime) -> dict[str, Any]:
    duty = notice.duty
    return {
        "dedupe_key": notice.key(team.slug, channel),
        "counsellor_id": duty.counsellor_id,
        "team_id": team.id,
        "kind": notice.kind,
        "channel": channel,
        "due_at": notice.due_at,
        "payload": {
            "team": team.slug,
            "tier": notice.tier.value,
            "at": notice.at.isoformat(),
            "start": duty.start.isoformat(),
            "end": duty.end.isoformat() if duty.end else None,
            "successor": duty.successor,  # as planned; the handoff names who it is when sent
        },
        "state": DispatchState.PENDING,
        "attempts": 0,
        "created_at": now,
    }


def _insert_new(session: Session, rows: dict[str, dict[str, Any]]) -> int:
    if not rows:
        return 0
    known = set(
        session.scalars(
            select(ShiftNotice.dedupe_key).where(ShiftNotice.dedupe_key.in_(list(rows)))
        )
    )
    new = [row for key, row in rows.items() if key not in known]
    insert_ignoring_duplicates(session, new)
    return len(new)


def _revive(session: Session, keys: list[str], now: datetime) -> int:
    """A notice the planner cancelled becomes pending again when its duty is back (a stand-in
    deleted again) and its moment is still ahead. Only unsent rows were ever cancelled."""
    if not keys:
        return 0
    revived = session.execute(
        update(ShiftNotice)
        .where(
            ShiftNotice.dedupe_key.in_(keys),
            ShiftNotice.state == DispatchState.CANCELLED,
            ShiftNotice.due_at > now,
        )
        .values(state=DispatchState.PENDING)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(revived, "rowcount", 0) or 0)


def _cancel_stale(session: Session, valid: set[str], now: datetime, until: datetime) -> int:
    """Pending notices about a duty instant inside the planning window that the rota no longer
    calls for. Instants already past are left to the dispatcher (render re-checks them)."""
    pending = session.execute(
        select(ShiftNotice.id, ShiftNotice.dedupe_key, ShiftNotice.payload).where(
            ShiftNotice.state == DispatchState.PENDING,
            ShiftNotice.kind.in_([NoticeKind.UPCOMING, NoticeKind.HANDOFF]),
        )
    ).all()
    stale = [
        row_id
        for row_id, key, payload in pending
        if key not in valid and now < datetime.fromisoformat(payload["at"]) <= until
    ]
    if not stale:
        return 0
    cancelled = session.execute(
        update(ShiftNotice)
        .where(ShiftNotice.id.in_(stale), ShiftNotice.state == DispatchState.PENDING)
        .values(state=DispatchState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(cancelled, "rowcount", 0) or 0)
