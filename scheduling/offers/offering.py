"""The giver's side: offering a shift to its team (its holder, or the coordination for any
shift of the team), and taking the offer back."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import access, audit
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import OfferState, Shift, ShiftOffer, SwapRequest
from scheduling.offers.rows import ENTITY, LIVE, change, load, on_offer, require_state, snapshot
from scheduling.offers.taking import eligible
from scheduling.offers.telling import tell
from scheduling.swaps import rows as swap_rows
from scheduling.swaps.rows import lock_shifts, needs_approval, person

NOTE_LENGTH = 500


def _in_open_swap(session: Session, shift_id: int) -> bool:
    found = session.scalar(
        select(SwapRequest.id).where(
            SwapRequest.state.in_(swap_rows.OPEN),
            or_(SwapRequest.shift_id == shift_id, SwapRequest.return_shift_id == shift_id),
        )
    )
    return found is not None


def offer(
    session: Session,
    config: HotlineConfig,
    shift_id: int,
    user_id: int,
    *,
    note: str = "",
    actor: str,
) -> ShiftOffer:
    """Offer a shift that has not begun to its team: the holder her own, the coordination
    any (then taking it needs no further approval). The eligible colleagues are told, and the
    holder when the coordination offered her shift."""
    now = utcnow()
    principal = access.load_user(session, user_id)
    lock_shifts(session, shift_id)
    shift = session.get(Shift, shift_id)
    if shift is None:
        raise NotFound(N_("Diesen Dienst gibt es nicht (mehr)."), field="shift_id")
    if principal is None or not access.may_offer_shift(
        principal, shift.counsellor_id, shift.team_id
    ):
        raise Invalid(N_("Sie können nur eigene Dienste anbieten."), field="shift_id")
    if shift.start_at <= now:
        raise Invalid(N_("Dieser Dienst hat bereits begonnen."), field="shift_id")
    team = shift.team
    needs_approval(config, team)  # refuses a team no longer configured
    if on_offer(session, [shift.id]) is not None:
        raise Conflict(N_("Dieser Dienst ist bereits angeboten."), field="shift_id")
    if _in_open_swap(session, shift.id):
        raise Conflict(N_("Für diesen Dienst gibt es eine offene Tauschanfrage."), field="shift_id")
    row = ShiftOffer(
        team_id=team.id,
        shift_id=shift.id,
        giver_id=shift.counsellor_id,
        state=OfferState.OPEN,
        preapproved=access.may_decide_offer(principal, team.id),
        note=note.strip()[:NOTE_LENGTH] or None,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "offer", ENTITY, row.id, after=snapshot(row))
    tell(session, config, row, "offered", eligible(session, team, shift), now)
    if principal.counsellor_id != shift.counsellor_id:
        tell(session, config, row, "offered_yours", [shift.counsellor], now)
    return row


def withdraw(
    session: Session, config: HotlineConfig, offer_id: int, user_id: int, *, actor: str
) -> ShiftOffer:
    """The giver or the coordination takes a live offer back (also after someone took it and
    before it was approved); a taker is told, and the giver when it was not she."""
    now = utcnow()
    row = load(session, offer_id)
    principal = access.load_user(session, user_id)
    if principal is None or not access.may_offer_shift(principal, row.giver_id, row.team_id):
        raise Invalid(
            N_("Nur wer den Dienst abgibt oder die Koordination kann das Angebot zurückziehen.")
        )
    require_state(row, LIVE)
    change(session, row, OfferState.WITHDRAWN, "withdraw", taker_id=row.taker_id, actor=actor)
    people = [person(session, row.taker_id, "taker_id")] if row.taker_id else []
    if principal.counsellor_id != row.giver_id:
        people.append(person(session, row.giver_id, "giver_id"))
    tell(session, config, row, "withdrawn", people, now)
    return row
