"""The pages before sign-in that set a password: the invitation link (`/invite/{token}`),
"Passwort vergessen" (`/password/forgot`) and the reset link (`/password/reset/{token}`),
with the use cases of `foundation.accounts`.

Their forms carry a CSRF token signed over the sign-in's nonce cookie (as the sign-in does),
every answer is `Cache-Control: no-store` (the token is in the address), and the forgotten
password's answer is the same whether or not the account exists; its e-mail goes out after
the answer (in the background), so it takes no longer for an account that exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import accounts, crypto, users
from foundation.accounts import INVITE, RESET
from foundation.db import Database
from foundation.errors import Invalid
from foundation.outgoing import Outgoing, Provider, attempt
from web import auth
from web.i18n import N_, _
from web.pages import login_nonce, render

Endpoint = Callable[[Request], Awaitable[Response]]

SENT = N_(
    "Wenn es zu dieser Angabe ein aktives Konto mit E-Mail-Adresse gibt, ist jetzt eine E-Mail "
    "mit einem Link unterwegs. Der Link gilt 30 Minuten und nur einmal. Kommt keine E-Mail, "
    "wenden Sie sich bitte an die Administration."
)
THROTTLED = N_(
    "Von Ihrem Anschluss kamen zu viele Anfragen. Bitte versuchen Sie es in einer Stunde erneut."
)
EXPIRED_FORM = N_("Das Formular ist abgelaufen. Bitte laden Sie die Seite neu.")
MISMATCH = N_("Die beiden Passwörter stimmen nicht überein.")
TITLES = {INVITE: N_("Passwort festlegen"), RESET: N_("Neues Passwort festlegen")}
FORGOT = N_("Passwort vergessen")


def _answer(request: Request, context: dict[str, object], status: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    nonce, fresh = login_nonce(request)
    response = render(
        request,
        "password.html",
        {"csrf": auth.csrf_token(settings, "password", nonce), "viewer": None, **context},
        status,
    )
    if fresh:
        response.set_cookie(auth.LOGIN_COOKIE, nonce, **auth.cookie_options(max_age=3600))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _refusal(request: Request, form: dict[str, str]) -> str | None:
    """Why a POST is refused before anything is read: its CSRF token, or a control character."""
    settings: Settings = request.app.state.settings
    nonce = request.cookies.get(auth.LOGIN_COOKIE, "")
    expected = auth.csrf_token(settings, "password", nonce)
    if not nonce or not crypto.same(form.get("csrf", ""), expected):
        return _(EXPIRED_FORM)
    if any("\x00" in value for value in form.values()):
        return _(auth.UNREADABLE)
    return None


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v[: users.MAX_LENGTH + 1] for k, v in data.items() if isinstance(v, str)}


# --- a password through a link ------------------------------------------------------------------


def _set_password_page(purpose: str) -> tuple[Endpoint, Endpoint]:
    async def show(request: Request) -> Response:
        token = str(request.path_params["token"])
        db: Database = request.app.state.db

        def load() -> str | None:
            with db.read() as session:
                return accounts.link_account(session, token, purpose)

        username = await run_in_threadpool(load)
        if username is None:
            return _answer(request, {"mode": "bad", "message": _(accounts.BAD_LINK)}, 404)
        title = _(TITLES[purpose])
        return _answer(request, {"mode": purpose, "username": username, "title": title})

    async def save(request: Request) -> Response:
        token = str(request.path_params["token"])
        db: Database = request.app.state.db
        form = await _form(request)
        refused = await _refusal(request, form)
        if refused is not None:
            status = 403 if refused == _(EXPIRED_FORM) else 422
            return _answer(request, {"mode": "bad", "message": refused}, status)
        password = form.get("password", "")

        def load() -> str | None:
            with db.read() as session:
                return accounts.link_account(session, token, purpose)

        def store() -> None:
            with db.write() as session:
                accounts.set_password_by_link(session, token, purpose, password)

        username = await run_in_threadpool(load)
        if username is None:
            return _answer(request, {"mode": "bad", "message": _(accounts.BAD_LINK)}, 404)
        context = {"mode": purpose, "username": username, "title": _(TITLES[purpose])}
        if password != form.get("password_repeat", ""):
            return _answer(request, {**context, "error": _(MISMATCH)}, 422)
        try:
            await run_in_threadpool(store)
        except Invalid as exc:
            if exc.field == "token":
                return _answer(request, {"mode": "bad", "message": _(exc.message)}, 404)
            return _answer(request, {**context, "error": _(exc.message)}, 422)
        response = RedirectResponse("/login?done=password", status_code=303)
        response.headers["Cache-Control"] = "no-store"
        return response

    show.__name__, save.__name__ = f"{purpose}_form", f"{purpose}_save"
    return show, save


show_invite, save_invite = _set_password_page(INVITE)
show_reset, save_reset = _set_password_page(RESET)


# --- "Passwort vergessen" -----------------------------------------------------------------------


async def forgot_form(request: Request) -> Response:
    return _answer(request, {"mode": "forgot", "title": _(FORGOT)})


def _send(provider: Provider, message: Outgoing | None) -> None:
    if message is not None:
        attempt(provider, message, "password reset link")


async def forgot(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    form = await _form(request)
    context: dict[str, object] = {"mode": "forgot", "title": _(FORGOT)}
    refused = await _refusal(request, form)
    if refused is not None:
        return _answer(
            request, {**context, "error": refused}, 403 if refused == _(EXPIRED_FORM) else 422
        )
    login = form.get("login", "")[: accounts.EMAIL_LENGTH + 1]
    address = request.client.host if request.client else "unknown"

    def ask() -> Outgoing | None:
        with db.write() as session:
            link = accounts.request_reset(session, login, address)
        return accounts.reset_mail(settings, link) if link is not None else None

    try:
        message = await run_in_threadpool(ask)
    except users.ThrottledError:
        return _answer(request, {**context, "error": _(THROTTLED)}, 429)
    response = _answer(request, {**context, "sent": _(SENT)})
    response.background = BackgroundTask(_send, request.app.state.provider, message)
    return response


routes = [
    Route("/invite/{token}", show_invite, methods=["GET"]),
    Route("/invite/{token}", save_invite, methods=["POST"]),
    Route("/password/forgot", forgot_form, methods=["GET"]),
    Route("/password/forgot", forgot, methods=["POST"]),
    Route("/password/reset/{token}", show_reset, methods=["GET"]),
    Route("/password/reset/{token}", save_reset, methods=["POST"]),
]
