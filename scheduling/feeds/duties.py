"""A feed's duties as they will be worked: the shifts it concerns, cut by the rota core
(`scheduling.rota.worked`, the rule calls are routed by) with the stand-ins and absences that
apply, as `ShiftEvent`s.

The rows are those "who is on call" reads (`scheduling.shifts`): shifts of active holders,
stand-ins naming an active substitute (in creation order: the latest wins) and absences of
the team's members. Every stand-in and absence overlapping a shift is read, outside the
feed's window too, so where a shift is cut never depends on the window.

* A counsellor's feed: her own shifts, each part she works as her duty and each part someone
  else or nobody works as cancelled (for `cancelled_keep_days` after that last changed), and
  the shifts she stands in for, the parts she works ("Vertretung").
* A team's feed: every part of its shifts, named by who works it, or a gap ("Lücke").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, select
from sqlalchemy.orm import Session

from foundation.models import Absence, Counsellor, Shift, StandIn, Team, TeamMembership, Tier
from scheduling import rota
from scheduling.feeds.events import Duty, Owner, ShiftEvent, Window
from scheduling.shifts import MAX_SHIFT


def params(owner: Owner, span: Window) -> dict[str, object]:
    """The bind parameters of every feed statement."""
    return {
        "owner": owner.team_id if owner.counsellor_id is None else owner.counsellor_id,
        "start": span.start,
        "end": span.end,
        "reach": span.start - MAX_SHIFT,
        "far": span.end + MAX_SHIFT,
        "day_before": span.start - timedelta(days=1),
        "cancelled_since": span.cancelled_since,
    }


def shift_where(by_team: bool) -> list[ColumnElement[bool]]:
    """Shifts of the owner overlapping the window [:start, :end) (MAX_SHIFT bounds the index
    range: :reach = :start - MAX_SHIFT), of active holders; the query joins Counsellor."""
    return [
        (Shift.team_id if by_team else Shift.counsellor_id) == bindparam("owner"),
        *_in_window(),
    ]


def _in_window() -> list[ColumnElement[bool]]:
    return [
        Shift.start_at < bindparam("end"),
        Shift.start_at > bindparam("reach"),
        Shift.end_at > bindparam("start"),
        Counsellor.active.is_(True),
    ]


def covered_join() -> ColumnElement[bool]:
    """Joins to a StandIn the shifts it covers (its absentee's, in its team, overlapping)."""
    return and_(
        Shift.team_id == StandIn.team_id,
        Shift.counsellor_id == StandIn.absent_id,
        Shift.start_at < StandIn.end_at,
        Shift.end_at > StandIn.start_at,
    )


def covered_where() -> list[ColumnElement[bool]]:
    """Stand-ins naming the owner as substitute, and the window's shifts they cover: driven by
    the (few) stand-ins, then the holder's index range."""
    return [
        StandIn.substitute_id == bindparam("owner"),
        StandIn.end_at > bindparam("reach"),
        StandIn.start_at < bindparam("far"),
        *_in_window(),
    ]


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    team_id: int
    team: str
    holder: int
    holder_name: str
    tier: Tier
    start: datetime
    end: datetime
    created: datetime
    changed: datetime  # the newer of updated_at and cover_changed_at


_COLUMNS: tuple[Any, ...] = (
    Shift.id,
    Shift.team_id,
    Team.name,
    Shift.counsellor_id,
    Counsellor.name,
    Shift.tier,
    Shift.start_at,
    Shift.end_at,
    Shift.created_at,
    Shift.updated_at,
    Shift.cover_changed_at,
)


@cache
def _shifts_statement(by_team: bool) -> Select[Any]:
    return (
        select(*_COLUMNS)
        .join(Team, Team.id == Shift.team_id)
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(*shift_where(by_team))
    )


@cache
def _covered_statement() -> Select[Any]:
    return (
        select(*_COLUMNS)
        .select_from(StandIn)
        .join(Shift, covered_join())
        .join(Team, Team.id == Shift.team_id)
        .join(Counsellor, Counsellor.id == Shift.counsellor_id)
        .where(*covered_where())
    )


def _rows(session: Session, statement: Select[Any], owner: Owner, span: Window) -> list[_Row]:
    found: dict[int, _Row] = {}  # a shift two stand-ins cover comes twice
    for row in session.execute(statement, params(owner, span)):
        shift_id, team_id, team, holder, name, tier, start, end, created, updated, cover = row
        changed = updated if cover is None else max(updated, cover)
        found.setdefault(
            shift_id,
            _Row(shift_id, team_id, team, holder, name, tier, start, end, created, changed),
        )
    return list(found.values())


def _stand_ins(
    session: Session, teams: set[int], holders: set[int], first: datetime, last: datetime
) -> list[tuple[int, rota.StandIn]]:
    rows = session.execute(
        select(
            StandIn.team_id,
            StandIn.absent_id,
            StandIn.substitute_id,
            StandIn.start_at,
            StandIn.end_at,
        )
        .join(Counsellor, Counsellor.id == StandIn.substitute_id)
        .where(
            StandIn.team_id.in_(teams),
            StandIn.absent_id.in_(holders),
            StandIn.start_at < last,
            StandIn.end_at > first,
            Counsellor.active.is_(True),
        )
        .order_by(StandIn.created_at, StandIn.id)
    )
    return [(team, rota.StandIn(a, s, b, e)) for team, a, s, b, e in rows]


def _absences(
    session: Session, teams: set[int], people: set[int], first: datetime, last: datetime
) -> list[tuple[int, rota.Absence]]:
    rows = session.execute(
        select(TeamMembership.team_id, Absence.counsellor_id, Absence.start_at, Absence.end_at)
        .join(TeamMembership, TeamMembership.counsellor_id == Absence.counsellor_id)
        .where(
            TeamMembership.team_id.in_(teams),
            Absence.counsellor_id.in_(people),
            Absence.start_at < last,
            Absence.end_at > first,
        )
    )
    return [(team, rota.Absence(c, s, e)) for team, c, s, e in rows]


def _cut(session: Session, rows: Sequence[_Row]) -> list[tuple[_Row, rota.Part]]:
    """Every shift's parts, team by team (a stand-in is a team's; an absence counts in the
    teams its counsellor is a member of)."""
    if not rows:
        return []
    teams = {row.team_id for row in rows}
    holders = {row.holder for row in rows}
    first, last = min(row.start for row in rows), max(row.end for row in rows)
    stand_ins = _stand_ins(session, teams, holders, first, last)
    people = holders | {si.substitute_id for _, si in stand_ins}
    absences = _absences(session, teams, people, first, last)
    cut: list[tuple[_Row, rota.Part]] = []
    for team in sorted(teams):
        mine = [row for row in rows if row.team_id == team]
        parts = rota.worked(
            [rota.ShiftSpan(row.holder, row.tier, row.start, row.end) for row in mine],
            [si for t, si in stand_ins if t == team],
            [a for t, a in absences if t == team],
        )
        cut += [(row, part) for row, pieces in zip(mine, parts, strict=True) for part in pieces]
    return cut


def team_label(name: str) -> str:
    """ "Team Islamismus" -> "Islamismus": how a shift's summary names the team."""
    return name.removeprefix("Team ").strip() or name


def _event(
    row: _Row,
    part: rota.Part,
    duty: Duty,
    person: str | None = None,
    replaced: str | None = None,
) -> ShiftEvent:
    return ShiftEvent(
        id=row.id,
        team=team_label(row.team),
        tier=row.tier,
        start=part.start,
        end=part.end,
        created=row.created,
        updated=row.changed,
        person=person,
        part=None if part.start == row.start else part.start,
        duty=duty,
        replaced=replaced,
    )


def _in(span: Window, part: rota.Part) -> bool:
    return part.start < span.end and part.end > span.start


def _ordered(events: Iterable[ShiftEvent]) -> list[ShiftEvent]:
    return sorted(events, key=lambda e: (e.start, e.id))


def for_counsellor(
    session: Session, counsellor_id: int, span: Window, *, show_replaced: bool
) -> list[ShiftEvent]:
    """Her duties as she will work them, and her own duties that she no longer works."""
    owner = Owner(counsellor_id)
    rows = _rows(session, _shifts_statement(False), owner, span)
    rows += _rows(session, _covered_statement(), owner, span)
    events: list[ShiftEvent] = []
    for row, part in _cut(session, rows):
        if not _in(span, part):
            continue
        if row.holder == counsellor_id:
            if part.by == counsellor_id:
                events.append(_event(row, part, Duty.OWN))
            elif row.changed >= span.cancelled_since:
                last = events[-1] if events else None
                if (
                    last
                    and last.duty is Duty.CANCELLED
                    and (last.id, last.end) == (row.id, part.start)
                ):
                    # Not hers either way: a substitute, then nobody, is one cancelled part.
                    events[-1] = replace(last, end=part.end)
                else:
                    events.append(_event(row, part, Duty.CANCELLED))
        elif part.by == counsellor_id:
            replaced = row.holder_name if show_replaced else None
            events.append(_event(row, part, Duty.STAND_IN, replaced=replaced))
    return _ordered(events)


def for_team(
    session: Session, team_id: int, span: Window, *, show_replaced: bool
) -> list[ShiftEvent]:
    """Every part of the team's duties, with who works it, or a gap."""
    rows = _rows(session, _shifts_statement(True), Owner(team_id=team_id), span)
    cut = [(row, part) for row, part in _cut(session, rows) if _in(span, part)]
    names = {row.holder: row.holder_name for row in rows}
    others = {part.by for _, part in cut if part.by is not None} - set(names)
    if others:
        found = session.execute(
            select(Counsellor.id, Counsellor.name).where(Counsellor.id.in_(others))
        )
        names |= {row.id: row.name for row in found}
    events = []
    for row, part in cut:
        if part.by is None:
            events.append(_event(row, part, Duty.GAP))
        elif part.by == row.holder:
            events.append(_event(row, part, Duty.OWN, person=row.holder_name))
        else:
            replaced = row.holder_name if show_replaced else None
            events.append(_event(row, part, Duty.STAND_IN, names[part.by], replaced))
    return _ordered(events)
