"""The web pages: sign-in, the dashboard, the audit log. German text, Europe/Berlin times."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, outbox, second_factor, users
from foundation.clock import served, utcnow
from foundation.db import Database
from foundation.models import MAX_ID, AuditEntry, Role, TaskStatus, Voicemail
from hotline import conversations
from hotline.tasks.task_list import Task, open_callback_requests
from scheduling import shifts
from scheduling.offers import deciding as offer_deciding
from scheduling.shifts import OnCallNow
from scheduling.swaps import deciding
from web import auth, pending_sign_in
from web.auth import Viewer, page
from web.i18n import N_, _, lookup, ngettext

GAP_HORIZON = timedelta(days=28)
LOGIN_NOTICES = {"password": N_("Ihr Passwort ist gespeichert. Bitte melden Sie sich damit an.")}


def render(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        name,
        {"settings": settings, "config": settings.config, **context},
        status_code=status,
    )
    return response


def as_int(raw: object) -> int:
    """A whole number (e.g. a record id) from a path, query or form value; 0 when it is not
    one (only the digits 0-9: `isdigit` also takes '²' and '١'), or is larger than any id
    (`MAX_ID`: PostgreSQL could not even compare it)."""
    text = str(raw or "")
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return 0
    return int(text) if int(text) <= MAX_ID else 0


def as_day(raw: object) -> date | None:
    """A day from an ISO date (2026-11-26) in a path, query or form value; None when it is not
    one, or lies outside the days the service plans for (`foundation.clock.served`)."""
    try:
        day = date.fromisoformat(str(raw or ""))
    except ValueError:
        return None
    return day if served(day) else None


# --- sign-in ----------------------------------------------------------------------------------


def login_nonce(request: Request) -> tuple[str, bool]:
    """The nonce that forms before sign-in sign their CSRF token with (and whether it is new:
    then it must be set as the cookie `auth.LOGIN_COOKIE`)."""
    nonce = request.cookies.get(auth.LOGIN_COOKIE, "")
    if 20 <= len(nonce) <= 100:
        return nonce, False
    return secrets.token_urlsafe(24), True


def _login_page(
    request: Request, message: str | None = None, username: str = "", status: int = 200
) -> Response:
    settings: Settings = request.app.state.settings
    nonce, fresh = login_nonce(request)
    response = render(
        request,
        "login.html",
        {
            "csrf": auth.csrf_token(settings, "login", nonce),
            "message": message,
            "username": username,
            "next": auth.safe_next(request.query_params.get("next")),
            "notice": lookup(LOGIN_NOTICES, request.query_params.get("done", "")),
            "viewer": None,
            "relaxed": relaxed(settings),
        },
        status,
    )
    if fresh:
        response.set_cookie(auth.LOGIN_COOKIE, nonce, **auth.cookie_options(max_age=3600))
    return response


def throttled_message(exc: users.ThrottledError) -> str:
    """What a form says while wrong passwords or codes make it wait."""
    seconds = max(1, round(exc.wait.total_seconds()))
    return ngettext(
        "Zu viele Fehlversuche. Bitte warten Sie %(num)d Sekunde und versuchen Sie es dann erneut.",
        "Zu viele Fehlversuche. Bitte warten Sie %(num)d Sekunden "
        "und versuchen Sie es dann erneut.",
        seconds,
    )


def relaxed(settings: Settings) -> bool:
    """The configuration requires a second factor for some role, and it is not enforced
    (simulation mode): the sign-in page and "Mein Konto" say so."""
    return bool(settings.config.accounts.second_factor) and not second_factor.enforced(settings)


async def login_form(request: Request) -> Response:
    return _login_page(request)


async def login(request: Request) -> Response:
    db: Database = request.app.state.db
    form = await request.form()
    username = str(form.get("username", ""))[:100]
    password = str(form.get("password", ""))[: users.MAX_LENGTH + 1]
    if not pending_sign_in.form_ok(request, form):
        return _login_page(
            request,
            _("Das Formular ist abgelaufen. Bitte versuchen Sie es noch einmal."),
            username,
            403,
        )
    address = request.client.host if request.client else "unknown"

    def check() -> tuple[int, bool] | None:
        with db.write() as session:
            user = users.authenticate(session, username, password, address)
            return (user.id, second_factor.enrolled(session, user.id)) if user else None

    try:
        found = await run_in_threadpool(check)
    except users.ThrottledError as exc:
        return _login_page(request, throttled_message(exc), username, 429)
    if found is None:
        return _login_page(request, _("Benutzername oder Passwort ist falsch."), username, 400)
    user_id, enrolled = found
    target = auth.safe_next(str(form.get("next", "")) or None)
    if enrolled:
        return pending_sign_in.ask_for_code(request, user_id, target)
    return await auth.signed_in(db, user_id, target, request.headers.get("user-agent", ""))


@page(enrolling=True)
async def logout(request: Request, viewer: Viewer) -> Response:
    await run_in_threadpool(auth.end_session, request.app.state.db, viewer.session_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


# --- dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamPanel:
    slug: str
    name: str
    now: OnCallNow
    gaps: list[tuple[datetime, datetime]]
    voicemails: list[Voicemail]
    coordinates: bool
    swaps_waiting: int = 0  # accepted swaps waiting for a coordinator (coordinators only)
    offers_waiting: int = 0  # taken open shifts waiting for a coordinator (likewise)
    callbacks_open: int = 0  # callback requests not done yet
    callbacks: tuple[Task, ...] = ()  # the newest of them, without personal data
    conversations_open: int = 0  # open conversations of the text relay


def _dashboard_data(db: Database, settings: Settings, viewer: Viewer) -> dict[str, object]:
    now = utcnow()
    who = viewer.principal
    with db.read() as session:
        panels = []
        for slug in access.teams_seen(who, settings.config.teams):
            team_now = shifts.on_call(session, settings.config, slug, now)
            voicemails = list(
                session.scalars(
                    select(Voicemail)
                    .where(
                        Voicemail.team_id == team_now.team.id, Voicemail.status == TaskStatus.NEW
                    )
                    .order_by(Voicemail.created_at.desc())
                    .limit(20)
                )
            )
            callbacks_open, callbacks = open_callback_requests(session, team_now.team.id)
            panels.append(
                TeamPanel(
                    slug=slug,
                    name=team_now.team.name,
                    now=team_now,
                    gaps=shifts.gaps(session, settings.config, slug, now, now + GAP_HORIZON),
                    voicemails=voicemails,
                    coordinates=access.may_coordinate(who, slug),
                    swaps_waiting=deciding.waiting_for_approval(session, team_now.team.id)
                    if access.may_decide_swap(who, slug)
                    else 0,
                    offers_waiting=offer_deciding.waiting_for_approval(session, team_now.team.id)
                    if access.may_decide_offer(who, slug)
                    else 0,
                    callbacks_open=callbacks_open,
                    callbacks=tuple(callbacks),
                    conversations_open=conversations.open_count(session, team_now.team.id),
                )
            )
        messages = (
            outbox.recent(session, settings, limit=20)
            if settings.simulation and access.sees_outbox(who)
            else []
        )
    return {"panels": panels, "now": now, "messages": messages, "horizon_days": GAP_HORIZON.days}


@page()
async def dashboard(request: Request, viewer: Viewer) -> Response:
    data = await run_in_threadpool(
        _dashboard_data, request.app.state.db, request.app.state.settings, viewer
    )
    return render(request, "dashboard.html", {"viewer": viewer, **data})


# --- audit log --------------------------------------------------------------------------------


@page(Role.ADMIN)
async def audit_log(request: Request, viewer: Viewer) -> Response:
    def load() -> list[AuditEntry]:
        with request.app.state.db.read() as session:
            return list(
                session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200))
            )

    entries = await run_in_threadpool(load)
    return render(request, "audit.html", {"viewer": viewer, "entries": entries})


routes = [
    Route("/", dashboard, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/audit", audit_log, methods=["GET"]),
]
