"""Open shifts of a team in "Tauschanfragen" (`/rota/{team}/swaps`): its coordinators and
admins (`foundation.access.may_decide_offer`) offer any shift of the team (taking it then needs
no further approval), approve or decline a colleague who took one, and take an offer back. The
page itself is `web.team_swap_pages`; the counsellors' side, `web.offer_pages`.

A shift or an offer of another team is answered like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.errors import Invalid
from foundation.models import Role, Shift, ShiftOffer
from foundation.teams import team_by_slug
from scheduling.offers import deciding, offering
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_
from web.pages import as_int
from web.team_swap_pages import decide_and_return


async def _run(
    request: Request,
    viewer: Viewer,
    act: Callable[[Session, int], str],
    record: type[Shift] | type[ShiftOffer],
) -> Response:
    """Check the team, then run `act` on the record (a shift or an offer) the request names,
    if it belongs to the team."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    if team not in settings.config.teams or not access.may_decide_offer(viewer.principal, team):
        raise Forbidden
    form = await request.form()
    record_id = as_int(
        request.path_params.get("offer_id") if record is ShiftOffer else form.get("shift_id")
    )

    def save() -> str:
        if record is Shift and not record_id:  # the form named no shift
            raise Invalid(N_("Bitte wählen Sie einen Dienst."), field="shift_id")
        with request.app.state.db.write() as session:
            row = session.get(record, record_id)
            if row is None or row.team_id != team_by_slug(session, team, settings.config).id:
                raise Hidden
            return act(session, record_id)

    return await decide_and_return(request, viewer, team, save)


@page(Role.ADMIN, Role.COORDINATOR)
async def offer(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config
    note = str((await request.form()).get("note", ""))[: offering.NOTE_LENGTH]

    def act(session: Session, shift_id: int) -> str:
        offering.offer(session, config, shift_id, viewer.user_id, note=note, actor=viewer.actor)
        return "team-offered"

    return await _run(request, viewer, act, Shift)


@page(Role.ADMIN, Role.COORDINATOR)
async def approve(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, offer_id: int) -> str:
        outcome = deciding.approve(session, config, offer_id, viewer.user_id, actor=viewer.actor)
        return f"expired-{outcome.expired}" if outcome.expired else "offer-approved"

    return await _run(request, viewer, act, ShiftOffer)


@page(Role.ADMIN, Role.COORDINATOR)
async def decline(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, offer_id: int) -> str:
        deciding.decline(session, config, offer_id, viewer.user_id, actor=viewer.actor)
        return "offer-declined"

    return await _run(request, viewer, act, ShiftOffer)


@page(Role.ADMIN, Role.COORDINATOR)
async def withdraw(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, offer_id: int) -> str:
        offering.withdraw(session, config, offer_id, viewer.user_id, actor=viewer.actor)
        return "offer-withdrawn"

    return await _run(request, viewer, act, ShiftOffer)


routes = [
    Route("/rota/{team}/offers", offer, methods=["POST"]),
    Route("/rota/{team}/offers/{offer_id}/approve", approve, methods=["POST"]),
    Route("/rota/{team}/offers/{offer_id}/decline", decline, methods=["POST"]),
    Route("/rota/{team}/offers/{offer_id}/withdraw", withdraw, methods=["POST"]),
]
