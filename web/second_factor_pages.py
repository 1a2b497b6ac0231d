"""The second factor's pages (`foundation.second_factor`): the code after the password
(`/login/second-factor`), the enrolment on "Mein Konto" (`/account/second-factor`: a QR code
made here as an SVG data URI, the secret for typing in, the first code; then the ten recovery
codes, shown once), new recovery codes, switching it off, and an admin's reset of a lost one
(`/accounts/{user_id}/second-factor/reset`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import segno
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import once, second_factor, users
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import Role, User
from web import auth, pending_sign_in
from web.auth import Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_int, relaxed, render, throttled_message

T = TypeVar("T")
EXPIRED = N_("Die Anmeldung ist abgelaufen. Bitte melden Sie sich noch einmal an.")


def _code(form: FormData) -> str:
    return str(form.get("code", ""))[: second_factor.MAX_INPUT]


# --- the sign-in's second step -------------------------------------------------------------------


def _code_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    nonce = request.cookies.get(auth.LOGIN_COOKIE, "")
    context: dict[str, object] = {
        "csrf": auth.csrf_token(settings, "login", nonce),
        "next": auth.safe_next(request.query_params.get("next")),
        "message": message,
        "viewer": None,
    }
    return render(request, "login_code.html", context, status)


async def code_form(request: Request) -> Response:
    if pending_sign_in.pending(request) is None:
        return pending_sign_in.forget(RedirectResponse("/login", status_code=303))
    return _code_page(request)


async def code(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    form = await request.form()
    found = pending_sign_in.pending(request)
    if found is None or not pending_sign_in.form_ok(request, form):
        return pending_sign_in.forget(_code_page(request, _(EXPIRED), 403))
    user_id, token = found
    given = _code(form)

    def check() -> bool:
        with db.write() as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                return False
            right = second_factor.check(session, settings, user_id, given)
            return right and once.use(session, "second-factor-sign-in", token)

    try:
        right = await run_in_threadpool(check)
    except users.ThrottledError as exc:
        return _code_page(request, throttled_message(exc), 429)
    if not right:
        return _code_page(request, _(second_factor.WRONG), 400)
    target = auth.safe_next(str(form.get("next", "")) or None)
    device = request.headers.get("user-agent", "")
    return pending_sign_in.forget(await auth.signed_in(db, user_id, target, device))


# --- enrolment and "Mein Konto" ---------------------------------------------------------------


def _qr(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=4))


def _enrol_page(
    request: Request,
    viewer: Viewer,
    *,
    codes: list[str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    with request.app.state.db.read() as session:
        state = second_factor.status(session, viewer.user_id)
        waiting = None if codes else second_factor.waiting(session, settings, viewer.user_id)
    context: dict[str, object] = {
        "viewer": viewer,
        "status": state,
        "waiting": waiting,
        "qr": _qr(waiting.uri) if waiting else None,
        "codes": codes,
        "error": error,
        "required": second_factor.required(settings, viewer.role),
        "enforced": second_factor.enforced(settings),
        "relaxed": relaxed(settings),
    }
    return render(request, "second_factor.html", context, status)


@page(enrolling=True)
async def enrol_page(request: Request, viewer: Viewer) -> Response:
    return await run_in_threadpool(_enrol_page, request, viewer)


async def _run(request: Request, viewer: Viewer, work: Callable[[], T]) -> T | Response:
    """The use case's result, or the enrolment page with what it refused."""
    try:
        return await run_in_threadpool(work)
    except users.ThrottledError as exc:
        error, status = throttled_message(exc), 429
    except Invalid as exc:
        error, status = _(str(exc)), 422
    except Conflict as exc:
        error, status = _(str(exc)), 409
    return await run_in_threadpool(_enrol_page, request, viewer, error=error, status=status)


@page(enrolling=True)
async def start(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def save() -> None:
        with request.app.state.db.write() as session:
            second_factor.start(session, settings, viewer.user_id, actor=viewer.actor)

    refused = await _run(request, viewer, save)
    return refused or RedirectResponse(auth.ENROL, status_code=303)


async def _show_codes(request: Request, viewer: Viewer, made: list[str] | Response) -> Response:
    if isinstance(made, Response):
        return made
    return await run_in_threadpool(_enrol_page, request, viewer, codes=made)


@page(enrolling=True)
async def confirm(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    given = _code(await request.form())

    def save() -> list[str]:
        with request.app.state.db.write() as session:
            return second_factor.confirm(
                session, settings, viewer.user_id, given, actor=viewer.actor
            )

    return await _show_codes(request, viewer, await _run(request, viewer, save))


@page()
async def recovery_codes(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    given = _code(await request.form())

    def save() -> list[str]:
        with request.app.state.db.write() as session:
            codes = second_factor.replace_recovery_codes(
                session, settings, viewer.user_id, given, actor=viewer.actor
            )
        if codes is None:  # after the commit: the wrong code stays counted
            raise Invalid(second_factor.WRONG, field="code")
        return codes

    return await _show_codes(request, viewer, await _run(request, viewer, save))


@page()
async def disable(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    given = _code(await request.form())

    def save() -> None:
        with request.app.state.db.write() as session:
            user = session.get(User, viewer.user_id)
            if user is None:
                raise Conflict(N_("Dieses Konto gibt es nicht mehr."))
            right = second_factor.disable(session, settings, user, given, actor=viewer.actor)
        if not right:  # after the commit: the wrong code stays counted
            raise Invalid(second_factor.WRONG, field="code")

    refused = await _run(request, viewer, save)
    return refused or RedirectResponse("/account?notice=second_factor_disabled", status_code=303)


# --- an admin's reset -------------------------------------------------------------------------


@page(Role.ADMIN)
async def reset(request: Request, viewer: Viewer) -> Response:
    user_id = as_int(request.path_params["user_id"])
    form = await request.form()

    def save() -> None:
        with request.app.state.db.write() as session:
            second_factor.reset(session, user_id, actor=viewer.actor)

    try:
        await run_in_threadpool(save)
    except NotFound as exc:
        raise Hidden from exc
    except Conflict as exc:
        context = {"title": _("Nichts zurückzusetzen"), "message": _(str(exc)), "viewer": viewer}
        return render(request, "error.html", context, 409)
    target = auth.safe_next(str(form.get("next", "")) or f"/accounts/{user_id}")
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}notice=second_factor_reset", status_code=303)


routes = [
    Route(pending_sign_in.CODE_PAGE, code_form, methods=["GET"]),
    Route(pending_sign_in.CODE_PAGE, code, methods=["POST"]),
    Route(auth.ENROL, enrol_page, methods=["GET"]),
    Route(auth.ENROL, start, methods=["POST"]),
    Route(f"{auth.ENROL}/confirm", confirm, methods=["POST"]),
    Route(f"{auth.ENROL}/recovery-codes", recovery_codes, methods=["POST"]),
    Route(f"{auth.ENROL}/disable", disable, methods=["POST"]),
    Route("/accounts/{user_id}/second-factor/reset", reset, methods=["POST"]),
]
