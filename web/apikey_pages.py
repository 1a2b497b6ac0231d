"""The API keys page (admins only): every key with its scope, expiry and last use; create one
(its secret is shown once, on the answer to the form) and revoke one. The same use cases as
`hotline apikey` (`foundation.apikeys`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import apikeys
from foundation.db import Database
from foundation.errors import DomainError, NotFound
from foundation.models import ApiKey, Role
from web.auth import Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_int, render

# The form's messages by field, German marked for the catalogues and translated where shown
# with `message` (the use cases speak English for the CLI and the API).
MESSAGES = {
    "name": N_("Bitte geben Sie einen Namen an (höchstens %(count)s Zeichen)."),
    "teams": N_("Dieses Team gibt es nicht."),
    "expires_days": N_(
        "Bitte eine Laufzeit zwischen 1 und %(count)s Tagen angeben oder das Feld leer lassen."
    ),
}
LIMITS = {"name": apikeys.NAME_LENGTH, "expires_days": apikeys.MAX_EXPIRES_DAYS}
# A key's state as the page names it (and compares it: "widerrufen" has no revoke button).
STATES = (N_("widerrufen"), N_("abgelaufen"), N_("gültig"))


def message(field: str) -> str:
    """The message of `field` in the request's language, its limit filled in."""
    if field in LIMITS:
        return _(MESSAGES[field], count=LIMITS[field])
    return _(MESSAGES[field])


class _Form:
    def __init__(self, form: FormData) -> None:
        self.name = str(form.get("name", "")).strip()
        self.teams = [str(team) for team in form.getlist("teams")]
        self.read_only = "read_only" in form
        self.expires_days = str(form.get("expires_days", "")).strip()


def _rows(db: Database) -> list[dict[str, object]]:
    with db.read() as session:
        return [_row(key) for key in apikeys.list_keys(session)]


def _row(key: ApiKey) -> dict[str, object]:
    if key.revoked_at is not None:
        state = "widerrufen"
    elif not apikeys.is_live(key):
        state = "abgelaufen"
    else:
        state = "gültig"
    return {
        "id": key.id,
        "name": key.name,
        "teams": None if key.all_teams else [team.slug for team in key.teams],
        "read_only": key.read_only,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "state": state,
        "live": state == "gültig",
    }


def _page(
    request: Request,
    viewer: Viewer,
    *,
    form: _Form | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    keys = _rows(request.app.state.db)
    context = {"viewer": viewer, "keys": keys, "form": form, "errors": errors or {}}
    return render(request, "apikeys.html", {**context, "created": created}, status)


@page(Role.ADMIN)
async def api_keys(request: Request, viewer: Viewer) -> Response:
    return await run_in_threadpool(_page, request, viewer)


def _create(request: Request, viewer: Viewer, form: _Form) -> Response:
    settings: Settings = request.app.state.settings
    errors: dict[str, str] = {}
    days: int | None = None
    if form.expires_days:
        days = as_int(form.expires_days) if form.expires_days.isascii() else 0
        if not 1 <= days <= apikeys.MAX_EXPIRES_DAYS:
            errors["expires_days"] = message("expires_days")
    if any(team not in settings.config.teams for team in form.teams):
        errors["teams"] = message("teams")
    if not errors:
        try:
            with request.app.state.db.write() as session:
                key, plain = apikeys.create_api_key(
                    session,
                    form.name,
                    actor=viewer.actor,
                    teams=form.teams,
                    read_only=form.read_only,
                    expires_days=days,
                )
                created = (key.name, plain)
        except DomainError as exc:
            field = exc.field if exc.field in MESSAGES else "name"
            errors[exc.field or "name"] = message(field)
    if errors:
        return _page(request, viewer, form=form, errors=errors, status=422)
    return _page(request, viewer, created=created)


@page(Role.ADMIN)
async def create_api_key(request: Request, viewer: Viewer) -> Response:
    form = _Form(await request.form())
    response = await run_in_threadpool(_create, request, viewer, form)
    # The secret is on this page only: never cached, never kept by the browser's history.
    response.headers["Cache-Control"] = "no-store"
    return response


def _revoke(db: Database, viewer: Viewer, key_id: int) -> None:
    try:
        with db.write() as session:
            apikeys.revoke(session, key_id, actor=viewer.actor)
    except NotFound as exc:
        raise Hidden from exc


@page(Role.ADMIN)
async def revoke_api_key(request: Request, viewer: Viewer) -> Response:
    key_id = as_int(request.path_params["key_id"])
    await run_in_threadpool(_revoke, request.app.state.db, viewer, key_id)
    return RedirectResponse("/apikeys", status_code=303)


routes = [
    Route("/apikeys", api_keys, methods=["GET"]),
    Route("/apikeys", create_api_key, methods=["POST"]),
    Route("/apikeys/{key_id}/revoke", revoke_api_key, methods=["POST"]),
]
