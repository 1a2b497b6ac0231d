"""Whether an open request can still go ahead as asked, and closing it when it cannot: the
colleague agreed to the shifts as they were when the request was made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.models import AuditEntry, Shift, SwapRequest, SwapState
from scheduling.swaps.rows import change, person
from scheduling.swaps.telling import tell


def _asked_return_shift(session: Session, swap: SwapRequest) -> int | None:
    """The return shift named when the request was made. The column is set NULL when that
    shift is deleted, so the request's own audit entry is what still remembers it."""
    after = session.scalar(
        select(AuditEntry.after)
        .where(
            AuditEntry.entity == "swap_request",
            AuditEntry.entity_id == swap.id,
            AuditEntry.action == "request",
        )
        .order_by(AuditEntry.id)
        .limit(1)
    )
    value = (after or {}).get("return_shift_id")
    return value if isinstance(value, int) else None


def stale_reason(session: Session, swap: SwapRequest, now: datetime) -> str | None:
    """Why an open request can no longer be applied as asked (a key of
    `words.OBSOLETE_REASONS`), or None. A shift changed after the request was made (its
    `updated_at`), deleted, handed to someone else, or ended: the colleague agreed to
    something else."""
    if swap.shift_id is None:
        return "deleted"
    if swap.return_shift_id is None and _asked_return_shift(session, swap) is not None:
        return "deleted"
    shift = session.get(Shift, swap.shift_id)
    back = session.get(Shift, swap.return_shift_id) if swap.return_shift_id else None
    if shift is None or (swap.return_shift_id is not None and back is None):
        return "deleted"
    for row, holder in ((shift, swap.requester_id), (back, swap.colleague_id)):
        if row is not None and (row.updated_at > swap.created_at or row.counsellor_id != holder):
            return "changed"
    if shift.end_at <= now:
        return "past"
    return None


def make_obsolete(
    session: Session,
    config: HotlineConfig,
    swap: SwapRequest,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Close a request that can no longer go ahead as asked; both people are told."""
    change(session, swap, SwapState.OBSOLETE, "obsolete", actor=actor, extra={"reason": reason})
    people = [person(session, swap.requester_id, "requester_id")]
    people.append(person(session, swap.colleague_id, "colleague_id"))
    tell(session, config, swap, "obsolete", people, now)
