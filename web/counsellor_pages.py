"""The counsellors page: list, create, edit, deactivate. Admins manage everyone; coordinators
the counsellors of their teams, and may only assign their own teams."""

from __future__ import annotations

from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.languages import GERMAN, iso_639_1
from config.phone import display
from config.settings import Settings
from foundation import access
from foundation.db import Database
from foundation.errors import DomainError
from foundation.models import Counsellor, Role
from scheduling import counsellors as cases
from web import labels
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_int, render

# The form's messages by field (the use cases speak English for the API), marked for the
# catalogues and translated where they are used.
MESSAGES = {
    "name": N_("Bitte geben Sie einen Namen an."),
    "phone": N_("Das ist keine gültige Telefonnummer (zum Beispiel 0151 23456789)."),
    "email": N_("Das ist keine gültige E-Mail-Adresse."),
    "team": N_("Dieses Team gibt es nicht."),
    "teams": N_("Bitte wählen Sie nur Teams, die Sie koordinieren."),
    "notify_email": N_("Für Dienst-Hinweise per E-Mail geben Sie bitte eine E-Mail-Adresse an."),
    "languages": N_("Bitte wählen Sie mindestens eine Sprache, in der sie oder er berät."),
}
KEEP: tuple[str, ...] = ()  # a form without the languages: hers are kept (German for a new one)


def _manageable_teams(settings: Settings, viewer: Viewer) -> list[str]:
    return access.teams_coordinated(viewer.principal, settings.config.teams)


def _may_edit(viewer: Viewer, counsellor: Counsellor) -> bool:
    return access.may_edit_counsellor(viewer.principal, [team.id for team in counsellor.teams])


def _may_list(viewer: Viewer, counsellor: Counsellor) -> bool:
    return access.may_list_counsellor(viewer.principal, [team.id for team in counsellor.teams])


def _read_form(form: FormData) -> tuple[cases.NewCounsellor, dict[str, str]]:
    values = {key: str(form.get(key, "")).strip() for key in ("name", "phone", "email")}
    teams = tuple(str(team) for team in form.getlist("teams"))
    errors: dict[str, str] = {}
    email = values["email"]
    if email and ("@" not in email or " " in email or len(email) > 320):
        errors["email"] = _(MESSAGES["email"])
    if len(values["name"]) > 200:
        errors["name"] = _("Der Name darf höchstens 200 Zeichen lang sein.")
    # An unticked checkbox is simply missing from the form.
    notify_sms, notify_email = "notify_sms" in form, "notify_email" in form
    if notify_email and not email:
        errors["notify_email"] = _(MESSAGES["notify_email"])
    # The form marks that it offered the languages (`languages_shown`): then none ticked is an
    # error; a form without them (an older page) keeps her languages (`KEEP`).
    languages: tuple[str, ...] = tuple(str(code) for code in form.getlist("languages"))
    if "languages_shown" in form and not languages:
        errors["languages"] = _(MESSAGES["languages"])
    new = cases.NewCounsellor(
        values["name"],
        values["phone"],
        email or None,
        teams,
        notify_sms,
        notify_email,
        languages if "languages_shown" in form else KEEP,
    )
    return new, errors


def _given(form: cases.NewCounsellor | None) -> list[str]:
    """The languages a form came back with that the page should offer again (known codes)."""
    if form is None or form.languages == KEEP:
        return []
    return [code for code in form.languages if code in iso_639_1()]


def _list(db: Database, viewer: Viewer) -> list[Counsellor]:
    with db.read() as session:
        everyone = cases.list_counsellors(session)
    return [c for c in everyone if _may_list(viewer, c)]


def _page(
    request: Request,
    viewer: Viewer,
    people: list[Counsellor],
    *,
    editing: Counsellor | None = None,
    form: cases.NewCounsellor | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    return render(
        request,
        "counsellors.html",
        {
            "viewer": viewer,
            "people": people,
            "editing": editing,
            "form": form,
            "errors": errors or {},
            "teams": _manageable_teams(settings, viewer),
            "display": display,
            "languages": labels.counsellor_languages(
                settings.config, [*(editing.languages if editing else ()), *_given(form)]
            ),
        },
        status,
    )


@page(Role.ADMIN, Role.COORDINATOR)
async def counsellors(request: Request, viewer: Viewer) -> Response:
    people = await run_in_threadpool(_list, request.app.state.db, viewer)
    return _page(request, viewer, people)


def _save(
    request: Request, viewer: Viewer, counsellor_id: int | None, new: cases.NewCounsellor
) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    allowed = set(_manageable_teams(settings, viewer))
    if not set(new.teams) <= allowed:
        return {"teams": _(MESSAGES["teams"])}
    actor = viewer.actor
    try:
        with db.write() as session:
            if counsellor_id is None:
                if new.languages == KEEP:
                    new = replace(new, languages=(GERMAN,))
                cases.create_counsellor(session, settings.config, new, actor=actor)
            else:
                existing = session.get(Counsellor, counsellor_id)
                if existing is None or not _may_list(viewer, existing):
                    raise Hidden
                if not _may_edit(viewer, existing):
                    raise Forbidden
                # A coordinator keeps memberships in teams they do not coordinate.
                kept = tuple(t.slug for t in existing.teams if t.slug not in allowed)
                merged = cases.NewCounsellor(
                    new.name,
                    new.phone,
                    new.email,
                    kept + new.teams,
                    new.notify_sms,
                    new.notify_email,
                    tuple(existing.languages) if new.languages == KEEP else new.languages,
                )
                cases.update_counsellor(
                    session, settings.config, counsellor_id, merged, actor=actor
                )
    except DomainError as exc:
        field = exc.field or "name"
        return {field: _(MESSAGES.get(field, exc.message))}
    return {}


@page(Role.ADMIN, Role.COORDINATOR)
async def create(request: Request, viewer: Viewer) -> Response:
    new, errors = _read_form(await request.form())
    if not errors:
        errors = await run_in_threadpool(_save, request, viewer, None, new)
    if errors:
        people = await run_in_threadpool(_list, request.app.state.db, viewer)
        return _page(request, viewer, people, form=new, errors=errors, status=422)
    return RedirectResponse("/counsellors", status_code=303)


def _one(db: Database, counsellor_id: int) -> Counsellor | None:
    with db.read() as session:
        counsellor = session.get(Counsellor, counsellor_id)
        if counsellor is not None:
            counsellor.teams  # noqa: B018 - load while the session is open
        return counsellor


def _counsellor_id(request: Request) -> int:
    return as_int(request.path_params.get("counsellor_id"))


async def _editable(request: Request, viewer: Viewer) -> Counsellor:
    """The counsellor of the path: Hidden (404) if she does not exist or is not listed to the
    viewer, Forbidden if the viewer sees but may not edit her."""
    counsellor = await run_in_threadpool(_one, request.app.state.db, _counsellor_id(request))
    if counsellor is None or not _may_list(viewer, counsellor):
        raise Hidden
    if not _may_edit(viewer, counsellor):
        raise Forbidden
    return counsellor


@page(Role.ADMIN, Role.COORDINATOR)
async def edit(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    counsellor = await _editable(request, viewer)
    people = await run_in_threadpool(_list, db, viewer)
    if request.method == "GET":
        form = cases.NewCounsellor(
            counsellor.name,
            display(counsellor.phone),
            counsellor.email,
            tuple(t.slug for t in counsellor.teams),
            counsellor.notify_sms,
            counsellor.notify_email,
            tuple(counsellor.languages),
        )
        return _page(request, viewer, people, editing=counsellor, form=form)
    new, errors = _read_form(await request.form())
    if not errors:
        errors = await run_in_threadpool(_save, request, viewer, counsellor.id, new)
    if errors:
        return _page(
            request, viewer, people, editing=counsellor, form=new, errors=errors, status=422
        )
    return RedirectResponse("/counsellors", status_code=303)


@page(Role.ADMIN, Role.COORDINATOR)
async def toggle_active(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    counsellor = await _editable(request, viewer)
    actor = viewer.actor

    def flip() -> None:
        with db.write() as session:
            cases.set_active(session, counsellor.id, not counsellor.active, actor=actor)

    await run_in_threadpool(flip)
    return RedirectResponse("/counsellors", status_code=303)


routes = [
    Route("/counsellors", counsellors, methods=["GET"]),
    Route("/counsellors", create, methods=["POST"]),
    Route("/counsellors/{counsellor_id}", edit, methods=["GET", "POST"]),
    Route("/counsellors/{counsellor_id}/active", toggle_active, methods=["POST"]),
]
