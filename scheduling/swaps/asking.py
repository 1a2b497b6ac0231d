"""The requester's side: asking a colleague to take a shift (optionally in exchange for one
of theirs), and taking the request back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import audit
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import Shift, SwapRequest, SwapState
from scheduling.offers.rows import on_offer
from scheduling.swaps.applying import check_takers
from scheduling.swaps.rows import (
    OPEN,
    change,
    load,
    lock_shifts,
    needs_approval,
    person,
    require_state,
    snapshot,
)
from scheduling.swaps.telling import queue, story, tell
from scheduling.swaps.words import notice_text

NOTE_LENGTH = 500


@dataclass(frozen=True, slots=True)
class NewSwap:
    """What a counsellor asks: `colleague_id` takes `shift_id`; with `return_shift_id` the
    requester takes that shift of the colleague in exchange."""

    shift_id: int
    colleague_id: int
    return_shift_id: int | None = None
    note: str = ""


def request_swap(
    session: Session,
    config: HotlineConfig,
    requester_id: int,
    new: NewSwap,
    *,
    actor: str,
) -> SwapRequest:
    """The requester asks a colleague of the shift's team to take one of the requester's
    upcoming shifts (and, optionally, to give one of theirs in exchange)."""
    now = utcnow()
    requester = person(session, requester_id, "requester_id")
    if not requester.active:
        raise Invalid(N_("Ihr Eintrag ist deaktiviert."), field="shift_id")
    lock_shifts(session, new.shift_id, new.return_shift_id)
    shift = session.get(Shift, new.shift_id)
    if shift is None:
        raise NotFound(N_("Diesen Dienst gibt es nicht (mehr)."), field="shift_id")
    if shift.counsellor_id != requester.id:
        raise Invalid(N_("Sie können nur eigene Dienste zum Tausch anbieten."), field="shift_id")
    if shift.end_at <= now:
        raise Invalid(N_("Dieser Dienst ist bereits vorbei."), field="shift_id")
    team = shift.team
    needs_approval(config, team)  # refuses a team no longer configured
    if new.colleague_id == requester.id:
        raise Invalid(N_("Bitte wählen Sie eine andere Person."), field="colleague_id")
    colleague = person(session, new.colleague_id, "colleague_id")
    if not colleague.active:
        raise Invalid(f"{colleague.name} ist deaktiviert.", field="colleague_id")
    if team not in colleague.teams:
        raise Invalid(f"{colleague.name} gehört nicht zu {team.name}.", field="colleague_id")
    back = None
    if new.return_shift_id:
        back = session.get(Shift, new.return_shift_id)
        if back is None:
            raise NotFound(N_("Diesen Gegendienst gibt es nicht (mehr)."), field="return_shift_id")
        if back.counsellor_id != colleague.id or back.team_id != team.id:
            raise Invalid(
                f"Der Gegendienst muss ein Dienst von {colleague.name} in {team.name} sein.",
                field="return_shift_id",
            )
        if back.end_at <= now:
            raise Invalid(N_("Der Gegendienst ist bereits vorbei."), field="return_shift_id")
    ids = [shift.id] + ([back.id] if back else [])
    pending = session.scalar(
        select(SwapRequest.id).where(
            SwapRequest.state.in_(OPEN),
            or_(SwapRequest.shift_id.in_(ids), SwapRequest.return_shift_id.in_(ids)),
        )
    )
    if pending is not None:
        raise Conflict(
            N_("Für diesen Dienst gibt es schon eine offene Tauschanfrage."), field="shift_id"
        )
    if on_offer(session, ids) is not None:
        raise Conflict(N_("Dieser Dienst ist dem Team zur Übernahme angeboten."), field="shift_id")
    moves = [(shift, colleague)] + ([(back, requester)] if back else [])
    check_takers(session, team, moves)
    swap = SwapRequest(
        team_id=team.id,
        shift_id=shift.id,
        return_shift_id=back.id if back else None,
        requester_id=requester.id,
        colleague_id=colleague.id,
        state=SwapState.REQUESTED,
        note=new.note.strip()[:NOTE_LENGTH] or None,
    )
    session.add(swap)
    session.flush()
    audit.record(session, actor, "request", "swap_request", swap.id, after=snapshot(swap))
    told = story(session, config, swap)
    queue(session, swap, "requested", [colleague], notice_text("requested", told), now)
    return swap


def withdraw(
    session: Session, config: HotlineConfig, swap_id: int, requester_id: int, *, actor: str
) -> SwapRequest:
    """The requester takes an open request back (also after the colleague accepted)."""
    now = utcnow()
    swap = load(session, swap_id)
    if swap.requester_id != requester_id:
        raise Invalid(N_("Nur wer die Anfrage gestellt hat, kann sie zurückziehen."))
    require_state(swap, OPEN)
    change(session, swap, SwapState.WITHDRAWN, "withdraw", actor=actor)
    colleague = person(session, swap.colleague_id, "colleague_id")
    tell(session, config, swap, "withdrawn", [colleague], now)
    return swap
