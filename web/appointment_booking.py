"""Booking an appointment from the appointments page: the form's time, duration and mode are
checked here (messages next to the fields, in the viewer's language), the rest by the use case
(`scheduling.appointments.book`); a refusal shows the page again with the form kept, 422."""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation.errors import DomainError, NotFound
from foundation.models import AppointmentMode
from scheduling import appointments as cases
from scheduling.clients import records as client_records
from web.appointment_form import MESSAGES, minutes_from, refusal, start_from
from web.appointment_pages import back, scope_for, show, team_of
from web.auth import Hidden, Viewer, page
from web.i18n import _
from web.pages import as_int


@page()
async def book(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    team = team_of(request, values)
    errors: dict[str, str] = {}
    start = start_from(values, zone)
    if start.error:
        errors["start"] = start.error
    minutes = minutes_from(values.get("duration", ""))
    if minutes is None:
        errors["duration"] = _(MESSAGES["duration"])
    mode = values.get("mode", "")
    if mode not in {m.value for m in AppointmentMode}:
        errors["mode"] = _(MESSAGES["mode"])
    if errors or start.at is None or minutes is None:
        return await show(request, viewer, team=team, form=values, errors=errors, status=422)
    counsellor_id = as_int(values.get("counsellor_id")) if team else viewer.counsellor_id or 0
    client_id = as_int(values.get("client_id"))
    new = cases.NewAppointment(
        counsellor_id=counsellor_id,
        client=cases.Client(
            values.get("pseudonym", ""), values.get("phone") or None, "sms_consent" in values
        ),
        start=start.at,
        end=start.at + timedelta(minutes=minutes),
        mode=AppointmentMode(mode),
        location=values.get("location"),
        video_link=values.get("video_link"),
        client_id=client_id or None,
        client_language=values.get("client_language") or None,  # None: the record's
    )

    def save() -> int:
        with request.app.state.db.write() as session:
            if client_id:  # a client record of the viewer's team, or as if there were none
                try:
                    client_records.changeable(session, client_id, viewer.principal)
                except (NotFound, client_records.ReadOnly):
                    raise Hidden from None
            if team is not None:
                # The team view books only for the team's people.
                scope = scope_for(session, settings, viewer, team)
                if counsellor_id not in {c.id for c in scope.counsellors}:
                    raise NotFound("not a member of the team", field="counsellor_id")
            return cases.book(session, settings, new, actor=viewer.actor).id

    try:
        appointment_id = await run_in_threadpool(save)
    except DomainError as exc:
        field, message = refusal(exc, request.app.state.settings.config.organisation.zone)
        return await show(
            request, viewer, team=team, form=values, errors={field: message}, status=422
        )
    if client_id:
        return RedirectResponse(f"/clients/{client_id}?notice=booked", status_code=303)
    return back(team, "booked", appointment_id)


routes = [
    Route("/appointments", book, methods=["POST"]),
]
