"""The colleague's side: accepting a request (which applies it at once when the team needs no
coordinator's approval) or declining it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.clock import utcnow
from foundation.errors import Invalid
from foundation.i18n import N_
from foundation.models import SwapRequest, SwapState, Team
from scheduling.swaps.applying import Outcome, apply, check_takers, moves
from scheduling.swaps.obsolete import make_obsolete, stale_reason
from scheduling.swaps.rows import change, load, lock_rows, needs_approval, person, require_state
from scheduling.swaps.telling import coordinators, queue, story, tell
from scheduling.swaps.words import notice_text


def decline(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    colleague_id: int,
    *,
    actor: str,
) -> SwapRequest:
    """The colleague says no."""
    now = utcnow()
    swap = load(session, swap_id)
    if swap.colleague_id != colleague_id:
        raise Invalid(N_("Nur die angefragte Person kann diese Anfrage ablehnen."))
    require_state(swap, (SwapState.REQUESTED,))
    change(session, swap, SwapState.DECLINED, "decline", actor=actor)
    requester = person(session, swap.requester_id, "requester_id")
    tell(session, config, swap, "declined", [requester], now)
    return swap


def accept(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    colleague_id: int,
    *,
    actor: str,
) -> Outcome:
    """The colleague agrees. With approval switched off for the team the swap is applied at
    once (state approved); otherwise the coordinators are asked. A request whose shifts
    changed meanwhile becomes obsolete instead (returned, not raised: that change is kept)."""
    now = utcnow()
    swap = load(session, swap_id)
    if swap.colleague_id != colleague_id:
        raise Invalid(N_("Nur die angefragte Person kann diese Anfrage annehmen."))
    require_state(swap, (SwapState.REQUESTED,))
    team = session.get(Team, swap.team_id)
    assert team is not None  # a foreign key
    approval = needs_approval(config, team)
    lock_rows(session, swap)
    reason = stale_reason(session, swap, now)
    if reason is not None:
        make_obsolete(session, config, swap, reason, actor=actor, now=now)
        return Outcome(swap, reason)
    requester = person(session, swap.requester_id, "requester_id")
    if approval:
        check_takers(session, team, moves(session, swap))  # fail early, not at approval
        change(session, swap, SwapState.ACCEPTED, "accept", actor=actor)
        told = story(session, config, swap)
        queue(session, swap, "accepted", [requester], notice_text("accepted", told), now)
        approvers = coordinators(session, swap.team_id)
        queue(session, swap, "approval", approvers, notice_text("approval", told), now)
        return Outcome(swap)
    apply(session, team, swap, actor=actor)
    change(session, swap, SwapState.APPROVED, "accept", actor=actor, extra={"applied": True})
    tell(session, config, swap, "accepted", [requester], now, applied=True)
    return Outcome(swap)
