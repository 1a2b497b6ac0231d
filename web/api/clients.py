"""/api/v1/clients: create a client record, read it with its timeline, change it (its details,
status and next review date, as the client's page does), and its exit plan's steps (`/plan`:
list, add, change one). A key sees and changes the clients of its teams
(`foundation.access.may_see_client`; a read-only key only reads); another team's client is
answered like a missing one (404). The number leaves only masked; reading a client or its plan
is written to the access log."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, access_log, crypto
from foundation.access import Principal
from foundation.models import Client, PlanStep, Team
from scheduling.clients import plan, records, timeline
from scheduling.clients.records import ClientEdit, NewClient
from web.api.plumbing import BadRequest, Work, api, body, get_or_post, one_route, path_id
from web.responses import created, error, json_response, local
from web.schemas import (
    ClientChangeIn,
    ClientRecordOut,
    NewClientIn,
    PlanOut,
    PlanStepChangeIn,
    PlanStepIn,
    PlanStepOut,
    TimelineEntryOut,
)


def _client_out(
    session: Session, settings: Settings, client: Client, *, with_timeline: bool = True
) -> ClientRecordOut:
    zone = settings.config.organisation.zone
    team = session.get(Team, client.team_id)
    entries = timeline.entries(session, client.id) if with_timeline else []
    return ClientRecordOut(
        id=client.id,
        team=team.slug if team else "",
        pseudonym=client.pseudonym,
        phone=records.masked(crypto.box(settings), client),
        sms_consent=client.sms_consent,
        relative=client.relative,
        preferred_channel=client.preferred_channel,
        language=client.language,
        status=client.status,
        status_changed_at=local(client.status_changed_at, zone),
        started_at=local(client.started_at, zone) if client.started_at else None,
        paused_at=local(client.paused_at, zone) if client.paused_at else None,
        ended_at=local(client.ended_at, zone) if client.ended_at else None,
        created_at=local(client.created_at, zone),
        review_on=client.review_on,
        counsellor_ids=sorted(c.id for c in client.counsellors),
        timeline=[
            TimelineEntryOut(
                kind=e.kind,
                id=e.record_id,
                at=local(e.at, zone),
                end=local(e.end, zone) if e.end else None,
                status=e.status,
                channel=e.channel,
                line=e.line,
            )
            for e in entries
        ],
    )


def _step_out(settings: Settings, step: plan.StepView) -> PlanStepOut:
    zone = settings.config.organisation.zone
    return PlanStepOut(
        id=step.id,
        title=step.title,
        notes=step.notes,
        status=step.status,
        position=step.position,
        status_changed_at=local(step.status_changed_at, zone),
    )


async def _create(request: Request) -> Work:
    payload = await body(request, NewClientIn)
    settings: Settings = request.app.state.settings
    new = NewClient(
        team=payload.team,
        pseudonym=payload.pseudonym,
        phone=payload.phone,
        sms_consent=payload.sms_consent,
        relative=payload.relative,
        preferred_channel=payload.preferred_channel,
        counsellor_ids=tuple(payload.counsellor_ids or ()),
        language=payload.language,
    )

    def work(session: Session, who: Principal) -> Response:
        if payload.team in settings.config.teams and not access.may_change_client(
            who, payload.team
        ):
            raise BadRequest(
                error(403, "forbidden", f"this API key may not create clients of {payload.team!r}")
            )
        client = records.create(session, settings, new, by=who)
        out = _client_out(session, settings, client, with_timeline=False)
        return created(out, f"/api/v1/clients/{client.id}")

    return work


create_client = api(_create, write=True)


@api
async def get_client(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    settings: Settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        client = records.visible(session, client_id, who)
        out = _client_out(session, settings, client)
        access_log.log_opened(request.app.state.db, who, "client", [client.id])
        return json_response(out)

    return work


def _edit(client: Client, payload: ClientChangeIn) -> ClientEdit | None:
    """The details as the PATCH leaves them (what it does not name stays), or None when it
    names none of them."""
    given = payload.model_fields_set
    details = {"pseudonym", "phone", "sms_consent", "relative", "preferred_channel", "language"}
    if not given & (details | {"counsellor_ids"}):
        return None
    phone = payload.phone if "phone" in given else None
    return ClientEdit(
        pseudonym=payload.pseudonym if payload.pseudonym is not None else client.pseudonym,
        sms_consent=(
            payload.sms_consent if payload.sms_consent is not None else client.sms_consent
        ),
        relative=payload.relative if payload.relative is not None else client.relative,
        preferred_channel=(
            payload.preferred_channel if "preferred_channel" in given else client.preferred_channel
        ),
        counsellor_ids=(
            tuple(payload.counsellor_ids) if payload.counsellor_ids is not None else None
        ),
        phone=phone or None,
        clear_phone="phone" in given and not phone,
        language=payload.language,
    )


async def _change(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    payload = await body(request, ClientChangeIn)
    settings: Settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        client = records.changeable(session, client_id, who)
        edit = _edit(client, payload)
        if edit is not None:
            records.update(session, settings, client.id, edit, by=who)
        if payload.status is not None:
            records.change_status(session, client.id, payload.status, by=who)
        if "review_on" in payload.model_fields_set:
            plan.set_review(session, client.id, payload.review_on, by=who)
        session.flush()
        out = _client_out(session, settings, client)
        access_log.opened(session, who, "client", [client.id])
        return json_response(out)

    return work


change_client = api(_change, write=True)


@api
async def get_plan(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    settings: Settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        client = records.visible(session, client_id, who)
        steps = [_step_out(settings, s) for s in plan.steps(session, settings, client.id)]
        access_log.log_opened(request.app.state.db, who, "client", [client.id])
        return json_response(PlanOut(review_on=client.review_on, steps=steps))

    return work


async def _add_step(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    payload = await body(request, PlanStepIn)
    settings: Settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        step: PlanStep = plan.add_step(
            session,
            settings,
            client_id,
            payload.title,
            payload.notes or "",
            status=payload.status,
            by=who,
        )
        shown = plan.step_of(session, settings, client_id, step.id)
        return created(_step_out(settings, shown), f"/api/v1/clients/{client_id}/plan/{step.id}")

    return work


add_step = api(_add_step, write=True)


async def _change_step(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    step_id = path_id(request, "step_id")
    payload = await body(request, PlanStepChangeIn)
    settings: Settings = request.app.state.settings
    edit = plan.StepEdit(
        title=payload.title, notes=payload.notes, status=payload.status, position=payload.position
    )

    def work(session: Session, who: Principal) -> Response:
        plan.change_step(session, settings, client_id, step_id, edit, by=who)
        return json_response(
            _step_out(settings, plan.step_of(session, settings, client_id, step_id))
        )

    return work


change_step = api(_change_step, write=True)


routes = [
    Route("/api/v1/clients", create_client, methods=["POST"]),
    Route("/api/v1/clients/{client_id}", one_route(get_client), methods=["GET"]),
    Route(
        "/api/v1/clients/{client_id}/plan",
        get_or_post(get_plan, add_step),
        methods=["GET", "POST"],
    ),
    Route("/api/v1/clients/{client_id}/plan/{step_id}", change_step, methods=["PATCH"]),
]
