"""Saving a planned rotation (scheduling.rotation plans it): the rota page's "Speichern".

All or nothing: every planned shift is checked like a single new shift
(`shifts.create_shift`: members only, no overlap of one counsellor in one team); if any is
refused, none is saved and `RotationClash` names the start of each refused one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.errors import Conflict, DomainError
from foundation.models import Shift
from scheduling import shifts
from scheduling.rotation import PlannedShift


class RotationClash(Conflict):
    """Planned shifts that cannot be saved (they overlap, or their counsellor left the team);
    nothing was saved."""

    def __init__(self, starts: Sequence[datetime]) -> None:
        super().__init__(f"{len(starts)} planned shift(s) refused; nothing was saved")
        self.starts = list(starts)


def save_rotation(
    session: Session,
    config: HotlineConfig,
    team: str,
    planned: Sequence[PlannedShift],
    *,
    actor: str,
) -> list[Shift]:
    """Add the planned shifts to `team`'s rota in the caller's transaction, or none of them
    (raises RotationClash, the session as it was before)."""
    refused: list[datetime] = []
    saved: list[Shift] = []
    everything = session.begin_nested()
    for shift in planned:
        new = shifts.NewShift(team, shift.counsellor_id, shift.tier, shift.start, shift.end)
        try:
            with session.begin_nested():
                saved.append(shifts.create_shift(session, config, new, actor=actor))
        except DomainError:
            refused.append(shift.start)
    if refused:
        everything.rollback()
        raise RotationClash(refused)
    everything.commit()
    return saved
