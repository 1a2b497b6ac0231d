"""Single sign-on pages: /login/sso sends the browser to the OpenID provider, which sends it
back to /login/sso/callback (the protocol is `web/oidc.py`, the account `foundation/sso.py`).

`state` is 256 random bits, kept in the signed cookie `__Host-hotline-sso` (Secure, HttpOnly,
SameSite=Lax, 10 minutes): only the browser that started a sign-in can finish it, and each
state is used once (`foundation.once`, so a replayed callback is refused by every process). The
nonce and the PKCE verifier are HMACs of the state with the secret key: never sent before the
token exchange, and nothing to store. The session is the password sign-in's (`web.auth`); the
local second factor is not asked: single sign-on relies on the provider's own.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import crypto, once, sso
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Invalid
from web import auth, oidc
from web.i18n import N_, _
from web.pages import render

COOKIE = "__Host-hotline-sso"
LIFETIME_SECONDS = 600
TITLE = N_("Anmeldung nicht möglich")
STALE = N_(
    "Diese Anmeldung ist abgelaufen oder wurde schon verwendet. Bitte melden Sie sich noch "
    "einmal an."
)
CANCELLED = N_("Die Anmeldung beim Anmeldedienst wurde abgebrochen. Es wurde niemand angemeldet.")


def _redirect_uri(settings: Settings) -> str:
    return settings.public_url + "/login/sso/callback"


def _derived(settings: Settings, purpose: str, state: str) -> str:
    return auth.csrf_token(settings, purpose, state)


def _seal(settings: Settings, state: str, target: str) -> str:
    body = json.dumps({"s": state, "n": target, "t": int(time.time())}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode()
    return f"{payload}.{auth.csrf_token(settings, 'sso-cookie', payload)}"


def _unseal(settings: Settings, cookie: str | None) -> tuple[str, str] | None:
    """(state, next) of a cookie this service signed less than LIFETIME_SECONDS ago."""
    if not cookie or len(cookie) > 2000 or "." not in cookie:
        return None
    payload, signature = cookie.rsplit(".", 1)
    if not crypto.same(signature, auth.csrf_token(settings, "sso-cookie", payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        state, target, issued = str(data["s"]), str(data["n"]), int(data["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= time.time() - issued <= LIFETIME_SECONDS:
        return None
    return state, target


def _refused(request: Request, message: str, status: int) -> Response:
    """The refusal's page; `message` (German) is translated here."""
    context: dict[str, object] = {"title": _(TITLE), "message": _(message), "viewer": None}
    response = render(request, "error.html", context, status)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


def _status(error: oidc.SsoError) -> int:
    """502 when the provider cannot be reached, 400 when what it said is refused."""
    return 502 if error.message == oidc.UNREACHABLE else 400


async def start(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    config = settings.config.sso
    if not config.enabled:
        return auth.not_found(request)
    try:
        metadata = await run_in_threadpool(oidc.discover, config)
    except oidc.SsoError as exc:
        return _refused(request, exc.message, _status(exc))
    state = secrets.token_urlsafe(32)
    url = oidc.authorization_url(
        config,
        metadata,
        _redirect_uri(settings),
        state=state,
        nonce=_derived(settings, "sso-nonce", state),
        verifier=_derived(settings, "sso-pkce", state),
    )
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    target = auth.safe_next(request.query_params.get("next"))
    response.set_cookie(
        COOKIE, _seal(settings, state, target), **auth.cookie_options(max_age=LIFETIME_SECONDS)
    )
    return response


async def callback(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    config = settings.config.sso
    if not config.enabled:
        return auth.not_found(request)
    sealed = _unseal(settings, request.cookies.get(COOKIE))
    query = request.query_params
    if sealed is None or not crypto.same(query.get("state", ""), sealed[0]):
        return _refused(request, STALE, 400)
    state, target = sealed
    if "error" in query:
        return _refused(request, CANCELLED, 400)
    # RFC 9207: a provider that names itself must be ours (no mix-up with another one).
    if "iss" in query and query["iss"] != config.issuer:
        return _refused(request, oidc.REFUSED, 400)

    def consume() -> bool:
        with db.write() as session:
            return once.use(session, "sso-state", state)

    if not await run_in_threadpool(consume):
        return _refused(request, STALE, 400)

    def verified() -> dict[str, object]:
        metadata = oidc.discover(config)
        secret = str(settings.sso_client_secret) if settings.sso_client_secret else None
        id_token = oidc.exchange(
            config,
            secret,
            metadata,
            _redirect_uri(settings),
            code=query.get("code", "")[:2000],
            verifier=_derived(settings, "sso-pkce", state),
        )
        return oidc.verify_id_token(
            id_token,
            oidc.keys(config, metadata),
            issuer=config.issuer,
            audience=config.client_id,
            nonce=_derived(settings, "sso-nonce", state),
            now=utcnow(),
        )

    try:
        claims = await run_in_threadpool(verified)
    except oidc.SsoError as exc:
        return _refused(request, exc.message, _status(exc))

    def account() -> int:
        with db.write() as session:
            return sso.sign_in(session, settings.config, claims).id

    try:
        user_id = await run_in_threadpool(account)
    except Invalid as exc:
        return _refused(request, exc.message, 403)
    device = request.headers.get("user-agent", "")
    plain = await run_in_threadpool(auth.start_session, db, user_id, device)
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(auth.COOKIE, plain, **auth.cookie_options())
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


routes = [
    Route("/login/sso", start, methods=["GET"]),
    Route("/login/sso/callback", callback, methods=["GET"]),
]
