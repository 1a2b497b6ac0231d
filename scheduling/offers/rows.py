"""The offer row and what it names: loading and locking them, the offer's audited state
changes, and whether a shift is already on offer. Every use case starts here."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from foundation import audit
from foundation.errors import Conflict, NotFound
from foundation.i18n import N_
from foundation.models import AuditEntry, Counsellor, OfferState, ShiftOffer
from scheduling.offers.words import STATE_LABELS
from scheduling.swaps.rows import lock_shifts

LIVE = (OfferState.OPEN, OfferState.TAKEN)
ENTITY = "shift_offer"


def snapshot(offer: ShiftOffer) -> dict[str, object]:
    """The audited fields. The note is left out: it is free text."""
    return {
        "team_id": offer.team_id,
        "shift_id": offer.shift_id,
        "giver_id": offer.giver_id,
        "taker_id": offer.taker_id,
        "state": OfferState(offer.state).value,
        "preapproved": offer.preapproved,
        "decided_by_id": offer.decided_by_id,
    }


def load(session: Session, offer_id: int) -> ShiftOffer:
    """The offer, locked: two colleagues taking one offer serialise here, and the second
    finds it taken."""
    offer = session.get(ShiftOffer, offer_id, with_for_update=True)
    if offer is None:
        raise NotFound(N_("Dieses Dienstangebot gibt es nicht."))
    return offer


def lock_rows(session: Session, offer: ShiftOffer, taker_id: int) -> None:
    """Before handing a shift over: lock both people in id order (as `create_shift` and the
    swaps do, so a booking for the taker waits), then the shift, so that the checks judge the
    rows the hand-over changes."""
    for person_id in sorted({offer.giver_id, taker_id}):
        session.get(Counsellor, person_id, with_for_update=True)
    lock_shifts(session, offer.shift_id)


def on_offer(session: Session, shift_ids: Iterable[int]) -> int | None:
    """A live offer naming one of these shifts, if any."""
    ids = list(shift_ids)
    return session.scalar(
        select(ShiftOffer.id).where(ShiftOffer.state.in_(LIVE), ShiftOffer.shift_id.in_(ids))
    )


def require_state(offer: ShiftOffer, allowed: Iterable[OfferState]) -> None:
    if OfferState(offer.state) not in tuple(allowed):
        raise Conflict(f"Dieses Angebot ist bereits {STATE_LABELS[OfferState(offer.state)]}.")


def change(
    session: Session,
    offer: ShiftOffer,
    state: OfferState,
    action: str,
    *,
    taker_id: int | None,
    actor: str,
    extra: dict[str, object] | None = None,
) -> None:
    """Move the offer to `state` with `taker_id` (None: nobody has taken it), audited."""
    before = snapshot(offer)
    offer.state = state
    offer.taker_id = taker_id
    session.flush()
    after = snapshot(offer) | (extra or {})
    audit.record(session, actor, action, ENTITY, offer.id, before=before, after=after)


def step(session: Session, offer: ShiftOffer) -> int:
    """How many audited changes the offer has had: names the event in a notice's dedupe key,
    since an offer may be taken, declined and taken again."""
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.entity == ENTITY, AuditEntry.entity_id == offer.id)
        )
        or 0
    )
