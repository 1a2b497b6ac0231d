"""Shift swaps of a team in "Tauschanfragen" (`/rota/{team}/swaps`): for the team's
coordinators and admins (`foundation.access.may_decide_swap`), the accepted swaps waiting for
approval (Genehmigen/Ablehnen), the open ones and the history. The counsellors' side is
`web.swap_pages`. The page also shows the team's open shifts (`web.offer_views`; their
actions are `web.team_offer_pages`).

The use cases (`scheduling.swaps.deciding`) decide; these handlers call one in one transaction
and redirect with a key of a message (`web.swap_messages`). A request of another team
is answered like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.errors import DomainError
from foundation.models import Role, SwapRequest
from foundation.teams import team_by_slug
from scheduling.swaps import deciding
from web import offer_views, swap_messages, swap_views
from web.auth import Forbidden, Hidden, Viewer, page
from web.pages import as_int, render


def _check_team(settings: Settings, viewer: Viewer, team: str) -> None:
    if team not in settings.config.teams or not access.may_decide_swap(viewer.principal, team):
        raise Forbidden


async def show_team(
    request: Request, viewer: Viewer, team: str, *, error: str | None = None, status: int = 200
) -> Response:
    settings: Settings = request.app.state.settings
    db = request.app.state.db
    data = await run_in_threadpool(lambda: swap_views.team(db, settings, team))
    data |= await run_in_threadpool(lambda: offer_views.team(db, settings, team))
    return render(
        request,
        "swaps.html",
        {
            "viewer": viewer,
            "mode": "team",
            "team": team,
            "done": swap_messages.message(dict(request.query_params))
            if request.method == "GET"
            else None,
            "error": error,
            **data,
        },
        status,
    )


@page(Role.ADMIN, Role.COORDINATOR)
async def team_swaps(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    _check_team(request.app.state.settings, viewer, team)
    return await show_team(request, viewer, team)


async def _decide(request: Request, viewer: Viewer, approving: bool) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team)
    swap_id = as_int(request.path_params.get("swap_id"))

    def save() -> str:
        with request.app.state.db.write() as session:
            swap = session.get(SwapRequest, swap_id)
            if swap is None or swap.team_id != team_by_slug(session, team, settings.config).id:
                raise Hidden
            if not approving:
                deciding.reject(
                    session, settings.config, swap_id, viewer.user_id, actor=viewer.actor
                )
                return "rejected"
            outcome = deciding.approve(
                session, settings.config, swap_id, viewer.user_id, actor=viewer.actor
            )
            return f"obsolete-{outcome.obsolete}" if outcome.obsolete else "approved"

    return await decide_and_return(request, viewer, team, save)


async def decide_and_return(
    request: Request, viewer: Viewer, team: str, save: Callable[[], str]
) -> Response:
    """Run `save` (one transaction) and go back to the team's page with the key of its
    message; a refusal shows the page again with the use case's message."""
    try:
        key = await run_in_threadpool(save)
    except DomainError as exc:
        return await show_team(
            request,
            viewer,
            team,
            error=swap_messages.refused(exc),
            status=swap_messages.status(exc),
        )
    return RedirectResponse(f"/rota/{team}/swaps?done={key}", status_code=303)


@page(Role.ADMIN, Role.COORDINATOR)
async def approve(request: Request, viewer: Viewer) -> Response:
    return await _decide(request, viewer, approving=True)


@page(Role.ADMIN, Role.COORDINATOR)
async def reject(request: Request, viewer: Viewer) -> Response:
    return await _decide(request, viewer, approving=False)


routes = [
    Route("/rota/{team}/swaps", team_swaps, methods=["GET"]),
    Route("/rota/{team}/swaps/{swap_id}/approve", approve, methods=["POST"]),
    Route("/rota/{team}/swaps/{swap_id}/reject", reject, methods=["POST"]),
]
