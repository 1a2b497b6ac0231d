"""/api/v1: counsellors, shifts, who is on call and appointments, for operators' scripts.

The API key is a principal of the access policy (foundation.access): every route asks it, and
a record the key may not see is answered like a missing one (404). Today a key sees
everything."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import TypeVar

from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, apikeys, crypto
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import DomainError, Invalid, NotFound
from foundation.models import Appointment, AppointmentStatus, Counsellor, Shift
from foundation.teams import team_by_slug
from scheduling import appointments as appointment_cases
from scheduling import counsellors as counsellor_cases
from scheduling import shifts as shift_cases
from scheduling.wallclock import explain_offset
from web.responses import domain_error, error, json_response, local, query_time, validation_error
from web.schemas import (
    AppointmentIn,
    AppointmentList,
    AppointmentOut,
    ClientOut,
    CounsellorIn,
    CounsellorList,
    CounsellorOut,
    Existing,
    OnCallOut,
    OverlapOut,
    Person,
    RescheduleIn,
    ShiftIn,
    ShiftList,
    ShiftOut,
    StatusIn,
)

MAX_BODY = 64 * 1024
MAX_LIST_RANGE = timedelta(days=400)
DEFAULT_LIST_RANGE = timedelta(days=28)
_INSTANT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
M = TypeVar("M", bound=BaseModel)

Work = Callable[[Session, Principal], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def body(request: Request, model: type[M]) -> M:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(error(415, "unsupported_media_type", "send application/json"))
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(error(413, "too_large", f"the body is limited to {MAX_BODY} bytes"))
    try:
        return model.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise BadRequest(error(400, "invalid_json", f"the body is not JSON: {exc.msg}")) from exc
    except ValidationError as exc:
        raise BadRequest(validation_error(exc)) from exc


def instant(raw: str | None, name: str) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        return _INSTANT.validate_python(query_time(raw))
    except ValidationError as exc:
        message = "not an ISO 8601 time with offset (e.g. 2026-11-25T14:00:00+01:00)"
        raise BadRequest(error(422, "invalid", f"{name}: {message}")) from exc


def _list_range(params: QueryParams) -> tuple[datetime, datetime]:
    """The from/to of a listing: from now for 28 days unless given, at most 400 days."""
    start = instant(params.get("from"), "from") or utcnow()
    end = instant(params.get("to"), "to") or start + DEFAULT_LIST_RANGE
    if end <= start or end - start > MAX_LIST_RANGE:
        raise BadRequest(error(422, "invalid", "to must be after from, at most 400 days later"))
    return start, end


def api(
    prepare: Callable[[Request], Awaitable[Work]],
    *,
    write: bool = False,
) -> Endpoint:
    """An /api/v1 endpoint: bearer key first, then the request is read, then one transaction."""

    @wraps(prepare)
    async def endpoint(request: Request) -> Response:
        db: Database = request.app.state.db
        who = await caller(request)
        if isinstance(who, Response):
            return who
        try:
            work = await prepare(request)
        except BadRequest as exc:
            return exc.response
        return await run_in_threadpool(_run, db, who, work, write)

    return endpoint


async def caller(request: Request) -> Principal | Response:
    """The principal of the request's API key, or the 401 to answer."""
    token = _bearer(request)
    who = await run_in_threadpool(_authenticate, request.app.state.db, token) if token else None
    if who is None:
        return error(
            401,
            "unauthorized",
            "a valid API key is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    return who


def _authenticate(db: Database, token: str) -> Principal | None:
    """The principal of a live key, or None; refreshes last_used_at now and then."""
    with db.read() as session:
        key = apikeys.find_live_key(session, token)
        if key is None:
            return None
        key_id, who, due = key.id, apikeys.principal(key), apikeys.touch_due(key)
    if due:
        with db.write() as session:
            apikeys.touch(session, key_id)
    return who


def _run(db: Database, who: Principal, work: Work, write: bool) -> Response:
    try:
        with db.write() if write else db.read() as session:
            return work(session, who)
    except DomainError as exc:
        return domain_error(exc)
    except BadRequest as exc:
        return exc.response


def _counsellor_out(counsellor: Counsellor) -> CounsellorOut:
    return CounsellorOut(
        id=counsellor.id,
        name=counsellor.name,
        phone=counsellor.phone,
        email=counsellor.email,
        active=counsellor.active,
        teams=[team.slug for team in counsellor.teams],
    )


def _shift_out(shift: Shift, request: Request) -> ShiftOut:
    zone = request.app.state.settings.config.organisation.zone
    return ShiftOut(
        id=shift.id,
        team=shift.team.slug,
        counsellor_id=shift.counsellor_id,
        counsellor_name=shift.counsellor.name,
        tier=shift.tier,
        start=local(shift.start_at, zone),
        end=local(shift.end_at, zone),
    )


@api
async def list_counsellors(request: Request) -> Work:
    config = request.app.state.settings.config
    team_slug = request.query_params.get("team")
    active = {"true": True, "false": False}.get(request.query_params.get("active", ""))

    def work(session: Session, who: Principal) -> Response:
        team = team_by_slug(session, team_slug, config) if team_slug else None
        rows = counsellor_cases.list_counsellors(session, team=team, active=active)
        seen = [c for c in rows if access.may_list_counsellor(who, [t.id for t in c.teams])]
        return json_response(CounsellorList(items=[_counsellor_out(c) for c in seen]))

    return work


async def _create_counsellor(request: Request) -> Work:
    payload = await body(request, CounsellorIn)
    config = request.app.state.settings.config
    new = counsellor_cases.NewCounsellor(
        name=payload.name, phone=payload.phone, email=payload.email, teams=tuple(payload.teams)
    )

    def work(session: Session, who: Principal) -> Response:
        for team in new.teams:
            _may_coordinate(who, team)
        counsellor = counsellor_cases.create_counsellor(session, config, new, actor=who.actor)
        return json_response(_counsellor_out(counsellor), 201)

    return work


create_counsellor = api(_create_counsellor, write=True)


@api
async def list_shifts(request: Request) -> Work:
    config = request.app.state.settings.config
    params = request.query_params
    start, end = _list_range(params)
    team_slug = params.get("team")
    counsellor_id = _positive_int(params.get("counsellor_id"), "counsellor_id")

    def work(session: Session, who: Principal) -> Response:
        team = team_by_slug(session, team_slug, config) if team_slug else None
        rows = shift_cases.list_shifts(
            session, start=start, end=end, team=team, counsellor_id=counsellor_id
        )
        seen = [s for s in rows if access.may_see_team(who, s.team_id)]
        return json_response(ShiftList(items=[_shift_out(s, request) for s in seen]))

    return work


async def _create_shift(request: Request) -> Work:
    payload = await body(request, ShiftIn)
    config = request.app.state.settings.config
    new = shift_cases.NewShift(
        team=payload.team,
        counsellor_id=payload.counsellor_id,
        tier=payload.tier,
        start=payload.start,
        end=payload.end,
    )

    def work(session: Session, who: Principal) -> Response:
        _may_coordinate(who, new.team)
        shift = shift_cases.create_shift(session, config, new, actor=who.actor)
        return json_response(_shift_out(shift, request), 201)

    return work


create_shift = api(_create_shift, write=True)


async def _delete_shift(request: Request) -> Work:
    shift_id = _positive_int(request.path_params["shift_id"], "shift_id")
    assert shift_id is not None

    def work(session: Session, who: Principal) -> Response:
        shift = session.get(Shift, shift_id)
        if shift is not None and not access.may_coordinate(who, shift.team_id):
            raise NotFound(f"no shift with id {shift_id}")  # as if it did not exist
        shift_cases.delete_shift(session, shift_id, actor=who.actor)
        return Response(status_code=204)

    return work


delete_shift = api(_delete_shift, write=True)


@api
async def oncall(request: Request) -> Work:
    config = request.app.state.settings.config
    team_slug = request.query_params.get("team")
    if not team_slug:
        raise BadRequest(error(422, "invalid", "team: required (a team slug)"))
    at = instant(request.query_params.get("at"), "at") or utcnow()

    def work(session: Session, who: Principal) -> Response:
        if team_slug in config.teams and not access.may_see_team(who, team_slug):
            raise BadRequest(error(403, "forbidden", "this API key may not see this team"))
        now = shift_cases.on_call(session, config, team_slug, at)
        zone = config.organisation.zone
        return json_response(
            OnCallOut(
                team=now.team.slug,
                at=local(at, zone),
                primary=[Person(id=c.id, name=c.name) for c in now.primary],
                backup=[Person(id=c.id, name=c.name) for c in now.backup],
                next_change=local(now.next_change, zone) if now.next_change else None,
            )
        )

    return work


# --- appointments -------------------------------------------------------------------------------


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
            phone=appointment_cases.masked_client_phone(box, appointment),
            sms_consent=appointment.sms_consent,
        ),
        start=local(appointment.start_at, zone),
        end=local(appointment.end_at, zone),
        mode=appointment.mode,
        location=appointment.location,
        video_link=appointment.video_link,
        status=appointment.status,
        sequence=appointment.sequence,
    )


def _one_out(
    session: Session, request: Request, appointment: Appointment, status_code: int = 200
) -> Response:
    names = appointment_cases.counsellor_names(session, {appointment.counsellor_id})
    box = crypto.box(request.app.state.settings)
    return json_response(_appointment_out(request, appointment, names, box), status_code)


def _overlap(exc: appointment_cases.Overlap, request: Request) -> BadRequest:
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
    params = request.query_params
    start, end = _list_range(params)
    team_slug = params.get("team")
    counsellor_id = _positive_int(params.get("counsellor_id"), "counsellor_id")

    def work(session: Session, who: Principal) -> Response:
        ids: set[int] | None = None
        if team_slug:
            ids = set(
                appointment_cases.team_counsellor_ids(team_by_slug(session, team_slug, config))
            )
        if counsellor_id is not None:
            ids = {counsellor_id} if ids is None else ids & {counsellor_id}
        found = appointment_cases.list_appointments(
            session, start=start, end=end, counsellor_ids=ids
        )
        teams = {
            c: access.counsellor_team_ids(session, c) for c in {row.counsellor_id for row in found}
        }
        rows = [
            row
            for row in found
            if access.may_change_appointment(who, row.counsellor_id, teams[row.counsellor_id])
        ]
        names = appointment_cases.counsellor_names(session, {row.counsellor_id for row in rows})
        box = crypto.box(request.app.state.settings)
        items = [_appointment_out(request, row, names, box) for row in rows]
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
    new = appointment_cases.NewAppointment(
        counsellor_id=payload.counsellor_id,
        client=appointment_cases.Client(
            payload.client.pseudonym, payload.client.phone, payload.client.sms_consent
        ),
        start=payload.start,
        end=payload.end,
        mode=payload.mode,
        location=payload.location,
        video_link=payload.video_link,
    )

    def work(session: Session, who: Principal) -> Response:
        try:
            teams = access.counsellor_team_ids(session, new.counsellor_id)
            if not access.may_change_appointment(who, new.counsellor_id, teams):
                raise BadRequest(error(403, "forbidden", "this API key may not book for them"))
            appointment = appointment_cases.book(session, settings, new, actor=who.actor)
        except appointment_cases.Overlap as exc:
            raise _overlap(exc, request) from exc
        return _one_out(session, request, appointment, 201)

    return work


book_appointment = api(_book, write=True)


def _appointment_id(request: Request) -> int:
    appointment_id = _positive_int(request.path_params["appointment_id"], "appointment_id")
    assert appointment_id is not None
    return appointment_id


@api
async def get_appointment(request: Request) -> Work:
    appointment_id = _appointment_id(request)

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = appointment_cases.get(session, appointment_id)
        return _one_out(session, request, appointment)

    return work


async def _cancel(request: Request) -> Work:
    appointment_id = _appointment_id(request)
    settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = appointment_cases.cancel(session, settings, appointment_id, actor=who.actor)
        return _one_out(session, request, appointment)

    return work


cancel_appointment = api(_cancel, write=True)


async def _reschedule(request: Request) -> Work:
    appointment_id = _appointment_id(request)
    payload = await body(request, RescheduleIn)
    settings = request.app.state.settings
    _local_times(settings, start=payload.start, end=payload.end)

    def work(session: Session, who: Principal) -> Response:
        try:
            _seen_appointment(session, who, appointment_id)
            appointment = appointment_cases.reschedule(
                session, settings, appointment_id, payload.start, payload.end, actor=who.actor
            )
        except appointment_cases.Overlap as exc:
            raise _overlap(exc, request) from exc
        return _one_out(session, request, appointment)

    return work


reschedule_appointment = api(_reschedule, write=True)


async def _set_status(request: Request) -> Work:
    appointment_id = _appointment_id(request)
    payload = await body(request, StatusIn)
    settings = request.app.state.settings
    status = AppointmentStatus(payload.status)

    def work(session: Session, who: Principal) -> Response:
        _seen_appointment(session, who, appointment_id)
        appointment = appointment_cases.mark(
            session, settings, appointment_id, status, actor=who.actor
        )
        return _one_out(session, request, appointment)

    return work


set_appointment_status = api(_set_status, write=True)


def _may_coordinate(who: Principal, team: str) -> None:
    """Changing a team's data needs its coordination (an unknown team is the use case's 422)."""
    if not access.may_coordinate(who, team):
        raise BadRequest(error(403, "forbidden", f"this API key may not change team {team!r}"))


def _seen_appointment(session: Session, who: Principal, appointment_id: int) -> None:
    """An appointment the key may not see is answered like a missing one (404)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return  # the use case says it is missing
    teams = access.counsellor_team_ids(session, appointment.counsellor_id)
    if not access.may_change_appointment(who, appointment.counsellor_id, teams):
        raise NotFound(f"no appointment with id {appointment_id}")


def _positive_int(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 12:
        raise BadRequest(error(422, "invalid", f"{name}: not a positive integer"))
    return int(raw)


async def _counsellors(request: Request) -> Response:
    handler = create_counsellor if request.method == "POST" else list_counsellors
    return await handler(request)


async def _shifts(request: Request) -> Response:
    handler = create_shift if request.method == "POST" else list_shifts
    return await handler(request)


async def _appointments(request: Request) -> Response:
    handler = book_appointment if request.method == "POST" else list_appointments
    return await handler(request)


routes = [
    Route("/api/v1/counsellors", _counsellors, methods=["GET", "POST"]),
    Route("/api/v1/shifts", _shifts, methods=["GET", "POST"]),
    Route("/api/v1/shifts/{shift_id}", delete_shift, methods=["DELETE"]),
    Route("/api/v1/oncall", oncall, methods=["GET"]),
    Route("/api/v1/appointments", _appointments, methods=["GET", "POST"]),
    Route("/api/v1/appointments/{appointment_id}", get_appointment, methods=["GET"]),
    Route("/api/v1/appointments/{appointment_id}/cancel", cancel_appointment, methods=["POST"]),
    Route(
        "/api/v1/appointments/{appointment_id}/reschedule",
        reschedule_appointment,
        methods=["POST"],
    ),
    Route("/api/v1/appointments/{appointment_id}/status", set_appointment_status, methods=["POST"]),
]
