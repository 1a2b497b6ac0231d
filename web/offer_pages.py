"""Open shifts in "Meine Dienste" (`/shifts/mine`): offering one's own shift to the team
(Dem Team anbieten), taking the offer back, and taking a colleague's open shift (Übernehmen).
The page itself is `web.swap_pages`; a team's coordination acts in `web.team_offer_pages`.

The use cases (`scheduling.offers`) decide; these handlers parse the form, call one use case in
one transaction and redirect with a key of a message (`web.swap_messages`). An offer the
viewer may not see is answered like a missing one; a refusal shows the page again with the use
case's message and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.models import OfferState, ShiftOffer
from scheduling.offers import offering, taking
from web.auth import Hidden, Viewer, page
from web.pages import as_int
from web.swap_pages import act_and_return


def outcome_key(outcome: taking.Outcome) -> str:
    """The message key of a taking or an approval."""
    if outcome.expired:
        return f"expired-{outcome.expired}"
    return "offer-applied" if outcome.offer.state is OfferState.APPROVED else "offer-taken"


@page()
async def offer(request: Request, viewer: Viewer) -> Response:
    """Dem Team anbieten: one of the viewer's shifts, with an optional note."""
    settings: Settings = request.app.state.settings
    form = await request.form()
    shift_id = as_int(form.get("shift_id"))
    note = str(form.get("note", ""))[: offering.NOTE_LENGTH]

    def save() -> str:
        with request.app.state.db.write() as session:
            offering.offer(
                session, settings.config, shift_id, viewer.user_id, note=note, actor=viewer.actor
            )
        return "offered"

    return await act_and_return(request, viewer, save)


async def _act(
    request: Request, viewer: Viewer, act: Callable[[Session, int], str | None]
) -> Response:
    """Run one of the viewer's actions on an offer she may see (None: she has no counsellor
    record to act with)."""
    offer_id = as_int(request.path_params.get("offer_id"))

    def save() -> str | None:
        with request.app.state.db.write() as session:
            row = session.get(ShiftOffer, offer_id)
            if row is None or not access.may_see_offer(
                viewer.principal, row.giver_id, row.taker_id, row.team_id
            ):
                raise Hidden
            return act(session, offer_id)

    return await act_and_return(request, viewer, save)


@page()
async def withdraw(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, offer_id: int) -> str:
        offering.withdraw(session, config, offer_id, viewer.user_id, actor=viewer.actor)
        return "offer-withdrawn"

    return await _act(request, viewer, act)


@page()
async def take(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, offer_id: int) -> str | None:
        if viewer.counsellor_id is None:
            return None
        outcome = taking.take(session, config, offer_id, viewer.counsellor_id, actor=viewer.actor)
        return outcome_key(outcome)

    return await _act(request, viewer, act)


routes = [
    Route("/shifts/mine/offers", offer, methods=["POST"]),
    Route("/shifts/mine/offers/{offer_id}/withdraw", withdraw, methods=["POST"]),
    Route("/shifts/mine/offers/{offer_id}/take", take, methods=["POST"]),
]
