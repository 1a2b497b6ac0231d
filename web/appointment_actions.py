"""One appointment's actions on the appointments page: move, cancel, mark as done or not
shown, and call the client back through the line. Each asks the access policy
(`foundation.access.may_change_appointment`) first: an appointment the viewer may not change is
answered like a missing one (404), and a refusal shows the page again with a message (in the
viewer's language), nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation.errors import DomainError, Invalid, NotFound
from foundation.models import Appointment, AppointmentStatus
from scheduling import appointments as cases
from web import outbound_call_pages
from web.appointment_form import MESSAGES, minutes_from, refusal, start_from
from web.appointment_pages import back, may_change, show, team_of
from web.auth import Viewer, page
from web.i18n import _
from web.pages import as_int

Change = Callable[[Session, int], Appointment]


async def _change(
    request: Request, viewer: Viewer, notice: Callable[[Appointment], str], change: Change
) -> Response:
    """Apply `change` to the appointment of the path, if the viewer may; errors re-show the page
    (422) with a message next to the appointment's form, nothing changed."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    team = team_of(request, values)
    appointment_id = as_int(request.path_params.get("appointment_id"))

    def save() -> Appointment:
        with request.app.state.db.write() as session:
            existing = session.get(Appointment, appointment_id) if appointment_id else None
            if existing is None or not may_change(session, viewer, existing):
                raise NotFound("no such appointment", field="missing")
            return change(session, appointment_id)

    try:
        appointment = await run_in_threadpool(save)
    except DomainError as exc:
        field, message = refusal(exc, request.app.state.settings.config.organisation.zone)
        editing = appointment_id if field in ("start", "end", "duration") else 0
        return await show(
            request,
            viewer,
            team=team,
            errors={f"edit_{field}" if editing else "action": message},
            editing=editing,
            edit_form=values if editing else None,
            status=404 if field == "missing" else 422,  # missing or not the viewer's: the same
        )
    return back(team, notice(appointment), appointment.id)


@page()
async def reschedule(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start = start_from(values, zone)
    minutes = minutes_from(values.get("duration", ""))
    if start.at is None or minutes is None:
        error = start.error or _(MESSAGES["duration"])
        field = "edit_start" if start.error else "edit_duration"
        return await show(
            request,
            viewer,
            team=team_of(request, values),
            errors={field: error},
            editing=as_int(request.path_params.get("appointment_id")),
            edit_form=values,
            status=422,
        )
    begin, end = start.at, start.at + timedelta(minutes=minutes)

    def move(session: Session, appointment_id: int) -> Appointment:
        return cases.reschedule(session, settings, appointment_id, begin, end, actor=viewer.actor)

    return await _change(request, viewer, lambda _a: "moved", move)


@page()
async def cancel(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def drop(session: Session, appointment_id: int) -> Appointment:
        return cases.cancel(session, settings, appointment_id, actor=viewer.actor)

    return await _change(request, viewer, lambda _a: "cancelled", drop)


@page()
async def set_status(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    form = await request.form()
    status = str(form.get("status", ""))

    def mark(session: Session, appointment_id: int) -> Appointment:
        if status not in ("done", "no_show"):
            raise Invalid("status: done or no_show", field="bad_status")
        return cases.mark(
            session, settings, appointment_id, AppointmentStatus(status), actor=viewer.actor
        )

    return await _change(request, viewer, lambda a: a.status.value, mark)


@page()
async def call_client(request: Request, viewer: Viewer) -> Response:
    """ "Zurückrufen": the viewer's phone rings, then the client's (whoever may change the
    appointment: its counsellor, the team's coordinators, admins)."""
    form = await request.form()
    team = team_of(request, {k: str(v) for k, v in form.items()})
    appointment_id = as_int(request.path_params.get("appointment_id"))

    line = str(form.get("line", "")) or None
    outcome = await outbound_call_pages.start(request, viewer, "appointment", appointment_id, line)
    if outcome.error:
        return await show(
            request, viewer, team=team, errors={"action": outcome.error}, status=outcome.status
        )
    if outcome.notice is None:
        return RedirectResponse("/appointments", status_code=303)
    return back(team, outcome.notice, appointment_id)


routes = [
    Route("/appointments/{appointment_id}/reschedule", reschedule, methods=["POST"]),
    Route("/appointments/{appointment_id}/cancel", cancel, methods=["POST"]),
    Route("/appointments/{appointment_id}/status", set_status, methods=["POST"]),
    Route("/appointments/{appointment_id}/call", call_client, methods=["POST"]),
]
