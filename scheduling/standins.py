"""Stand-ins ("Vertretung"): X is replaced by Y in a team from … to …, without touching the
rotation. The rota core applies them (`scheduling.rota`): the latest stand-in wins, no chains."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from config.model import HotlineConfig
from foundation import audit
from foundation.errors import Invalid, NotFound
from foundation.models import Counsellor, StandIn
from foundation.teams import team_by_slug
from scheduling import cover
from scheduling.intervals import utc_interval

MAX_STAND_IN = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class NewStandIn:
    team: str
    absent_id: int
    substitute_id: int
    start: datetime
    end: datetime
    note: str = ""


def _snapshot(stand_in: StandIn) -> dict[str, object]:
    return {
        "team_id": stand_in.team_id,
        "absent_id": stand_in.absent_id,
        "substitute_id": stand_in.substitute_id,
        "start": stand_in.start_at.isoformat(),
        "end": stand_in.end_at.isoformat(),
    }


def create_stand_in(
    session: Session, config: HotlineConfig, new: NewStandIn, *, actor: str
) -> StandIn:
    start, end = utc_interval(
        new.start, new.end, longest=MAX_STAND_IN, too_long="a stand-in lasts at most a year"
    )
    if new.absent_id == new.substitute_id:
        raise Invalid("a counsellor cannot stand in for themselves", field="substitute_id")
    team = team_by_slug(session, new.team, config)
    people = {}
    for field, person_id in (("absent_id", new.absent_id), ("substitute_id", new.substitute_id)):
        person = session.get(Counsellor, person_id)
        if person is None:
            raise NotFound(f"no counsellor with id {person_id}", field=field)
        if team not in person.teams:
            raise Invalid(f"counsellor {person_id} is not in team {team.slug!r}", field=field)
        people[field] = person
    if not people["substitute_id"].active:
        raise Invalid("the substitute is deactivated", field="substitute_id")
    stand_in = StandIn(
        team_id=team.id,
        absent_id=new.absent_id,
        substitute_id=new.substitute_id,
        start_at=start,
        end_at=end,
        note=new.note.strip()[:500] or None,
    )
    session.add(stand_in)
    session.flush()
    cover.stand_in_changed(session, team.id, new.absent_id, start, end)
    audit.record(session, actor, "create", "stand_in", stand_in.id, after=_snapshot(stand_in))
    return stand_in


def delete_stand_in(session: Session, stand_in_id: int, *, actor: str) -> None:
    stand_in = session.get(StandIn, stand_in_id)
    if stand_in is None:
        raise NotFound(f"no stand-in with id {stand_in_id}")
    audit.record(session, actor, "delete", "stand_in", stand_in.id, before=_snapshot(stand_in))
    cover.stand_in_changed(
        session, stand_in.team_id, stand_in.absent_id, stand_in.start_at, stand_in.end_at
    )
    session.delete(stand_in)


def list_stand_ins(
    session: Session,
    config: HotlineConfig,
    team_slug: str | None,
    start: datetime,
    end: datetime,
    *,
    counsellor_id: int | None = None,
) -> list[StandIn]:
    """Stand-ins overlapping [start, end), by start: of the team (of every team without one),
    and with `counsellor_id` only those naming her (absent or substitute)."""
    query = (
        select(StandIn)
        .options(
            joinedload(StandIn.team), joinedload(StandIn.absent), joinedload(StandIn.substitute)
        )
        .where(StandIn.start_at < end, StandIn.end_at > start)
        .order_by(StandIn.start_at, StandIn.id)
    )
    if team_slug is not None:
        query = query.where(StandIn.team_id == team_by_slug(session, team_slug, config).id)
    if counsellor_id is not None:
        query = query.where(
            or_(StandIn.absent_id == counsellor_id, StandIn.substitute_id == counsellor_id)
        )
    return list(session.scalars(query))
