"""/api/v1/shifts: list the shifts of the teams the key may see, and add or delete one in a
team it coordinates (another team's shift is answered like a missing one)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation.access import Principal
from foundation.models import Shift
from foundation.teams import team_by_slug
from scheduling import shifts as cases
from web.api.plumbing import (
    Work,
    api,
    body,
    get_or_post,
    listing,
    must_coordinate,
    must_see,
    own,
    path_id,
)
from web.responses import json_response, local
from web.schemas import ShiftIn, ShiftList, ShiftOut


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
async def list_shifts(request: Request) -> Work:
    config = request.app.state.settings.config
    query = listing(request.query_params)

    def work(session: Session, who: Principal) -> Response:
        team = team_by_slug(session, query.team, config) if query.team is not None else None
        must_see(who, query.team)
        rows = cases.list_shifts(
            session,
            start=query.start,
            end=query.end,
            team=team,
            counsellor_id=query.counsellor_id,
        )
        seen = [s for s in rows if access.may_see_team(who, s.team_id)]
        return json_response(ShiftList(items=[_shift_out(s, request) for s in seen]))

    return work


async def _create_shift(request: Request) -> Work:
    payload = await body(request, ShiftIn)
    config = request.app.state.settings.config
    new = cases.NewShift(
        team=payload.team,
        counsellor_id=payload.counsellor_id,
        tier=payload.tier,
        start=payload.start,
        end=payload.end,
    )

    def work(session: Session, who: Principal) -> Response:
        must_coordinate(who, new.team)
        shift = cases.create_shift(session, config, new, actor=who.actor)
        return json_response(_shift_out(shift, request), 201)

    return work


create_shift = api(_create_shift, write=True)


async def _delete_shift(request: Request) -> Work:
    shift_id = path_id(request, "shift_id")

    def work(session: Session, who: Principal) -> Response:
        own(session, Shift, shift_id, "shift", lambda s: access.may_coordinate(who, s.team_id))
        cases.delete_shift(session, shift_id, actor=who.actor)
        return Response(status_code=204)

    return work


delete_shift = api(_delete_shift, write=True)


routes = [
    Route("/api/v1/shifts", get_or_post(list_shifts, create_shift), methods=["GET", "POST"]),
    Route("/api/v1/shifts/{shift_id}", delete_shift, methods=["DELETE"]),
]
