"""Applying a swap: its moves (shift, new holder), the checks of the new holders that
`scheduling.shifts.create_shift` makes, for both moves of an exchange at once, and reassigning
the shifts in place."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from foundation import audit
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import Counsellor, Shift, SwapRequest, Team
from scheduling.notices.changes import QUIET
from scheduling.shifts import MAX_SHIFT
from scheduling.shifts import snapshot as shift_snapshot
from scheduling.swaps.rows import lock_shifts, person

Moves = list[tuple[Shift, Counsellor]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What accepting or approving did: `obsolete` names the reason (a key of
    `words.OBSOLETE_REASONS`) when the request became obsolete instead of going ahead."""

    swap: SwapRequest
    obsolete: str | None = None


def _clash(
    session: Session, counsellor_id: int, shift: Shift, leaving: Iterable[int]
) -> int | None:
    """A shift of the counsellor in `shift`'s team overlapping it, other than the ones
    `leaving` them in the same swap (the rule of `create_shift`, applied to both moves at once)."""
    query = select(Shift.id).where(
        Shift.counsellor_id == counsellor_id,
        Shift.team_id == shift.team_id,
        Shift.start_at < shift.end_at,
        Shift.start_at > shift.start_at - MAX_SHIFT,
        Shift.end_at > shift.start_at,
        Shift.id.not_in([shift.id, *leaving]),
    )
    return session.scalar(query)


def check_takers(session: Session, team: Team, moves: Moves) -> None:
    """Every new holder is an active member of the team with no overlapping shift in it,
    counting the exchange as a whole. Raises Invalid/Conflict; changes nothing."""
    leaving = [shift.id for shift, _ in moves]
    for shift, taker in moves:
        if not taker.active:
            raise Invalid(f"{taker.name} ist deaktiviert.", field="colleague_id")
        if team not in taker.teams:
            raise Invalid(f"{taker.name} gehört nicht zu {team.name}.", field="colleague_id")
        if _clash(session, taker.id, shift, leaving) is not None:
            raise Conflict(
                f"{taker.name} hat in {team.name} zu dieser Zeit bereits einen Dienst.",
                field="colleague_id",
            )


def moves(session: Session, swap: SwapRequest) -> Moves:
    """(shift, new holder) pairs of the swap, with the shift rows locked."""
    lock_shifts(session, swap.shift_id, swap.return_shift_id)
    shift = session.get(Shift, swap.shift_id) if swap.shift_id else None
    if shift is None:
        raise NotFound(N_("Diesen Dienst gibt es nicht (mehr)."))
    found = [(shift, person(session, swap.colleague_id, "colleague_id"))]
    if swap.return_shift_id is not None:
        back = session.get(Shift, swap.return_shift_id)
        if back is None:
            raise NotFound(N_("Diesen Gegendienst gibt es nicht (mehr)."))
        found.append((back, person(session, swap.requester_id, "requester_id")))
    return found


def apply(session: Session, team: Team, swap: SwapRequest, *, actor: str) -> None:
    """Reassign the shift(s) in place, after checking both moves together; the caller's
    transaction makes it all or nothing. The swap notices queued by the caller tell both
    people what changed, so the generic change notice is not sent on top
    (`notices.changes.QUIET`). The caller has locked the rows (`rows.lock_rows`) before
    judging them."""
    session.info[QUIET] = True
    found = moves(session, swap)
    check_takers(session, team, found)
    for shift, taker in found:
        before = shift_snapshot(shift)
        shift.counsellor = taker
        session.flush()
        audit.record(
            session,
            actor,
            "swap",
            "shift",
            shift.id,
            before=before,
            after=shift_snapshot(shift) | {"swap_request_id": swap.id},
        )
