"""Shift swaps in the web pages.

* "Meine Dienste" (`/shifts/mine`): a counsellor's upcoming shifts in all teams, each with a
  form to ask a colleague for a swap; requests to them (Annehmen/Ablehnen); their own open
  requests (Zurückziehen); and the recent history.
* "Tauschanfragen" (`/rota/{team}/swaps`): for the team's coordinators and admins, the accepted
  swaps waiting for approval (Genehmigen/Ablehnen), the open ones and the history.

The use cases (`scheduling.swaps`) decide; these handlers only parse forms, call one use case
in one transaction and redirect (POST, redirect, GET) with a key of a German message. A refusal
renders the page again with the use case's German message and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, DomainError
from foundation.models import Counsellor, Role, Shift, SwapRequest, SwapState, Team, Tier
from foundation.teams import team_by_slug
from scheduling import shifts
from scheduling.swaps import answering, asking, deciding
from scheduling.swaps.applying import Outcome
from scheduling.swaps.obsolete import stale_reason
from scheduling.swaps.rows import OPEN
from scheduling.swaps.words import OBSOLETE_REASONS, STATE_LABELS, span_text
from web.auth import Forbidden, Hidden, Viewer, page
from web.pages import as_int, render

T = TypeVar("T")
HORIZON = timedelta(days=90)  # how far ahead "Meine Dienste" lists shifts
HISTORY = 20
TIER_NAMES = {Tier.PRIMARY: "Erreichbar", Tier.BACKUP: "Hintergrund"}
NO_RECORD = (
    "Ihrem Konto ist keine Beraterin und kein Berater zugeordnet; "
    "Dienste tauschen kann nur, wer selbst Dienste hat."
)
# What the page says after a successful action (the redirect carries only the key).
DONE = {
    "requested": "Ihre Tauschanfrage ist gestellt. Die angefragte Person wird benachrichtigt.",
    "withdrawn": "Die Tauschanfrage ist zurückgezogen.",
    "accepted": "Sie haben den Tausch angenommen. Die Koordination muss noch zustimmen.",
    "applied": "Sie haben den Tausch angenommen. Der Dienstplan ist geändert.",
    "declined": "Sie haben die Tauschanfrage abgelehnt.",
    "approved": "Der Tausch ist genehmigt und im Dienstplan eingetragen.",
    "rejected": "Der Tausch ist abgelehnt. Der Dienstplan bleibt unverändert.",
}
OBSOLETE = "Die Anfrage ist hinfällig und wurde geschlossen: {reason} Es wurde nichts getauscht."


# --- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    tier: str


@dataclass(frozen=True, slots=True)
class SwapView:
    """A swap request as the pages show it (plain data: the session is closed by then)."""

    id: int
    team: str
    team_name: str
    state: SwapState
    state_label: str
    requester: str
    colleague: str
    shift: Span | None
    return_shift: Span | None
    note: str
    created_at: datetime
    updated_at: datetime
    stale: str | None  # why an open request can no longer go ahead, in German


@dataclass(frozen=True, slots=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class MyShift:
    """One upcoming shift of the viewer, with what its swap form offers."""

    id: int
    team: str
    team_name: str
    span: Span
    pending: SwapView | None
    colleagues: list[Option]
    return_shifts: list[Option]


def _span(shift: Shift | None) -> Span | None:
    if shift is None:
        return None
    return Span(shift.start_at, shift.end_at, TIER_NAMES[shift.tier])


def _views(session: Session, rows: list[SwapRequest], now: datetime) -> list[SwapView]:
    names = {
        c.id: c.name
        for c in session.scalars(
            select(Counsellor).where(
                Counsellor.id.in_({r.requester_id for r in rows} | {r.colleague_id for r in rows})
            )
        )
    }
    views = []
    for row in rows:
        team = session.get(Team, row.team_id)
        state = SwapState(row.state)
        reason = stale_reason(session, row, now) if state in OPEN else None
        views.append(
            SwapView(
                id=row.id,
                team=team.slug if team else "",
                team_name=team.name if team else "",
                state=state,
                state_label=STATE_LABELS[state],
                requester=names.get(row.requester_id, "?"),
                colleague=names.get(row.colleague_id, "?"),
                shift=_span(session.get(Shift, row.shift_id) if row.shift_id else None),
                return_shift=_span(
                    session.get(Shift, row.return_shift_id) if row.return_shift_id else None
                ),
                note=row.note or "",
                created_at=row.created_at,
                updated_at=row.updated_at,
                stale=OBSOLETE_REASONS[reason] if reason else None,
            )
        )
    return views


def _in_open_requests(session: Session, team_id: int) -> set[int]:
    """Shifts of the team named in an open request (they cannot be offered in another)."""
    rows = session.execute(
        select(SwapRequest.shift_id, SwapRequest.return_shift_id).where(
            SwapRequest.team_id == team_id, SwapRequest.state.in_(OPEN)
        )
    )
    return {shift_id for pair in rows for shift_id in pair if shift_id is not None}


def _mine(db: Database, settings: Settings, counsellor_id: int) -> dict[str, Any]:
    now = utcnow()
    zone = settings.config.organisation.zone
    with db.read() as session:
        me = session.get(Counsellor, counsellor_id)
        if me is None:
            return {"me": None}
        own = shifts.list_shifts(session, start=now, end=now + HORIZON, counsellor_id=me.id)
        own = [s for s in own if s.team.slug in settings.config.teams]
        mentioned = list(
            session.scalars(
                select(SwapRequest)
                .where(or_(SwapRequest.requester_id == me.id, SwapRequest.colleague_id == me.id))
                .order_by(SwapRequest.id.desc())
                .limit(200)
            )
        )
        views = _views(session, mentioned, now)
        # A shift named in an open request, on either side, cannot be offered again.
        open_by_shift = {
            shift_id: view
            for row, view in zip(mentioned, views, strict=True)
            if view.state in OPEN
            for shift_id in (row.shift_id, row.return_shift_id)
            if shift_id is not None
        }
        colleagues: dict[int, list[Option]] = {}
        offers: dict[int, list[Option]] = {}
        for team in {s.team_id: s.team for s in own}.values():
            others = [c for c in team.counsellors if c.active and c.id != me.id]
            colleagues[team.id] = [Option(c.id, c.name) for c in others]
            theirs = shifts.list_shifts(session, start=now, end=now + HORIZON, team=team)
            taken = _in_open_requests(session, team.id)
            offers[team.id] = [
                Option(
                    s.id,
                    f"{s.counsellor.name}: {span_text(s.start_at, s.end_at, zone)} "
                    f"({TIER_NAMES[s.tier]})",
                )
                for s in theirs
                if s.counsellor_id != me.id and s.counsellor.active and s.id not in taken
            ]
        upcoming = [
            MyShift(
                id=s.id,
                team=s.team.slug,
                team_name=s.team.name,
                span=Span(s.start_at, s.end_at, TIER_NAMES[s.tier]),
                pending=open_by_shift.get(s.id),
                colleagues=colleagues[s.team_id],
                return_shifts=offers[s.team_id],
            )
            for s in own
        ]
        return {
            "me": me.name,
            "upcoming": upcoming,
            "incoming": [
                v
                for v, row in zip(views, mentioned, strict=True)
                if v.state is SwapState.REQUESTED and row.colleague_id == me.id
            ],
            "outgoing": [
                v
                for v, row in zip(views, mentioned, strict=True)
                if v.state in OPEN and row.requester_id == me.id
            ],
            "history": [v for v in views if v.state not in OPEN][:HISTORY],
            "horizon_days": HORIZON.days,
        }


def _team(db: Database, settings: Settings, slug: str) -> dict[str, Any]:
    now = utcnow()
    with db.read() as session:
        team = team_by_slug(session, slug, settings.config)
        rows = list(
            session.scalars(
                select(SwapRequest)
                .where(SwapRequest.team_id == team.id)
                .order_by(SwapRequest.id.desc())
                .limit(200)
            )
        )
        views = _views(session, rows, now)
        return {
            "team_name": team.name,
            "approval": settings.config.teams[slug].swap_approval,
            "waiting": [v for v in views if v.state is SwapState.ACCEPTED],
            "asked": [v for v in views if v.state is SwapState.REQUESTED],
            "history": [v for v in views if v.state not in OPEN][: HISTORY * 2],
        }


# --- helpers ------------------------------------------------------------------------------------


async def _in_thread(fn: Callable[[], T]) -> T:
    return await run_in_threadpool(fn)


def _status(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def _refused(exc: DomainError) -> str:
    return f"{exc.message} Es wurde nichts geändert."


def _message(query: dict[str, str]) -> str | None:
    """The German message for a `done` key of a redirect; unknown keys say nothing."""
    key = query.get("done", "")
    if key.startswith("obsolete-"):
        reason = OBSOLETE_REASONS.get(key.removeprefix("obsolete-"))
        return OBSOLETE.format(reason=reason) if reason else None
    return DONE.get(key)


def _outcome_key(outcome: Outcome) -> str:
    if outcome.obsolete:
        return f"obsolete-{outcome.obsolete}"
    return "applied" if outcome.swap.state == SwapState.APPROVED else "accepted"


# --- "Meine Dienste" ----------------------------------------------------------------------------


async def _show_mine(
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
        data = await _in_thread(lambda: _mine(request.app.state.db, settings, counsellor_id))
    return render(
        request,
        "swaps.html",
        {
            "viewer": viewer,
            "mode": "mine",
            "done": _message(dict(request.query_params)) if request.method == "GET" else None,
            "error": error,
            "form": form or {},
            **data,
        },
        status,
    )


@page()
async def mine(request: Request, viewer: Viewer) -> Response:
    return await _show_mine(request, viewer)


@page()
async def ask(request: Request, viewer: Viewer) -> Response:
    """Tausch anfragen: one of the viewer's shifts, to a colleague, maybe for one of theirs."""
    settings: Settings = request.app.state.settings
    if viewer.counsellor_id is None:
        return await _show_mine(request, viewer, error=NO_RECORD, status=422)
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
        await _in_thread(save)
    except DomainError as exc:
        values = {k: str(v) for k, v in form.items() if k != "csrf"}
        failed = {**values, "shift_id": new.shift_id, "field": exc.field, "message": exc.message}
        return await _show_mine(request, viewer, form=failed, status=_status(exc))
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

    try:
        key = await _in_thread(save)
        if key is None:
            return await _show_mine(request, viewer, error=NO_RECORD, status=422)
    except DomainError as exc:
        return await _show_mine(request, viewer, error=_refused(exc), status=_status(exc))
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


# --- "Tauschanfragen" of a team -----------------------------------------------------------------


def _check_team(settings: Settings, viewer: Viewer, team: str) -> None:
    if team not in settings.config.teams or not access.may_decide_swap(viewer.principal, team):
        raise Forbidden


async def _show_team(
    request: Request, viewer: Viewer, team: str, *, error: str | None = None, status: int = 200
) -> Response:
    settings: Settings = request.app.state.settings
    data = await _in_thread(lambda: _team(request.app.state.db, settings, team))
    return render(
        request,
        "swaps.html",
        {
            "viewer": viewer,
            "mode": "team",
            "team": team,
            "done": _message(dict(request.query_params)) if request.method == "GET" else None,
            "error": error,
            **data,
        },
        status,
    )


@page(Role.ADMIN, Role.COORDINATOR)
async def team_swaps(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    _check_team(request.app.state.settings, viewer, team)
    return await _show_team(request, viewer, team)


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

    try:
        key = await _in_thread(save)
    except DomainError as exc:
        return await _show_team(request, viewer, team, error=_refused(exc), status=_status(exc))
    return RedirectResponse(f"/rota/{team}/swaps?done={key}", status_code=303)


@page(Role.ADMIN, Role.COORDINATOR)
async def approve(request: Request, viewer: Viewer) -> Response:
    return await _decide(request, viewer, approving=True)


@page(Role.ADMIN, Role.COORDINATOR)
async def reject(request: Request, viewer: Viewer) -> Response:
    return await _decide(request, viewer, approving=False)


routes = [
    Route("/shifts/mine", mine, methods=["GET"]),
    Route("/shifts/mine/swaps", ask, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/withdraw", withdraw, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/accept", accept, methods=["POST"]),
    Route("/shifts/mine/swaps/{swap_id}/decline", decline, methods=["POST"]),
    Route("/rota/{team}/swaps", team_swaps, methods=["GET"]),
    Route("/rota/{team}/swaps/{swap_id}/approve", approve, methods=["POST"]),
    Route("/rota/{team}/swaps/{swap_id}/reject", reject, methods=["POST"]),
]
