"""The accounts pages (admins only, `access.may_manage_accounts`): every account with its role,
teams and state; invite a new one (its one-time link goes out by e-mail and is shown once, on
the answer to the form); change an account's role, teams, linked counsellor and e-mail address;
deactivate and reactivate it, end all its sessions, send a new invitation. The use cases are
`foundation.accounts`; the last active admin stays an active admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, accounts, second_factor
from foundation.db import Database
from foundation.errors import DomainError, NotFound
from foundation.models import Counsellor, Role, User
from foundation.outgoing import Result, attempt
from web import labels
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _, lookup
from web.pages import as_int, render

Endpoint = Callable[[Request], Awaitable[Response]]

MESSAGES = {
    "username": N_("Benutzername: 1 bis 100 Zeichen ohne Leer- und Steuerzeichen."),
    "role": N_("Bitte eine Rolle wählen."),
    "teams": N_("Dieses Team gibt es nicht."),
    "counsellor": N_("Diese Beraterin oder diesen Berater gibt es nicht."),
    "email": N_("Bitte eine gültige E-Mail-Adresse angeben (oder das Feld leer lassen)."),
}
NOTICES = {
    "changed": N_("Die Änderungen sind gespeichert."),
    "deactivated": N_("Das Konto ist deaktiviert; seine Anmeldungen sind beendet."),
    "reactivated": N_("Das Konto ist wieder aktiv."),
    "sessions_ended": N_("Alle Anmeldungen des Kontos sind beendet."),
    "second_factor_reset": N_(
        "Die Zwei-Faktor-Anmeldung des Kontos ist zurückgesetzt; es richtet "
        "sie bei der nächsten Anmeldung neu ein."
    ),
}


@dataclass(frozen=True, slots=True)
class _Form:
    username: str
    role: Role | None
    teams: list[str]
    counsellor_id: int | None
    email: str

    @classmethod
    def read(cls, form: FormData) -> _Form:
        raw_role = str(form.get("role", ""))
        raw_counsellor = str(form.get("counsellor_id", "")).strip()
        return cls(
            username=str(form.get("username", "")).strip()[:200],
            role=Role(raw_role) if raw_role in set(Role) else None,
            teams=[str(team)[:100] for team in form.getlist("teams")],
            counsellor_id=(as_int(raw_counsellor) or -1) if raw_counsellor else None,
            email=str(form.get("email", "")).strip()[:400],
        )


def _allowed(viewer: Viewer) -> None:
    if not access.may_manage_accounts(viewer.principal):
        raise Forbidden


def _row(session: Session, user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "role": labels.role(user.role),
        "role_value": user.role.value,
        "teams": [team.slug for team in user.teams],
        "counsellor_id": user.counsellor_id,
        "email": user.email or "",
        "active": user.active,
        "last_login_at": user.last_login_at,
        "invited": accounts.pending_invitation(session, user.id),
    }


def _counsellors(db: Database) -> list[tuple[int, str]]:
    with db.read() as session:
        return [
            (c.id, c.name) for c in session.scalars(select(Counsellor).order_by(Counsellor.name))
        ]


def _list(
    request: Request,
    viewer: Viewer,
    *,
    form: _Form | None = None,
    errors: dict[str, str] | None = None,
    created: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    with db.read() as session:
        rows = [_row(session, user) for user in accounts.list_accounts(session)]
    context = {
        "viewer": viewer,
        "accounts": rows,
        "form": form,
        "errors": errors or {},
        "created": created,
        "roles": labels.roles(),
        "counsellors": _counsellors(db),
    }
    return render(request, "accounts.html", context, status)


@page(Role.ADMIN)
async def account_list(request: Request, viewer: Viewer) -> Response:
    _allowed(viewer)
    return await run_in_threadpool(_list, request, viewer)


def _mail_link(request: Request, link: accounts.Link) -> dict[str, object]:
    """E-mail the invitation (after its transaction committed); what the admin is shown."""
    settings: Settings = request.app.state.settings
    message = accounts.invitation_mail(settings, link)
    mailed = None
    if message is not None:
        mailed = attempt(request.app.state.provider, message, "invitation").result is Result.SENT
    return {
        "username": link.username,
        "url": accounts.link_url(settings, accounts.INVITE, link.token),
        "expires_at": link.expires_at,
        "mailed": mailed,  # None: no address to mail it to
    }


def _errors(exc: DomainError) -> dict[str, str]:
    field = exc.field if exc.field in MESSAGES else "username"
    own = exc.field in ("username", "password")  # the use case's words
    message = _(exc.message) if own else _(MESSAGES[field])
    return {field: message}


def _create(request: Request, viewer: Viewer, form: _Form) -> Response:
    settings: Settings = request.app.state.settings
    if form.role is None:
        errors = {"role": _(MESSAGES["role"])}
        return _list(request, viewer, form=form, errors=errors, status=422)
    new = accounts.NewAccount(
        form.username, form.role, form.teams, form.counsellor_id, form.email or None
    )
    try:
        with request.app.state.db.write() as session:
            link = accounts.invite(session, settings.config, new, actor=viewer.actor)
    except DomainError as exc:
        return _list(request, viewer, form=form, errors=_errors(exc), status=422)
    return _list(request, viewer, created=_mail_link(request, link))


@page(Role.ADMIN)
async def create_account(request: Request, viewer: Viewer) -> Response:
    _allowed(viewer)
    form = _Form.read(await request.form())
    return await run_in_threadpool(_create, request, viewer, form)


# --- one account --------------------------------------------------------------------------------


def _detail(
    request: Request,
    viewer: Viewer,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    created: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    try:
        with db.read() as session:
            user = accounts.account(session, user_id)
            row = _row(session, user)
            row["sessions"] = len(accounts.sessions_of(session, user.id))
            row["second_factor"] = second_factor.enrolled(session, user.id)
            row["sso"] = user.sso_subject is not None
    except NotFound as exc:
        raise Hidden from exc
    context = {
        "viewer": viewer,
        "account": row,
        "errors": errors or {},
        "created": created,
        "roles": labels.roles(),
        "counsellors": _counsellors(db),
        "notice": lookup(NOTICES, request.query_params.get("notice")),
        "own": user_id == viewer.user_id,
    }
    return render(request, "account_detail.html", context, status)


@page(Role.ADMIN)
async def account_detail(request: Request, viewer: Viewer) -> Response:
    _allowed(viewer)
    user_id = as_int(request.path_params["user_id"])
    return await run_in_threadpool(_detail, request, viewer, user_id)


def _change(request: Request, viewer: Viewer, user_id: int, form: _Form) -> Response:
    settings: Settings = request.app.state.settings
    if form.role is None:
        _exists(request.app.state.db, user_id)
        errors = {"role": _(MESSAGES["role"])}
        return _detail(request, viewer, user_id, errors=errors, status=422)
    change = accounts.AccountChange(form.role, form.teams, form.counsellor_id, form.email or None)
    try:
        with request.app.state.db.write() as session:
            accounts.change(session, settings.config, user_id, change, actor=viewer.actor)
    except NotFound as exc:
        raise Hidden from exc
    except DomainError as exc:
        field = exc.field or "role"
        message = _(exc.message) if field == "role" else _(MESSAGES.get(field, exc.message))
        return _detail(
            request,
            viewer,
            user_id,
            errors={field: message},
            status=409 if field == "role" else 422,
        )
    return RedirectResponse(f"/accounts/{user_id}?notice=changed", status_code=303)


def _exists(db: Database, user_id: int) -> None:
    try:
        with db.read() as session:
            accounts.account(session, user_id)
    except NotFound as exc:
        raise Hidden from exc


@page(Role.ADMIN)
async def change_account(request: Request, viewer: Viewer) -> Response:
    _allowed(viewer)
    user_id = as_int(request.path_params["user_id"])
    form = _Form.read(await request.form())
    return await run_in_threadpool(_change, request, viewer, user_id, form)


def _act(request: Request, viewer: Viewer, user_id: int, action: str) -> Response:
    link: accounts.Link | None = None
    try:
        with request.app.state.db.write() as session:
            if action in ("deactivated", "reactivated"):
                active = action == "reactivated"
                accounts.set_active(session, user_id, active, actor=viewer.actor)
            elif action == "sessions_ended":
                accounts.end_sessions(session, user_id, actor=viewer.actor)
            else:
                link = accounts.reinvite(session, user_id, actor=viewer.actor)
    except NotFound as exc:
        raise Hidden from exc
    except DomainError as exc:
        return _detail(request, viewer, user_id, errors={"active": _(exc.message)}, status=409)
    if link is not None:
        return _detail(request, viewer, user_id, created=_mail_link(request, link))
    return RedirectResponse(f"/accounts/{user_id}?notice={action}", status_code=303)


def _action(action: str) -> Endpoint:
    @page(Role.ADMIN)
    async def endpoint(request: Request, viewer: Viewer) -> Response:
        _allowed(viewer)
        user_id = as_int(request.path_params["user_id"])
        return await run_in_threadpool(_act, request, viewer, user_id, action)

    endpoint.__name__ = f"account_{action}"
    return endpoint


routes = [
    Route("/accounts", account_list, methods=["GET"]),
    Route("/accounts/new", create_account, methods=["POST"]),
    Route("/accounts/{user_id}", account_detail, methods=["GET"]),
    Route("/accounts/{user_id}", change_account, methods=["POST"]),
    Route("/accounts/{user_id}/deactivate", _action("deactivated"), methods=["POST"]),
    Route("/accounts/{user_id}/reactivate", _action("reactivated"), methods=["POST"]),
    Route("/accounts/{user_id}/sessions/end", _action("sessions_ended"), methods=["POST"]),
    Route("/accounts/{user_id}/invite", _action("invited"), methods=["POST"]),
]
