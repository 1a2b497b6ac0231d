"""Whether a live offer can still go ahead, and closing it when it cannot: colleagues take
the shift as it was offered, before it begins. Checked when someone takes or approves it, and
every minute by the scheduler (`expire_job`), which tells the giver."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import OfferState, Shift, ShiftOffer
from scheduling.offers.rows import LIVE, change, load
from scheduling.offers.telling import tell
from scheduling.swaps.rows import person

ACTOR = "scheduler"


def stale_reason(session: Session, offer: ShiftOffer, now: datetime) -> str | None:
    """Why a live offer can no longer go ahead (a key of `words.EXPIRY_REASONS`), or None:
    its shift was deleted, changed after the offer was made (its `updated_at`; stand-ins and
    absences leave that alone), handed to someone else, or has begun."""
    shift = session.get(Shift, offer.shift_id) if offer.shift_id else None
    if shift is None:
        return "deleted"
    if shift.updated_at > offer.created_at or shift.counsellor_id != offer.giver_id:
        return "changed"
    if shift.start_at <= now:
        return "started"
    return None


def expire(
    session: Session,
    config: HotlineConfig,
    offer: ShiftOffer,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Close an offer that can no longer go ahead; the giver (and a taker) are told."""
    extra: dict[str, object] = {"reason": reason}
    change(
        session,
        offer,
        OfferState.EXPIRED,
        "expire",
        taker_id=offer.taker_id,
        actor=actor,
        extra=extra,
    )
    people = [person(session, offer.giver_id, "giver_id")]
    if offer.taker_id is not None:
        people.append(person(session, offer.taker_id, "taker_id"))
    tell(session, config, offer, "expired", people, now, reason=reason)


def expire_due(session: Session, config: HotlineConfig, now: datetime) -> int:
    """Close every live offer that can no longer go ahead; how many were closed. The query
    finds the candidates; each is locked and judged again (another process may have got there
    first)."""
    candidates = session.scalars(
        select(ShiftOffer.id)
        .outerjoin(Shift, Shift.id == ShiftOffer.shift_id)
        .where(
            ShiftOffer.state.in_(LIVE),
            or_(
                Shift.id.is_(None),
                Shift.start_at <= now,
                Shift.updated_at > ShiftOffer.created_at,
                Shift.counsellor_id != ShiftOffer.giver_id,
            ),
        )
        .order_by(ShiftOffer.id)
    ).all()
    closed = 0
    for offer_id in candidates:
        offer = load(session, offer_id)
        reason = stale_reason(session, offer, now) if offer.state in LIVE else None
        if reason is not None:
            expire(session, config, offer, reason, actor=ACTOR, now=now)
            closed += 1
    return closed


def expire_job(db: Database, settings: Settings) -> None:
    """The scheduler's job (every minute)."""
    with db.write() as session:
        expire_due(session, settings.config, utcnow())
