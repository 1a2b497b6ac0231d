"""The rota page's forms for single entries of a team: shifts (create, edit, delete),
stand-ins and absences. Only the team's coordination (foundation.access) may; a refused form
shows the rota page again (web.rota_pages) with messages in the viewer's language and changes
nothing."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation.errors import DomainError
from foundation.models import Absence, AbsenceKind, Role, Shift, StandIn, Tier
from foundation.teams import team_by_slug
from scheduling import absences, shifts, standins
from web.auth import Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_int
from web.rota_pages import MESSAGES, back, check_team, in_thread, local_time, show

ABSENCE_MESSAGES = {
    "start": N_("Bitte geben Sie Beginn und Ende als Datum und Uhrzeit an."),
    "end": N_("Das Ende muss nach dem Beginn liegen (höchstens ein Jahr)."),
    "counsellor_id": N_("Bitte wählen Sie eine Person aus diesem Team."),
    "kind": MESSAGES["kind"],
}


@page(Role.ADMIN, Role.COORDINATOR)
async def create_shift(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    start, end = local_time(form, "start", zone), local_time(form, "end", zone)
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    if start is None or end is None:
        errors = (
            {"start": _(MESSAGES["start"])} if start is None else {"end": _(MESSAGES["end_time"])}
        )
        return await show(request, viewer, team, errors=errors, form=values, status=422)
    tier = str(form.get("tier", ""))
    if tier not in ("primary", "backup"):
        return await show(
            request, viewer, team, errors={"tier": _(MESSAGES["tier"])}, form=values, status=422
        )
    new = shifts.NewShift(team, as_int(form.get("counsellor_id")), Tier(tier), start, end)
    shift_id = as_int(form.get("shift_id"))

    def save() -> None:
        with request.app.state.db.write() as session:
            if shift_id:
                existing = session.get(Shift, shift_id)
                if existing is None or existing.team.slug != team:
                    raise Hidden
                shifts.update_shift(session, settings.config, shift_id, new, actor=viewer.actor)
            else:
                shifts.create_shift(session, settings.config, new, actor=viewer.actor)

    try:
        await in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        message = _(MESSAGES.get(field, exc.message))
        if exc.__class__.__name__ == "Conflict":
            message = _("Diese Person hat in diesem Team zu dieser Zeit bereits einen Dienst.")
        return await show(request, viewer, team, errors={field: message}, form=values, status=422)
    return back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_shift(request: Request, viewer: Viewer) -> Response:
    return await _delete(request, viewer, Shift, "shift_id", shifts.delete_shift)


async def _delete(
    request: Request,
    viewer: Viewer,
    model: type[Shift] | type[StandIn],
    key: str,
    delete: Callable[..., None],
) -> Response:
    """Delete a row of this team, then back to the rota; a row of another team is answered
    like a missing one (404)."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    row_id = as_int(request.path_params.get(key))
    config = settings.config

    def remove() -> None:
        with request.app.state.db.write() as session:
            existing = session.get(model, row_id)
            if existing is None or existing.team_id != team_by_slug(session, team, config).id:
                raise Hidden
            delete(session, row_id, actor=viewer.actor)

    await in_thread(remove)
    return back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def create_stand_in(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start, end = local_time(form, "si_start", zone), local_time(form, "si_end", zone)
    if start is None or end is None:
        return await show(
            request,
            viewer,
            team,
            errors={"si_start": _(MESSAGES["start"])},
            form=values,
            status=422,
        )
    new = standins.NewStandIn(
        team, as_int(form.get("absent_id")), as_int(form.get("substitute_id")), start, end,
        str(form.get("note", "")),
    )  # fmt: skip

    def save() -> None:
        with request.app.state.db.write() as session:
            standins.create_stand_in(session, settings.config, new, actor=viewer.actor)

    try:
        await in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        return await show(
            request,
            viewer,
            team,
            errors={f"si_{field}": _(MESSAGES.get(field, exc.message))},
            form=values,
            status=422,
        )
    return back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_stand_in(request: Request, viewer: Viewer) -> Response:
    return await _delete(request, viewer, StandIn, "stand_in_id", standins.delete_stand_in)


@page(Role.ADMIN, Role.COORDINATOR)
async def create_absence(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start, end = local_time(form, "ab_start", zone), local_time(form, "ab_end", zone)
    kind = str(form.get("kind", ""))
    if kind not in {k.value for k in AbsenceKind}:
        errors = {"ab_kind": _(ABSENCE_MESSAGES["kind"])}
        return await show(request, viewer, team, errors=errors, form=values, status=422)
    if start is None or end is None:
        errors = {"ab_start": _(ABSENCE_MESSAGES["start"])}
        return await show(request, viewer, team, errors=errors, form=values, status=422)
    counsellor_id = as_int(form.get("ab_counsellor_id"))
    new = absences.NewAbsence(
        counsellor_id, AbsenceKind(kind), start, end, str(form.get("ab_note", ""))
    )

    def save() -> None:
        with request.app.state.db.write() as session:
            absences.create_absence(session, new, actor=viewer.actor, team=team)

    try:
        await in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        message = _(ABSENCE_MESSAGES.get(field, exc.message))
        return await show(
            request, viewer, team, errors={f"ab_{field}": message}, form=values, status=422
        )
    return back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_absence(request: Request, viewer: Viewer) -> Response:
    """Absences belong to a person, not a team: a coordinator may remove those of members;
    another's is answered like a missing one (404)."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    absence_id = as_int(request.path_params.get("absence_id"))

    def remove() -> None:
        with request.app.state.db.write() as session:
            existing = session.get(Absence, absence_id)
            if existing is None or team not in {t.slug for t in existing.counsellor.teams}:
                raise Hidden
            absences.delete_absence(session, absence_id, actor=viewer.actor)

    await in_thread(remove)
    return back(request, team, form)


routes = [
    Route("/rota/{team}/shifts", create_shift, methods=["POST"]),
    Route("/rota/{team}/shifts/{shift_id}/delete", delete_shift, methods=["POST"]),
    Route("/rota/{team}/standins", create_stand_in, methods=["POST"]),
    Route("/rota/{team}/standins/{stand_in_id}/delete", delete_stand_in, methods=["POST"]),
    Route("/rota/{team}/absences", create_absence, methods=["POST"]),
    Route("/rota/{team}/absences/{absence_id}/delete", delete_absence, methods=["POST"]),
]
