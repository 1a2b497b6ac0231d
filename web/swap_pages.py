"""Shift swaps in "Meine Dienste" (`/shifts/mine`): a counsellor's upcoming shifts in all
teams, each with a form to ask a colleague for a swap; requests to them (Annehmen/Ablehnen);
their own open requests (Zurückziehen); and the recent history. What a team's coordinators
decide is `web.team_swap_pages`; what the pages show, `web.swap_views`. The page also shows
open shifts (`web.offer_views`; their actions are `web.offer_pages`).

The use cases (`scheduling.swaps`) decide; these handlers only parse forms, call one use case
in one transaction and redirect (POST, redirect, GET) with a key of a message
(`web.swap_messages`). A refusal renders the page again with the use case's message and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.errors import DomainError
from foundation.models import SwapRequest, SwapState
from scheduling.swaps import answering, asking
from scheduling.swaps.applying import Outcome
from web import offer_views, swap_messages, swap_views
from web.auth import Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_int, render

NO_RECORD = N_(
    "Ihrem Konto ist keine Beraterin und kein Berater zugeordnet; "
    "Dienste tauschen kann nur, wer selbst Dienste hat."
)


def _outcome_key(outcome: Outcome) -> str:
    if outcome.obsolete:
        return f"obsolete-{outcome.obsolete}"
    return "applied" if outcome.swap.state == SwapState.APPROVED else "accepted"


async def show_mine(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    data: dict[str, Any] = {"me": None}
    if viewer.counsellor_id is not None:
        counsellor_id = viewer.counsellor_id
        db = request.app.state.db
        data = await run_in_threadpool(lambda: swap_views.mine(db, settings, counsellor_id))
        data |= await run_in_threadpool(lambda: offer_views.mine(db, settings, counsellor_id))
    return render(
        request,
        "swaps.html",
        {
            "viewer": viewer,
            "mode": "mine",
            "done": swap_messages.message(dict(request.query_params))
            if request.method == "GET"
            else None,
            "error": error,
            "form": form or {},
            **data,
        },
        status,
    )


@page()
async def mine(request: Request, viewer: Viewer) -> Response:
    return await show_mine(request, viewer)


@page()
async def ask(request: Request, viewer: Viewer) -> Response:
    """Tausch anfragen: one of the viewer's shifts, to a colleague, maybe for one of theirs."""
    settings: Settings = request.app.state.settings
    if viewer.counsellor_id is None:
        return await show_mine(request, viewer, error=_(NO_RECORD), status=422)
    counsellor_id = viewer.counsellor_id
    form = await request.form()
    new = asking.NewSwap(
        shift_id=as_int(form.get("shift_id")),
        colleague_id=as_int(form.get("colleague_id")),
        return_shift_id=as_int(form.get("return_shift_id")) or None,
        note=str(form.get("note", ""))[: asking.NOTE_LENGTH],
    )

    def save() -> None:
        with request.app.state.db.write() as session:
            asking.request_swap(session, settings.config, counsellor_id, new, actor=viewer.actor)

    try:
        await run_in_threadpool(save)
    except DomainError as exc:
        values = {k: str(v) for k, v in form.items() if k != "csrf"}
        failed = {
            **values,
            "shift_id": new.shift_id,
            "field": exc.field,
            "message": _(exc.message),
        }
        return await show_mine(request, viewer, form=failed, status=swap_messages.status(exc))
    return RedirectResponse("/shifts/mine?done=requested", status_code=303)


async def _answer(
    request: Request, viewer: Viewer, act: Callable[[Session, int, int], str]
) -> Response:
    """Run one of the viewer's own answers to a request (withdraw, accept, decline). A
    request the viewer may not see is answered like a missing one, whoever asks."""
    swap_id = as_int(request.path_params.get("swap_id"))

    def save() -> str | None:
        with request.app.state.db.write() as session:
            swap = session.get(SwapRequest, swap_id)
            if swap is None or not access.may_see_swap(
                viewer.principal, swap.requester_id, swap.colleague_id, swap.team_id
            ):
                raise Hidden
            if viewer.counsellor_id is None:
                return None
            return act(session, swap_id, viewer.counsellor_id)

    return await act_and_return(request, viewer, save)


async def act_and_return(
    request: Request, viewer: Viewer, save: Callable[[], str | None]
) -> Response:
    """Run `save` (one transaction) and go back to "Meine Dienste" with the key of its
    message; None: the viewer has no counsellor record to act with. A refusal shows the page
    again with the use case's message."""
    try:
        key = await run_in_threadpool(save)
        if key is None:
            return await show_mine(request, viewer, error=_(NO_RECORD), status=422)
    except DomainError as exc:
        return await show_mine(
            request, viewer, error=swap_messages.refused(exc), status=swap_messages.status(exc)
        )
    return RedirectResponse(f"/shifts/mine?done={key}", status_code=303)


@page()
async def withdraw(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, swap_id: int, me: int) -> str:
        asking.withdraw(session, config, swap_id, me, actor=viewer.actor)
        return "withdrawn"

    return await _answer(request, viewer, act)


@page()
async def accept(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, swap_id: int, me: int) -> str:
        return _outcome_key(answering.accept(session, config, swap_id, me, actor=viewer.actor))

    return await _answer(request, viewer, act)


@page()
async def decline(request: Request, viewer: Viewer) -> Response:
    config = request.app.state.settings.config

    def act(session: Session, swap_id: int, me: int) -> str:
        answering.decline(session, config, swap_id, me, actor=viewer.actor)
        return "declined"

    return await _answer(request, viewer, act)


routes = [
    Route("/shifts/mine", mine, methods=["GET"]),
    Route("/shifts/mine/swaps", ask, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/withdraw", withdraw, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/accept", accept, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/decline", decline, methods=["POST"]),
]
