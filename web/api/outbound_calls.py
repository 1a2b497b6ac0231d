"""/api/v1/callbacks: start an outbound call (a call-back through the line) for a counsellor,
and follow it (the path, a public contract, keeps its name).

Starting one is not a single transaction like the rest of the API (`plumbing.api`): the call-back is
recorded, then Twilio is asked to ring the counsellor without a database lock held, then the
answer is recorded (hotline.outbound_calls.placing.call_back).
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access_log
from foundation.access import Principal
from foundation.errors import DomainError
from hotline.outbound_calls import placing, summaries
from hotline.outbound_calls.targets import KINDS
from web.api.plumbing import BadRequest, Work, api, body, caller, not_json, path_id
from web.responses import domain_error, error, json_response, local
from web.schemas import CallBackIn, CallBackOut

ENTITY = {kind: spec.entity for kind, spec in KINDS.items()}
NOT_PLACED = {
    "not_placed": "Twilio did not place the call (see the log); call-back {id} is recorded as "
    "not_placed, nobody was called",
    "uncertain": "Twilio may or may not have placed the call; call-back {id} is recorded as "
    "uncertain: look at its status before trying again",
}


def _out(settings: Settings, summary: summaries.Summary) -> CallBackOut:
    zone = settings.config.organisation.zone
    # Validated: status and kind are the documented values by construction.
    return CallBackOut.model_validate(
        {
            "id": summary.id,
            "status": summary.status,
            "target": {"kind": ENTITY[summary.kind], "id": summary.target_id},
            "counsellor_id": summary.counsellor_id,
            "counsellor_name": summary.counsellor,
            "line": summary.line,
            "client_phone": summary.client_phone,
            "call_sid": summary.call_sid,
            "created_at": local(summary.created_at, zone),
            "bridged_at": local(summary.bridged_at, zone) if summary.bridged_at else None,
            "client_status": summary.client_status,
        }
    )


def _target(payload: CallBackIn) -> tuple[str, int]:
    for kind, value in (
        ("callback", payload.callback_request_id),
        ("voicemail", payload.voicemail_id),
        ("appointment", payload.appointment_id),
    ):
        if value is not None:
            return kind, value
    raise AssertionError("CallBackIn names exactly one target")


async def create(request: Request) -> Response:
    """201 with the call-back; 4xx (nothing changed) on bad input; 502 if Twilio did not (or
    may not have) placed the call."""
    who = await caller(request)
    if isinstance(who, Response):
        return who
    if not who.may_write:
        return error(403, "forbidden", "this API key is read-only")
    refused = not_json(request)
    if refused is not None:
        return refused
    try:
        payload = await body(request, CallBackIn)
    except BadRequest as exc:
        return exc.response
    settings: Settings = request.app.state.settings
    db, provider = request.app.state.db, request.app.state.provider
    kind, target_id = _target(payload)

    def run() -> tuple[placing.Started, summaries.Summary]:
        ask = placing.Ask(
            kind, target_id, payload.counsellor_id, who, member_only=True, line=payload.line
        )
        started = placing.call_back(db, settings, provider, ask)
        with db.read() as session:
            return started, summaries.get(session, settings, started.call_id, who)

    try:
        started, summary = await run_in_threadpool(run)
    except DomainError as exc:
        return domain_error(exc)
    if started.status in NOT_PLACED:
        message = NOT_PLACED[started.status].format(id=started.call_id)
        return error(502, started.status, message)
    return json_response(_out(settings, summary), 201)


@api
async def show(request: Request) -> Work:
    call_id = path_id(request, "call_id")
    settings: Settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        summary = summaries.get(session, settings, call_id, who)
        access_log.log_opened(request.app.state.db, who, "outbound_call", [call_id])
        return json_response(_out(settings, summary))

    return work


routes = [
    Route("/api/v1/callbacks", create, methods=["POST"]),
    Route("/api/v1/callbacks/{call_id}", show, methods=["GET"]),
]
