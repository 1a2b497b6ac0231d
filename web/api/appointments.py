"""/api/v1/appointments: list, book, read, move, cancel and mark appointments, of the
counsellors the key may change appointments of (`foundation.access.may_change_appointment`;
another's appointment is answered like a missing one). The client's phone leaves only masked;
an overlap is a 409 naming the appointment in the way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, access_log, crypto
from foundation.access import Principal
from foundation.errors import Invalid, NotFound
from foundation.models import Appointment, AppointmentStatus
from foundation.teams import team_by_slug
from scheduling import appointments as cases
from scheduling.clients import records as client_records
from scheduling.wallclock import explain_offset
from web.api.plumbing import (
    BadRequest,
    Work,
    api,
    body,
    get_or_post,
    listing,
    must_see,
    path_id,
)
from web.responses import domain_error, error, json_response, local
from web.schemas import (
    AppointmentIn,
    AppointmentList,
    AppointmentOut,
    ClientOut,
    Existing,
    OverlapOut,
    RescheduleIn,
    StatusIn,
)


def _appointment_out(
    request: Request, appointment: Appointment, names: dict[int, str], box: crypto.Box
) -> AppointmentOut:
    zone = request.app.state.settings.config.organisation.zone
    return AppointmentOut(
        id=appointment.id,
        counsellor_id=appointment.counsellor_id,
        counsellor_name=names.get(appointment.counsellor_id, ""),
        client=ClientOut(
            pseudonym=appointment.client_pseudonym,
            phone=cases.masked_client_phone(box, appointment),
            sms_consent=appointment.sms_consent,
        ),
        start=local(appointment.start_at, zone),
        end=local(appointment.end_at, zone),
        mode=appointment.mode,
        location=appointment.location,
        video_link=appointment.video_link,
        status=appointment.status,
        sequence=appointment.sequence,
        client_language=appointment.client_language,
    )


def _one_out(
    session: Session, request: Request, appointment: Appointment, status_code: int = 200
) -> Response:
    names = cases.counsellor_names(session, {appointment.counsellor_id})
    box = crypto.box(request.app.state.settings)
    return json_response(_appointment_out(request, appointment, names, box), status_code)


def _overlap(exc: cases.Overlap, request: Request) -> BadRequest:
    """409 naming the appointment in the way (raised, so the transaction rolls back)."""
    zone = request.app.state.settings.config.organisation.zone
    body = OverlapOut(
        error="conflict",
        message=exc.message,
        details=[],
        existing=Existing(
            id=exc.existing_id,
            start=local(exc.existing_start, zone),
            end=local(exc.existing_end, zone),
        ),
    )
    return BadRequest(json_response(body, 409))


@api
async def list_appointments(request: Request) -> Work:
    config = request.app.state.settings.config
    query = listing(request.query_params)

    def work(session: Session, who: Principal) -> Response:
        ids: set[int] | None = None
        if query.team is not None:
            ids = set(cases.team_counsellor_ids(team_by_slug(session, query.team, config)))
            must_see(who, query.team)
        if query.counsellor_id is not None:
            ids = {query.counsellor_id} if ids is None else ids & {query.counsellor_id}
        found = cases.list_appointments(
            session, start=query.start, end=query.end, counsellor_ids=ids
        )
        teams = {
            c: access.counsellor_team_ids(session, c) for c in {row.counsellor_id for row in found}
        }
        rows = [
            row
            for row in found
            if access.may_see_appointment(who, row.counsellor_id, teams[row.counsellor_id])
        ]
        names = cases.counsellor_names(session, {row.counsellor_id for row in rows})
        box = crypto.box(request.app.state.settings)
        items = [_appointment_out(request, row, names, box) for row in rows]
        access_log.log_opened(request.app.state.db, who, "appointment", (r.id for r in rows))
        return json_response(AppointmentList(items=items))

    return work


def _local_times(settings: Settings, **moments: datetime) -> None:
    """A time written with an offset the organisation's zone does not have at that instant
    (2026-03-29T02:30:00+01:00: a Berlin wall time that does not exist) is refused with the
    page's explanation, not booked an hour off. UTC (`Z`) is always fine."""
    for name, moment in moments.items():
        problem = explain_offset(moment, settings.config.organisation.zone)
        if problem is not None:
            raise BadRequest(domain_error(Invalid(problem, field=name)))


async def _book(request: Request) -> Work:
    payload = await body(request, AppointmentIn)
    settings = request.app.state.settings
    _local_times(settings, start=payload.start, end=payload.end)
    inline = payload.client
    new = cases.NewAppointment(
        counsellor_id=payload.counsellor_id,
        client=cases.Client(inline.pseudonym, inline.phone, inline.sms_consent)
        if inline is not None
        else cases.Client(""),
        start=payload.start,
        end=payload.end,
        mode=payload.mode,
        location=payload.location,
        video_link=payload.video_link,
        client_id=payload.client_id,
        # Left out: the client record's language (`client_id`), else German.
        client_language=(
            payload.client_language if "client_language" in payload.model_fields_set else None
        ),
    )

    def work(session: Session, who: Principal) -> Response:
        try:
            if new.client_id is not None:  # a client the key may not see: as if there were none
                try:
                    client_records.changeable(session, new.client_id, who)
                except NotFound as exc:
                    raise NotFound(f"no client with id {new.client_id}", field="client_id") from exc
            teams = access.counsellor_team_ids(session, new.counsellor_id)
            if not access.may_change_appointment(who, new.counsellor_id, teams):
                raise BadRequest(error(403, "forbidden", "this API key may not book for them"))
            appointment = cases.book(session, settings, new, actor=who.actor)
        except cases.Overlap as exc:
            raise _overlap(exc, request) from exc
        return _one_out(session, request, appointment, 201)

    return work


book_appointment = api(_book, write=True)


@api
async def get_appointment(request: Request) -> Work:
    appointment_id = path_id(request, "appointment_id")

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = cases.get(session, appointment_id)
        access_log.log_opened(request.app.state.db, who, "appointment", [appointment.id])
        return _one_out(session, request, appointment)

    return work


async def _cancel(request: Request) -> Work:
    appointment_id = path_id(request, "appointment_id")
    settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = cases.cancel(session, settings, appointment_id, actor=who.actor)
        return _one_out(session, request, appointment)

    return work


cancel_appointment = api(_cancel, write=True)


async def _reschedule(request: Request) -> Work:
    appointment_id = path_id(request, "appointment_id")
    payload = await body(request, RescheduleIn)
    settings = request.app.state.settings
    _local_times(settings, start=payload.start, end=payload.end)

    def work(session: Session, who: Principal) -> Response:
        try:
            _seen_appointment(session, who, appointment_id)
            appointment = cases.reschedule(
                session, settings, appointment_id, payload.start, payload.end, actor=who.actor
            )
        except cases.Overlap as exc:
            raise _overlap(exc, request) from exc
        return _one_out(session, request, appointment)

    return work


reschedule_appointment = api(_reschedule, write=True)


async def _set_status(request: Request) -> Work:
    appointment_id = path_id(request, "appointment_id")
    payload = await body(request, StatusIn)
    settings = request.app.state.settings
    status = AppointmentStatus(payload.status)

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = cases.mark(session, settings, appointment_id, status, actor=who.actor)
        return _one_out(session, request, appointment)

    return work


set_appointment_status = api(_set_status, write=True)


def _seen_appointment(session: Session, who: Principal, appointment_id: int) -> None:
    """An appointment the key may not see is answered like a missing one (404)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return  # the use case says it is missing
    teams = access.counsellor_team_ids(session, appointment.counsellor_id)
    if not access.may_see_appointment(who, appointment.counsellor_id, teams):
        raise NotFound(f"no appointment with id {appointment_id}")


routes = [
    Route(
        "/api/v1/appointments",
        get_or_post(list_appointments, book_appointment),
        methods=["GET", "POST"],
    ),
    Route("/api/v1/appointments/{appointment_id}", get_appointment, methods=["GET"]),
    Route("/api/v1/appointments/{appointment_id}/cancel", cancel_appointment, methods=["POST"]),
    Route(
        "/api/v1/appointments/{appointment_id}/reschedule",
        reschedule_appointment,
        methods=["POST"],
    ),
    Route("/api/v1/appointments/{appointment_id}/status", set_appointment_status, methods=["POST"]),
]
