"""Half a sign-in: the password was right, the second factor's code is still to come.

That state is no session (it opens no page): a short-lived cookie `__Host-hotline-pending`
holds `user id . expiry . HMAC`, the HMAC bound to the browser's sign-in nonce (the
`__Host-hotline-login` cookie, whose CSRF token the code's form carries too), so a copied
value is useless in another browser and after PENDING. The second step uses it up
(`foundation.once`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from config.settings import Settings
from foundation import crypto
from web import auth

COOKIE = "__Host-hotline-pending"
PENDING = timedelta(minutes=5)
CODE_PAGE = "/login/second-factor"


def _nonce(request: Request) -> str:
    return request.cookies.get(auth.LOGIN_COOKIE, "")


def form_ok(request: Request, form: Mapping[str, object]) -> bool:
    """The sign-in forms' CSRF check: the token of this browser's sign-in nonce."""
    settings: Settings = request.app.state.settings
    nonce = _nonce(request)
    expected = auth.csrf_token(settings, "login", nonce)
    return bool(nonce) and crypto.same(str(form.get("csrf", "")), expected)


def _mac(settings: Settings, user_id: int, expires: int, nonce: str) -> str:
    return auth.csrf_token(settings, "second-factor", f"{user_id}\x00{expires}\x00{nonce}")


def ask_for_code(request: Request, user_id: int, target: str) -> Response:
    """After the right password of an account with a second factor: on to the code's page."""
    settings: Settings = request.app.state.settings
    expires = int(time.time() + PENDING.total_seconds())
    token = f"{user_id}.{expires}.{_mac(settings, user_id, expires, _nonce(request))}"
    response = RedirectResponse(f"{CODE_PAGE}?next={quote(target)}", status_code=303)
    response.set_cookie(COOKIE, token, **auth.cookie_options(max_age=int(PENDING.total_seconds())))
    return response


def pending(request: Request) -> tuple[int, str] | None:
    """The account waiting for its code, and the cookie's value; None if there is none, or it
    expired, or it belongs to another browser."""
    settings: Settings = request.app.state.settings
    token = request.cookies.get(COOKIE, "")
    parts = token.split(".")
    if len(token) > 200 or len(parts) != 3 or not all(p.isascii() and p for p in parts):
        return None
    user, expires, mac = parts
    if not (user.isdigit() and expires.isdigit() and len(user) < 12 and len(expires) < 12):
        return None
    if int(expires) < time.time():
        return None
    if not crypto.same(mac, _mac(settings, int(user), int(expires), _nonce(request))):
        return None
    return int(user), token


def forget(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response
