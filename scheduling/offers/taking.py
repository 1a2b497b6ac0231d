"""The taker's side: who may take a shift on offer (what a swap would allow, not the shift's
holder, not absent during it), taking it (handed over at once, or waiting for a coordinator),
and handing the shift over in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import audit
from foundation.clock import utcnow
from foundation.errors import Conflict, DomainError, Invalid
from foundation.i18n import N_
from foundation.models import Absence, Counsellor, OfferState, Shift, ShiftOffer, Team
from scheduling.notices.changes import QUIET
from scheduling.offers.expiring import expire, stale_reason
from scheduling.offers.rows import change, load, lock_rows, require_state
from scheduling.offers.telling import tell
from scheduling.shifts import snapshot as shift_snapshot
from scheduling.swaps.applying import check_takers
from scheduling.swaps.rows import needs_approval, person
from scheduling.swaps.telling import coordinators


@dataclass(frozen=True, slots=True)
class Outcome:
    """What taking or approving did: `expired` names the reason (a key of
    `words.EXPIRY_REASONS`) when the offer expired instead of going ahead."""

    offer: ShiftOffer
    expired: str | None = None


def check_taker(session: Session, team: Team, shift: Shift, taker: Counsellor) -> None:
    """The taker may hold the shift: not its holder, what a swap allows (an active member of
    the team with no overlapping shift in it), and not absent during it. Raises
    Invalid/Conflict; changes nothing."""
    if taker.id == shift.counsellor_id:
        raise Invalid(N_("Das ist bereits Ihr Dienst."), field="taker_id")
    check_takers(session, team, [(shift, taker)])
    away = session.scalar(
        select(Absence.id).where(
            Absence.counsellor_id == taker.id,
            Absence.start_at < shift.end_at,
            Absence.end_at > shift.start_at,
        )
    )
    if away is not None:
        raise Conflict(f"{taker.name} ist in dieser Zeit abwesend.", field="taker_id")


def may_take(session: Session, team: Team, shift: Shift, taker: Counsellor) -> bool:
    try:
        check_taker(session, team, shift, taker)
    except DomainError:
        return False
    return True


def eligible(session: Session, team: Team, shift: Shift) -> list[Counsellor]:
    """The colleagues who may take the shift now."""
    return [someone for someone in team.counsellors if may_take(session, team, shift, someone)]


def hand_over(session: Session, offer: ShiftOffer, taker: Counsellor, *, actor: str) -> None:
    """Reassign the shift in place to the taker, audited. The offer's own notices tell both
    people, so the generic change notice is not sent on top (`notices.changes.QUIET`)."""
    session.info[QUIET] = True
    shift = session.get(Shift, offer.shift_id) if offer.shift_id else None
    assert shift is not None  # stale_reason said it stands
    before = shift_snapshot(shift)
    shift.counsellor = taker
    session.flush()
    after = shift_snapshot(shift) | {"shift_offer_id": offer.id}
    audit.record(session, actor, "offer", "shift", shift.id, before=before, after=after)


def judge(
    session: Session,
    config: HotlineConfig,
    offer: ShiftOffer,
    taker: Counsellor,
    *,
    actor: str,
    now: datetime,
) -> str | None:
    """Before handing over: lock the rows, then either expire an offer that can no longer go
    ahead (its reason is returned) or check the taker (raises; changes nothing)."""
    lock_rows(session, offer, taker.id)
    reason = stale_reason(session, offer, now)
    if reason is not None:
        expire(session, config, offer, reason, actor=actor, now=now)
        return reason
    shift = session.get(Shift, offer.shift_id)
    assert shift is not None  # stale_reason said it stands
    check_taker(session, shift.team, shift, taker)
    return None


def take(
    session: Session,
    config: HotlineConfig,
    offer_id: int,
    taker_id: int,
    *,
    actor: str,
) -> Outcome:
    """An eligible colleague takes the shift. Handed over at once when the team needs no
    approval or the coordination made the offer; otherwise the coordinators are asked. An
    offer whose shift started or changed meanwhile expires instead (returned, not raised)."""
    now = utcnow()
    offer = load(session, offer_id)
    require_state(offer, (OfferState.OPEN,))
    team = session.get(Team, offer.team_id)
    assert team is not None  # a foreign key
    approval = needs_approval(config, team) and not offer.preapproved
    taker = person(session, taker_id, "taker_id")
    reason = judge(session, config, offer, taker, actor=actor, now=now)
    if reason is not None:
        return Outcome(offer, reason)
    giver = person(session, offer.giver_id, "giver_id")
    if approval:
        change(session, offer, OfferState.TAKEN, "take", taker_id=taker.id, actor=actor)
        tell(session, config, offer, "taken", [giver], now)
        tell(session, config, offer, "approval", coordinators(session, team.id), now)
        return Outcome(offer)
    hand_over(session, offer, taker, actor=actor)
    applied: dict[str, object] = {"applied": True}
    change(
        session, offer, OfferState.APPROVED, "take", taker_id=taker.id, actor=actor, extra=applied
    )
    tell(session, config, offer, "handed", [giver], now)
    tell(session, config, offer, "received", [taker], now)
    return Outcome(offer)
