"""The coordinator's side: approving an accepted swap (it is applied, or becomes obsolete)
or rejecting it, and how many swaps of a team wait for that decision. Who may decide is
`foundation.access.may_decide_swap`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import access
from foundation.clock import utcnow
from foundation.errors import Invalid
from foundation.i18n import N_
from foundation.models import SwapRequest, SwapState, Team
from scheduling.swaps.applying import Outcome, apply
from scheduling.swaps.obsolete import make_obsolete, stale_reason
from scheduling.swaps.rows import change, load, lock_rows, person, require_state
from scheduling.swaps.telling import tell


def _may_decide(session: Session, user_id: int, team_id: int) -> bool:
    principal = access.load_user(session, user_id)
    return principal is not None and access.may_decide_swap(principal, team_id)


def approve(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    user_id: int,
    *,
    actor: str,
) -> Outcome:
    """A coordinator of the team (or an admin) approves an accepted swap: it is applied, or
    it becomes obsolete if a shift changed meanwhile (returned, not raised)."""
    now = utcnow()
    swap = load(session, swap_id)
    if not _may_decide(session, user_id, swap.team_id):
        raise Invalid(N_("Nur die Koordination dieses Teams kann Tauschanfragen genehmigen."))
    require_state(swap, (SwapState.ACCEPTED,))
    team = session.get(Team, swap.team_id)
    assert team is not None  # a foreign key
    lock_rows(session, swap)
    reason = stale_reason(session, swap, now)
    if reason is not None:
        swap.decided_by_id = user_id
        make_obsolete(session, config, swap, reason, actor=actor, now=now)
        return Outcome(swap, reason)
    apply(session, team, swap, actor=actor)
    swap.decided_by_id = user_id
    change(session, swap, SwapState.APPROVED, "approve", actor=actor)
    people = [person(session, i, "id") for i in (swap.requester_id, swap.colleague_id)]
    tell(session, config, swap, "approved", people, now)
    return Outcome(swap)


def reject(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    user_id: int,
    *,
    actor: str,
) -> SwapRequest:
    """A coordinator of the team (or an admin) says no; requester and colleague are told."""
    now = utcnow()
    swap = load(session, swap_id)
    if not _may_decide(session, user_id, swap.team_id):
        raise Invalid(N_("Nur die Koordination dieses Teams kann Tauschanfragen ablehnen."))
    require_state(swap, (SwapState.ACCEPTED,))
    swap.decided_by_id = user_id
    change(session, swap, SwapState.REJECTED, "reject", actor=actor)
    people = [person(session, i, "id") for i in (swap.requester_id, swap.colleague_id)]
    tell(session, config, swap, "rejected", people, now)
    return swap


def waiting_for_approval(session: Session, team_id: int) -> int:
    """How many accepted swaps of the team wait for a coordinator."""
    return (
        session.scalar(
            select(func.count())
            .select_from(SwapRequest)
            .where(SwapRequest.team_id == team_id, SwapRequest.state == SwapState.ACCEPTED)
        )
        or 0
    )
