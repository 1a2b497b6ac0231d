"""The client pages ("Klienten"): the clients of the viewer's teams with a form for a new one,
and one client's page: details, status, the timeline of everything linked, the next appointment
and "Termin buchen", the exit plan (steps, notes, the next review). Linking a task or a
conversation to a client is a form on the task and conversation pages (`link`, `unlink`).

Only the team's staff see a client (`foundation.access.may_see_client`): an admin as such sees
none, and a client of another team is answered like a missing one (404). Opening the list or a
client's page is written to the access log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.languages import GERMAN
from config.settings import Settings
from foundation import access, access_log
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, DomainError, Invalid, NotFound
from foundation.models import ClientStatus, PlanStepStatus, PreferredChannel
from foundation.teams import team_by_slug
from scheduling.clients import links, plan, records
from scheduling.clients.records import ClientEdit, NewClient
from web import client_views as views
from web import labels
from web.auth import Forbidden, Hidden, Viewer, page, safe_next
from web.i18n import N_, _, lookup
from web.pages import as_day, as_int, render

# The page's messages by field, German marked for the catalogues (the use cases speak English
# for the API).
MESSAGES = {
    "pseudonym": N_(
        "Bitte geben Sie ein Pseudonym an (höchstens 100 Zeichen, kein Klarname, keine "
        "Telefonnummer)."
    ),
    "phone": N_("Das ist keine gültige Telefonnummer (zum Beispiel 0151 23456789)."),
    "sms_consent": N_(
        "SMS gehen nur an eine Mobilnummer: Bitte geben Sie eine an oder lassen Sie "
        "das Häkchen weg."
    ),
    "counsellor_ids": N_("Bitte wählen Sie nur aktive Beraterinnen und Berater des Teams."),
    "language": N_("Bitte wählen Sie eine Sprache, in der es SMS-Texte gibt."),
    "team": N_("Für dieses Team dürfen Sie keine Klientinnen oder Klienten anlegen."),
    "title": N_("Bitte geben Sie dem Schritt einen Titel (höchstens 200 Zeichen)."),
    "notes": N_("Eine Notiz hat höchstens 10 000 Zeichen."),
    "text": N_("Bitte schreiben Sie eine Notiz (höchstens 10 000 Zeichen)."),
    "review_on": N_("Bitte geben Sie ein gültiges Datum an."),
    "status": N_("Bitte wählen Sie einen Status."),
    "record_id": N_(
        "Diesen Kontakt gibt es nicht (mehr), er gehört zu einem anderen Team, oder Sie "
        "dürfen ihn nicht zuordnen."
    ),
    "client_id": N_(
        "Bitte wählen Sie eine Klientin oder einen Klienten oder legen Sie eine neue Akte an."
    ),
    "appointment_id": N_("Dieser Termin gehört nicht zu dieser Akte."),
    "step_id": N_("Diesen Schritt gibt es nicht (mehr)."),
    "position": N_("Die Position ist eine Zahl von 1 bis 1000."),
}
CONFLICT = N_("Im Team gibt es schon eine Klientin oder einen Klienten mit diesem Pseudonym.")
NOTICES = {
    "created": N_("Die Akte ist angelegt."),
    "saved": N_("Gespeichert."),
    "status": N_("Der Status ist geändert."),
    "review": N_("Das Datum der nächsten Überprüfung ist gespeichert."),
    "step": N_("Der Schritt ist gespeichert."),
    "deleted": N_("Der Schritt ist gelöscht."),
    "note": N_("Die Notiz ist gespeichert."),
    "linked": N_("Der Kontakt ist der Akte zugeordnet."),
    "unlinked": N_("Die Zuordnung ist gelöst."),
    "booked": N_("Der Termin ist gebucht."),
}


def german(exc: DomainError) -> str:
    """The page's words for a refusal, in the request's language (German by default)."""
    if isinstance(exc, Conflict) and exc.field == "pseudonym":
        return _(CONFLICT)
    return _(MESSAGES.get(exc.field or "", exc.message))


def _client_id(request: Request) -> int:
    return as_int(request.path_params.get("client_id"))


def _context(settings: Settings) -> dict[str, object]:
    return {
        "status_names": views.names(views.STATUS_NAMES),
        "step_names": views.names(views.STEP_NAMES),
        "channel_names": views.names(views.CHANNEL_NAMES),
        "language_names": labels.client_languages(settings.config),
    }


# --- the list ---------------------------------------------------------------------------------


def _sections(db: Database, settings: Settings, viewer: Viewer) -> list[dict[str, object]]:
    now = utcnow()
    sections = []
    with db.read() as session:
        for slug in settings.config.teams:
            if not access.may_see_client(viewer.principal, slug):
                continue
            team = team_by_slug(session, slug, settings.config)
            sections.append(
                {
                    "slug": slug,
                    "name": team.name,
                    "clients": views.team_rows(session, settings, team, now),
                    "writes": access.may_change_client(viewer.principal, slug),
                }
            )
    shown = [row.id for s in sections for row in s["clients"]]  # type: ignore[attr-defined]
    access_log.log_opened(db, viewer.principal, "client", shown)
    return sections


async def _list(
    request: Request,
    viewer: Viewer,
    *,
    form: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    sections = await run_in_threadpool(_sections, request.app.state.db, settings, viewer)
    context = {
        **_context(settings),
        "viewer": viewer,
        "sections": sections,
        "form": form or {},
        "message": message,
        "notice": lookup(NOTICES, request.query_params.get("notice")),
    }
    return render(request, "clients.html", context, status)


@page()
async def client_list(request: Request, viewer: Viewer) -> Response:
    return await _list(request, viewer)


def _channel(raw: str) -> PreferredChannel | None:
    return PreferredChannel(raw) if raw in {c.value for c in PreferredChannel} else None


@page()
async def create(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    new = NewClient(
        team=values.get("team", ""),
        pseudonym=values.get("pseudonym", ""),
        phone=values.get("phone") or None,
        sms_consent="sms_consent" in values,
        relative="relative" in values,
        preferred_channel=_channel(values.get("preferred_channel", "")),
        language=values.get("language") or GERMAN,
    )

    def save() -> int:
        with db.write() as session:
            return records.create(session, settings, new, by=viewer.principal).id

    try:
        client_id = await run_in_threadpool(save)
    except records.ReadOnly:
        raise Forbidden from None
    except DomainError as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return await _list(request, viewer, form=values, message=german(exc), status=status)
    return RedirectResponse(f"/clients/{client_id}?notice=created", status_code=303)


# --- one client ---------------------------------------------------------------------------------


async def show(
    request: Request,
    viewer: Viewer,
    *,
    message: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    client_id = _client_id(request)

    def load() -> views.ClientPage:
        with db.read() as session:
            try:
                shown = views.page(session, settings, client_id, viewer.principal, utcnow())
            except NotFound:
                raise Hidden from None
        access_log.log_opened(db, viewer.principal, "client", [client_id])
        return shown

    shown = await run_in_threadpool(load)
    context = {
        **_context(settings),
        "viewer": viewer,
        "page": shown,
        "client": shown.client,
        "message": message,
        "form": form or {},
        "notice": lookup(NOTICES, request.query_params.get("notice")),
        "statuses": list(ClientStatus),
        "step_statuses": list(PlanStepStatus),
        "kind_names": views.names(views.KIND_NAMES),
        "titles": {step.id: step.title for step in shown.steps},
    }
    return render(request, "client.html", context, status)


@page()
async def client_page(request: Request, viewer: Viewer) -> Response:
    return await show(request, viewer)


Change = Callable[[Session, FormData], object]


async def _act(request: Request, viewer: Viewer, change: Change, notice: str) -> Response:
    """Run `change` in one transaction, then back to the client's page; a refusal is explained
    on it and changes nothing. A client the viewer may not see is answered like a missing one."""
    db: Database = request.app.state.db
    form = await request.form()

    def save() -> None:
        with db.write() as session:
            change(session, form)

    try:
        await run_in_threadpool(save)
    except records.ReadOnly:
        raise Forbidden from None
    except NotFound as exc:
        if exc.field is None:
            raise Hidden from None
        return await show(request, viewer, message=german(exc), status=422)
    except DomainError as exc:
        values = {k: str(v) for k, v in form.items() if k != "csrf"}
        code = 409 if isinstance(exc, Conflict) else 422
        return await show(request, viewer, message=german(exc), status=code, form=values)
    anchor = {"step": "#plan", "deleted": "#plan", "note": "#notizen", "review": "#plan"}
    return RedirectResponse(
        f"/clients/{_client_id(request)}?notice={notice}{anchor.get(notice, '')}", status_code=303
    )


@page()
async def update(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def change(session: Session, form: FormData) -> None:
        edit = ClientEdit(
            pseudonym=str(form.get("pseudonym", "")),
            sms_consent="sms_consent" in form,
            relative="relative" in form,
            preferred_channel=_channel(str(form.get("preferred_channel", ""))),
            counsellor_ids=tuple(as_int(v) for v in form.getlist("counsellor_ids")),
            phone=str(form.get("phone", "")) or None,
            clear_phone="clear_phone" in form,
            language=str(form["language"]) if "language" in form else None,
        )
        records.update(session, settings, _client_id(request), edit, by=viewer.principal)

    return await _act(request, viewer, change, "saved")


@page()
async def change_status(request: Request, viewer: Viewer) -> Response:
    def change(session: Session, form: FormData) -> None:
        raw = str(form.get("status", ""))
        if raw not in {s.value for s in ClientStatus}:
            records.changeable(session, _client_id(request), viewer.principal)
            raise Invalid("no such status", field="status")
        records.change_status(session, _client_id(request), ClientStatus(raw), by=viewer.principal)

    return await _act(request, viewer, change, "status")


@page()
async def set_review(request: Request, viewer: Viewer) -> Response:
    def change(session: Session, form: FormData) -> None:
        raw = str(form.get("review_on", "")).strip()
        day: date | None = as_day(raw) if raw else None
        if raw and day is None:
            records.changeable(session, _client_id(request), viewer.principal)
            raise Invalid("not a date", field="review_on")
        plan.set_review(session, _client_id(request), day, by=viewer.principal)

    return await _act(request, viewer, change, "review")


@page()
async def add_step(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def change(session: Session, form: FormData) -> None:
        plan.add_step(
            session,
            settings,
            _client_id(request),
            str(form.get("title", "")),
            str(form.get("notes", "")),
            by=viewer.principal,
        )

    return await _act(request, viewer, change, "step")


def _step_status(raw: str) -> PlanStepStatus | None:
    return PlanStepStatus(raw) if raw in {s.value for s in PlanStepStatus} else None


@page()
async def change_step(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    step_id = as_int(request.path_params.get("step_id"))

    def change(session: Session, form: FormData) -> None:
        edit = plan.StepEdit(
            title=str(form["title"]) if "title" in form else None,
            notes=str(form["notes"]) if "notes" in form else None,
            status=_step_status(str(form.get("status", ""))),
        )
        plan.change_step(session, settings, _client_id(request), step_id, edit, by=viewer.principal)

    return await _act(request, viewer, change, "step")


@page()
async def delete_step(request: Request, viewer: Viewer) -> Response:
    step_id = as_int(request.path_params.get("step_id"))

    def change(session: Session, _form: FormData) -> None:
        plan.delete_step(session, _client_id(request), step_id, by=viewer.principal)

    return await _act(request, viewer, change, "deleted")


@page()
async def add_note(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def change(session: Session, form: FormData) -> None:
        step = as_int(form.get("step_id"))
        appointment = as_int(form.get("appointment_id"))
        plan.add_note(
            session,
            settings,
            _client_id(request),
            str(form.get("body", "")),
            step_id=step or None,
            appointment_id=appointment or None,
            by=viewer.principal,
            author=viewer.username,
        )

    return await _act(request, viewer, change, "note")


# --- linking, from the task and conversation pages -----------------------------------------------


def _back(form: FormData, client_id: int | None, notice: str) -> str:
    target = safe_next(str(form.get("next", "")) or None)
    if target == "/" and client_id:
        return f"/clients/{client_id}?notice={notice}"
    return target


def _refused(request: Request, viewer: Viewer, form: FormData, exc: DomainError) -> Response:
    """A link refused: said on a page of its own with the way back (404 for a contact or a
    client the viewer may not see, as for a missing one)."""
    code = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    context = {
        "viewer": viewer,
        "title": _("Nicht zugeordnet"),
        "message": _("%(refusal)s Es wurde nichts geändert.", refusal=german(exc)),
        "back": safe_next(str(form.get("next", "")) or None),
    }
    return render(request, "error.html", context, code)


@page()
async def link(request: Request, viewer: Viewer) -> Response:
    """Link a contact (`kind`, `record_id`) to the chosen client (`client_id`), or to a new one
    of the contact's team (`pseudonym`); back to `next`."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    form = await request.form()
    kind = str(form.get("kind", ""))
    record_id = as_int(form.get("record_id"))
    client_id = as_int(form.get("client_id"))
    pseudonym = str(form.get("pseudonym", "")).strip()

    def save() -> int:
        with db.write() as session:
            if client_id:
                return links.link(
                    session, settings, client_id, kind, record_id, by=viewer.principal
                ).id
            if not pseudonym:
                raise Invalid("choose a client or give a pseudonym", field="client_id")
            return links.link_new(
                session, settings, kind, record_id, pseudonym, by=viewer.principal
            ).id

    try:
        linked = await run_in_threadpool(save)
    except records.ReadOnly:
        raise Forbidden from None
    except DomainError as exc:
        return _refused(request, viewer, form, exc)
    return RedirectResponse(_back(form, linked, "linked"), status_code=303)


@page()
async def unlink(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    form = await request.form()
    kind = str(form.get("kind", ""))
    record_id = as_int(form.get("record_id"))

    def save() -> int | None:
        with db.write() as session:
            return links.unlink(session, settings, kind, record_id, by=viewer.principal)

    try:
        before = await run_in_threadpool(save)
    except records.ReadOnly:
        raise Forbidden from None
    except DomainError as exc:
        return _refused(request, viewer, form, exc)
    return RedirectResponse(_back(form, before, "unlinked"), status_code=303)


routes = [
    Route("/clients", client_list, methods=["GET"]),
    Route("/clients", create, methods=["POST"]),
    Route("/clients/link", link, methods=["POST"]),
    Route("/clients/unlink", unlink, methods=["POST"]),
    Route("/clients/{client_id}", client_page, methods=["GET"]),
    Route("/clients/{client_id}", update, methods=["POST"]),
    Route("/clients/{client_id}/status", change_status, methods=["POST"]),
    Route("/clients/{client_id}/review", set_review, methods=["POST"]),
    Route("/clients/{client_id}/steps", add_step, methods=["POST"]),
    Route("/clients/{client_id}/steps/{step_id}", change_step, methods=["POST"]),
    Route("/clients/{client_id}/steps/{step_id}/delete", delete_step, methods=["POST"]),
    Route("/clients/{client_id}/notes", add_note, methods=["POST"]),
]
