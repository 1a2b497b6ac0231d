"""A shift's cover: who works it once stand-ins and absences are applied (`rota.worked`).

Stand-ins and absences never edit a shift: a swap request judges a shift by its own
`updated_at`, and entering a stand-in is no change of the rotation. They do change who works
it, and the calendar feeds must see that, deletions included (a deleted row leaves nothing to
read a time from). So every create and delete of a stand-in or an absence, and the
(de)activation of a substitute (the rota ignores stand-ins naming an inactive one), marks the
shifts whose parts may change, in the same transaction: `cover_revision + 1` (the feeds' ETag
sums it, exactly however commits interleave) and `cover_changed_at` (an event's SEQUENCE and
DTSTAMP, and how long a cancelled part stays in a feed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import Session

from foundation.clock import utcnow
from foundation.models import Shift, StandIn
from scheduling.shifts import MAX_SHIFT


def _overlapping(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """Shifts overlapping [start, end); MAX_SHIFT bounds the index range."""
    return [Shift.start_at < end, Shift.start_at > start - MAX_SHIFT, Shift.end_at > start]


def _mark(session: Session, *where: ColumnElement[bool]) -> None:
    session.execute(
        update(Shift)
        .where(*where)
        .values(
            cover_revision=Shift.cover_revision + 1,
            cover_changed_at=utcnow(),
            # Not an edit of the shift: keep the columns that the onupdate defaults would move.
            updated_at=Shift.updated_at,
            revision=Shift.revision,
        )
        .execution_options(synchronize_session=False)
    )


def stand_in_changed(
    session: Session, team_id: int, absent_id: int, start: datetime, end: datetime
) -> None:
    """A stand-in for `absent_id` in the team came or goes: her shifts there in its time."""
    _mark(
        session,
        Shift.team_id == team_id,
        Shift.counsellor_id == absent_id,
        *_overlapping(start, end),
    )


def absence_changed(session: Session, counsellor_id: int, start: datetime, end: datetime) -> None:
    """An absence came or goes: her own shifts in its time (in every team), and the shifts she
    stands in for then (an absent substitute works nothing: those become gaps)."""
    _mark(session, Shift.counsellor_id == counsellor_id, *_overlapping(start, end))
    covered = exists().where(
        StandIn.substitute_id == counsellor_id,
        StandIn.team_id == Shift.team_id,
        StandIn.absent_id == Shift.counsellor_id,
        StandIn.start_at < Shift.end_at,
        StandIn.end_at > Shift.start_at,
        StandIn.start_at < end,
        StandIn.end_at > start,
    )
    _mark(session, covered, *_overlapping(start, end))


def substitute_changed(session: Session, counsellor_id: int) -> None:
    """She was deactivated or reactivated: the shifts of every stand-in naming her."""
    rows = session.execute(
        select(StandIn.team_id, StandIn.absent_id, StandIn.start_at, StandIn.end_at).where(
            StandIn.substitute_id == counsellor_id
        )
    )
    for team_id, absent_id, start, end in rows.all():
        stand_in_changed(session, team_id, absent_id, start, end)
