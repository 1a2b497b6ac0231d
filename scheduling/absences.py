"""Absences: a counsellor is away (holiday, sick) from … to …, in every team.

The rota core (`scheduling.rota`) makes her shifts in that time gaps until a stand-in covers
them; the rota page flags them. Entering an absence never touches the shifts themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from foundation import audit
from foundation.errors import Invalid, NotFound
from foundation.models import Absence, AbsenceKind, Counsellor, Shift
from scheduling import cover
from scheduling.intervals import utc_interval

MAX_ABSENCE = timedelta(days=366)
KIND_LABELS = {
    AbsenceKind.HOLIDAY: "Urlaub",
    AbsenceKind.SICK: "krank",
    AbsenceKind.OTHER: "abwesend",
}


@dataclass(frozen=True, slots=True)
class NewAbsence:
    counsellor_id: int
    kind: AbsenceKind
    start: datetime
    end: datetime
    note: str = ""


def _snapshot(absence: Absence) -> dict[str, object]:
    return {
        "counsellor_id": absence.counsellor_id,
        "kind": absence.kind.value,
        "start": absence.start_at.isoformat(),
        "end": absence.end_at.isoformat(),
    }


def create_absence(
    session: Session, new: NewAbsence, *, actor: str, team: str | None = None
) -> Absence:
    """Record an absence; with `team` (the rota page of that team), only of its members."""
    if team is not None:
        member = session.get(Counsellor, new.counsellor_id)
        if member is None or team not in {t.slug for t in member.teams}:
            raise Invalid("not a member of this team", field="counsellor_id")
    start, end = utc_interval(
        new.start, new.end, longest=MAX_ABSENCE, too_long="an absence lasts at most a year"
    )
    try:
        kind = AbsenceKind(new.kind)
    except ValueError:
        raise Invalid(f"unknown kind of absence {new.kind!r}", field="kind") from None
    if session.get(Counsellor, new.counsellor_id) is None:
        raise NotFound(f"no counsellor with id {new.counsellor_id}", field="counsellor_id")
    absence = Absence(
        counsellor_id=new.counsellor_id,
        kind=kind,
        start_at=start,
        end_at=end,
        note=new.note.strip()[:500] or None,
    )
    session.add(absence)
    session.flush()
    cover.absence_changed(session, new.counsellor_id, start, end)
    audit.record(session, actor, "create", "absence", absence.id, after=_snapshot(absence))
    return absence


def delete_absence(session: Session, absence_id: int, *, actor: str) -> None:
    absence = session.get(Absence, absence_id)
    if absence is None:
        raise NotFound(f"no absence with id {absence_id}")
    audit.record(session, actor, "delete", "absence", absence.id, before=_snapshot(absence))
    cover.absence_changed(session, absence.counsellor_id, absence.start_at, absence.end_at)
    session.delete(absence)


def list_absences(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    counsellor_ids: list[int] | None = None,
) -> list[Absence]:
    """Absences overlapping [start, end), by start (absences are rare: no start bound), with
    their counsellors and her teams."""
    query = (
        select(Absence)
        .options(joinedload(Absence.counsellor).selectinload(Counsellor.teams))
        .where(Absence.start_at < end, Absence.end_at > start)
        .order_by(Absence.start_at, Absence.id)
    )
    if counsellor_ids is not None:
        query = query.where(Absence.counsellor_id.in_(counsellor_ids))
    return list(session.scalars(query))


class _Away(Protocol):
    @property
    def counsellor_id(self) -> int: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...


AwayT = TypeVar("AwayT", bound=_Away)


def hit(shift: Shift, absences: list[AwayT]) -> list[AwayT]:
    """The absences (or busy times) of the shift's counsellor that overlap it."""
    return [
        a
        for a in absences
        if a.counsellor_id == shift.counsellor_id
        and a.start_at < shift.end_at
        and a.end_at > shift.start_at
    ]
