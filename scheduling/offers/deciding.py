"""The coordinator's side: approving a taken offer (the shift is handed over, or the offer
expires) or declining the taker (the shift is on offer again), and how many offers of a team
wait for that decision. Who may decide is `foundation.access.may_decide_offer`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import access
from foundation.clock import utcnow
from foundation.errors import Invalid
from foundation.models import OfferState, ShiftOffer
from scheduling.offers.rows import change, load, require_state
from scheduling.offers.taking import Outcome, hand_over, judge
from scheduling.offers.telling import tell
from scheduling.swaps.rows import person


def _decider(session: Session, user_id: int, offer: ShiftOffer, verb: str) -> None:
    principal = access.load_user(session, user_id)
    if principal is None or not access.may_decide_offer(principal, offer.team_id):
        raise Invalid(f"Nur die Koordination dieses Teams kann Übernahmen {verb}.")


def _taker_id(offer: ShiftOffer) -> int:
    assert offer.taker_id is not None  # a taken offer names its taker
    return offer.taker_id


def approve(
    session: Session, config: HotlineConfig, offer_id: int, user_id: int, *, actor: str
) -> Outcome:
    """A coordinator of the team (or an admin) approves a taken offer: the shift is handed
    over, or the offer expires if the shift started or changed meanwhile (returned, not
    raised). A taker who meanwhile got an overlapping shift or an absence is refused
    (Conflict), and nothing changes."""
    now = utcnow()
    offer = load(session, offer_id)
    _decider(session, user_id, offer, "genehmigen")
    require_state(offer, (OfferState.TAKEN,))
    taker = person(session, _taker_id(offer), "taker_id")
    offer.decided_by_id = user_id
    reason = judge(session, config, offer, taker, actor=actor, now=now)
    if reason is not None:
        return Outcome(offer, reason)
    hand_over(session, offer, taker, actor=actor)
    change(session, offer, OfferState.APPROVED, "approve", taker_id=taker.id, actor=actor)
    tell(session, config, offer, "handed", [person(session, offer.giver_id, "giver_id")], now)
    tell(session, config, offer, "received", [taker], now)
    return Outcome(offer)


def decline(
    session: Session, config: HotlineConfig, offer_id: int, user_id: int, *, actor: str
) -> ShiftOffer:
    """A coordinator says no to the taker: the shift stays with its giver and is on offer
    again; both are told."""
    now = utcnow()
    offer = load(session, offer_id)
    _decider(session, user_id, offer, "ablehnen")
    require_state(offer, (OfferState.TAKEN,))
    taker = person(session, _taker_id(offer), "taker_id")
    giver = person(session, offer.giver_id, "giver_id")
    change(session, offer, OfferState.OPEN, "decline", taker_id=None, actor=actor)
    tell(session, config, offer, "declined", [taker, giver], now, taker=taker)
    return offer


def waiting_for_approval(session: Session, team_id: int) -> int:
    """How many taken offers of the team wait for a coordinator."""
    return (
        session.scalar(
            select(func.count())
            .select_from(ShiftOffer)
            .where(ShiftOffer.team_id == team_id, ShiftOffer.state == OfferState.TAKEN)
        )
        or 0
    )
