"""Browser sessions, CSRF and role checks for the web pages.

* The session cookie `__Host-hotline` (Secure, HttpOnly, SameSite=Lax, Path=/) holds 256 random
  bits; the database keeps only their SHA-256, so a leaked table cannot be replayed. A new id is
  issued at every sign-in; sign-out deletes the row. Sessions end after IDLE without a request
  and at the latest ABSOLUTE after sign-in.
* Every form carries a CSRF token: an HMAC of the session id (before sign-in: of a random nonce
  in the `__Host-hotline-login` cookie). Every POST checks it.
* `page(*roles)` wraps an endpoint: no session → redirect to /login; wrong role → 403; an
  account that must enrol a second factor first → to its enrolment (`foundation.second_factor`;
  only the pages marked `enrolling` open before); a form with a control character or a
  bidirectional override (`foundation.text`: no one types them, PostgreSQL cannot store a NUL,
  the others make a text read otherwise than stored) → 422; only the multi-line fields
  (`MULTI_LINE_FIELDS`, the text areas) keep tab and line breaks. A
  handler raises `Forbidden` (403) for what the viewer sees but may not do, and `Hidden` (404,
  the answer of an unknown address) for a record of the URL that does not exist or that the
  viewer may not see: a refused id tells nothing about whether it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from config.settings import Settings
from foundation import access, crypto, second_factor, text
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Role, User, WebSession
from web import i18n
from web.i18n import N_, _

log = logging.getLogger(__name__)
COOKIE = "__Host-hotline"
LOGIN_COOKIE = "__Host-hotline-login"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
_DEVELOPMENT_SECRET = "konex-development-session-secret"  # noqa: S105 - development only


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user, as the pages need them. What they may see or change is asked of
    `foundation.access` with `principal`."""

    user_id: int
    username: str
    role: Role
    counsellor_id: int | None
    principal: Principal
    session_hash: str
    csrf: str
    must_enrol: bool = False  # the second factor is required and not yet enrolled
    locale: str = "de"  # the language of the pages (`foundation.users.LOCALES`)

    @property
    def actor(self) -> str:
        """How the audit log names this user's changes."""
        return self.principal.actor

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secret(settings: Settings) -> bytes:
    return (str(settings.secret_key) if settings.secret_key else _DEVELOPMENT_SECRET).encode()


def csrf_token(settings: Settings, purpose: str, value: str) -> str:
    return hmac.new(_secret(settings), f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def cookie_options(max_age: int | None = None) -> dict[str, Any]:
    return {
        "httponly": True,
        "secure": True,
        "samesite": "lax",
        "path": "/",
        "max_age": max_age,
    }


# --- sessions ---------------------------------------------------------------------------------


def start_session(db: Database, user_id: int, device: str = "") -> str:
    """A new session for the user; returns the cookie value (the only place it exists).
    `device`: the browser's User-Agent, to name the session on "Mein Konto"."""
    plain = secrets.token_urlsafe(32)
    shown = "".join(c for c in device if c.isprintable())[:200] or None
    with db.write() as session:
        session.add(WebSession(id_hash=_digest(plain), user_id=user_id, device=shown))
    return plain


async def signed_in(db: Database, user_id: int, target: str, device: str = "") -> Response:
    """The answer that completes a sign-in: a new session, on to `target`. `device`: the
    browser's User-Agent (see `start_session`)."""
    plain = await run_in_threadpool(start_session, db, user_id, device)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, plain, **cookie_options())
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    return response


def end_session(db: Database, session_hash: str) -> None:
    with db.write() as session:
        session.execute(delete(WebSession).where(WebSession.id_hash == session_hash))


def load_viewer(db: Database, settings: Settings, cookie: str | None) -> Viewer | None:
    if not cookie or len(cookie) > 100:
        return None
    key = _digest(cookie)
    now = utcnow()
    with db.read() as session:
        row = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.id_hash == key)
        ).first()
        if row is None:
            return None
        web_session, user = row
        expired = (
            not user.active
            or now - web_session.last_seen_at > IDLE
            or now - web_session.created_at > ABSOLUTE
        )
        viewer = Viewer(
            user_id=user.id,
            username=user.username,
            role=user.role,
            counsellor_id=user.counsellor_id,
            principal=access.for_user(session, user),
            session_hash=key,
            csrf=csrf_token(settings, "session", key),
            must_enrol=second_factor.must_enrol(
                settings, user, second_factor.enrolled(session, user.id)
            ),
            locale=user.locale,
        )
        stale = now - web_session.last_seen_at > TOUCH_EVERY
    if expired:
        end_session(db, key)
        return None
    if stale:
        with db.write() as session:
            stored = session.get(WebSession, key)
            if stored is not None:
                stored.last_seen_at = now
    return viewer


def sweep(db: Database, now: datetime | None = None) -> None:
    """Delete sessions that can no longer be used."""
    now = now or utcnow()
    with db.write() as session:
        session.execute(
            delete(WebSession).where(
                (WebSession.last_seen_at < now - IDLE) | (WebSession.created_at < now - ABSOLUTE)
            )
        )


# --- page decorator ---------------------------------------------------------------------------

PageHandler = Callable[[Request, Viewer], Awaitable[Response]]


NOT_FOUND = N_("Diese Seite gibt es nicht. Bitte prüfen Sie die Adresse.")
UNREADABLE = N_(
    "Das Formular enthält ein unzulässiges Steuerzeichen (oder ein Zeichen, das die "
    "Schreibrichtung umkehrt). Es wurde nichts gespeichert. "
    "Bitte gehen Sie zurück und geben Sie den Text noch einmal ein."
)
# The fields of the pages' forms that are text areas: tab and line breaks allowed there only.
MULTI_LINE_FIELDS = frozenset({"body", "message", "notes"})


class Forbidden(Exception):
    """The viewer may not do this (403)."""


class Hidden(Exception):
    """The record of the URL does not exist, or the viewer may not see it (the same 404)."""


ENROL = "/account/second-factor"
MUST_ENROL = N_(
    "Bitte richten Sie zuerst die Zwei-Faktor-Anmeldung ein: Sie ist für Ihr Konto vorgeschrieben."
)
NOT_ALLOWED = N_("Für diese Seite fehlt Ihnen die Berechtigung.")


def page(
    *roles: Role, enrolling: bool = False
) -> Callable[[PageHandler], Callable[[Request], Awaitable[Response]]]:
    """Require a session with one of `roles` (any role if none given) and, for POST, a valid
    CSRF token in the form field `csrf`. An account that must enrol a second factor opens only
    the pages marked `enrolling` (the enrolment, signing out)."""
    allowed = frozenset(roles) or frozenset(Role)

    def wrap(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = await answer(request)
            # Pages behind the sign-in show personal data: never kept by a browser's history
            # or a shared cache (the refusals too: they are the same page frame).
            response.headers["Cache-Control"] = "no-store"
            return response

        async def answer(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            viewer = await run_in_threadpool(
                load_viewer, request.app.state.db, settings, request.cookies.get(COOKIE)
            )
            if viewer is None:
                if request.method != "GET":
                    return forbidden(
                        request, _("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich an.")
                    )
                target = quote(
                    request.url.path + (f"?{request.url.query}" if request.url.query else "")
                )
                return RedirectResponse(f"/login?next={target}", status_code=303)
            i18n.use(request.app.state.catalogues.language(viewer.locale))
            if viewer.role not in allowed:
                return forbidden(request, _(NOT_ALLOWED), viewer)
            if viewer.must_enrol and not enrolling:
                if request.method == "GET":
                    return RedirectResponse(ENROL, status_code=303)
                return forbidden(request, _(MUST_ENROL), viewer)
            if request.method == "POST":
                form = await request.form()
                sent = str(form.get("csrf", ""))
                if not crypto.same(sent, viewer.csrf):
                    return forbidden(
                        request,
                        _("Das Formular ist abgelaufen. Bitte laden Sie die Seite neu."),
                        viewer,
                    )
                if any(
                    isinstance(value, str)
                    and text.refused(value, multi_line=name in MULTI_LINE_FIELDS)
                    for name, value in form.multi_items()
                ):
                    return unreadable(request, viewer)
            try:
                return await handler(request, viewer)
            except Forbidden:
                return forbidden(request, _(NOT_ALLOWED), viewer)
            except Hidden:
                return not_found(request, viewer)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def forbidden(request: Request, message: str, viewer: Viewer | None = None) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request, "error.html", {"message": message, "viewer": viewer}, status_code=403
    )
    return response


def unreadable(request: Request, viewer: Viewer) -> Response:
    """A form with a character no field takes (`foundation.text`): refused, nothing changed."""
    templates = request.app.state.templates
    context = {"title": _("Ungültige Eingabe"), "message": _(UNREADABLE), "viewer": viewer}
    response: Response = templates.TemplateResponse(request, "error.html", context, 422)
    return response


async def unknown_page(request: Request) -> Response:
    """The page of an unknown address, in the language of the account signed in (the
    browser's before sign-in, as `LanguageMiddleware` set it)."""
    try:
        viewer = await run_in_threadpool(
            load_viewer,
            request.app.state.db,
            request.app.state.settings,
            request.cookies.get(COOKIE),
        )
    except Exception as exc:  # the database down: still the page, in the browser's language
        log.warning("unknown page: no session read (%s)", type(exc).__name__)
        viewer = None
    if viewer is not None:
        i18n.use(request.app.state.catalogues.language(viewer.locale))
    return not_found(request)


def not_found(request: Request, viewer: Viewer | None = None) -> Response:
    """The page of an unknown address, the same for a record the viewer may not see."""
    templates = request.app.state.templates
    context = {"title": _("Seite nicht gefunden"), "message": _(NOT_FOUND), "viewer": viewer}
    response: Response = templates.TemplateResponse(request, "error.html", context, 404)
    return response


def safe_next(target: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
