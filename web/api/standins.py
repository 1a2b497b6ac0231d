"""/api/v1/standins: list the stand-ins of the teams the key may see, and enter, read or
delete one in a team it coordinates (another team's stand-in is answered like a missing one).
The rota page's use case runs (`scheduling.standins`): the same checks, the same audit, and
the same marks on the shifts it changes (`scheduling.cover`, which the feeds read)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation.access import Principal
from foundation.models import StandIn
from scheduling import standins as cases
from web.api.plumbing import (
    Work,
    api,
    body,
    get_or_post,
    listing,
    must_coordinate,
    must_see,
    one_route,
    own,
    path_id,
)
from web.responses import created, json_response, local
from web.schemas import StandInIn, StandInList, StandInOut

PATH = "/api/v1/standins"
NOUN = "stand-in"


def _stand_in_out(stand_in: StandIn, request: Request) -> StandInOut:
    zone = request.app.state.settings.config.organisation.zone
    return StandInOut(
        id=stand_in.id,
        team=stand_in.team.slug,
        absent_id=stand_in.absent_id,
        absent_name=stand_in.absent.name,
        substitute_id=stand_in.substitute_id,
        substitute_name=stand_in.substitute.name,
        start=local(stand_in.start_at, zone),
        end=local(stand_in.end_at, zone),
        note=stand_in.note,
    )


@api
async def list_stand_ins(request: Request) -> Work:
    config = request.app.state.settings.config
    query = listing(request.query_params)

    def work(session: Session, who: Principal) -> Response:
        must_see(who, query.team)
        rows = cases.list_stand_ins(
            session, config, query.team, query.start, query.end, counsellor_id=query.counsellor_id
        )
        seen = [s for s in rows if access.may_see_team(who, s.team_id)]
        return json_response(StandInList(items=[_stand_in_out(s, request) for s in seen]))

    return work


async def _create_stand_in(request: Request) -> Work:
    payload = await body(request, StandInIn)
    config = request.app.state.settings.config
    new = cases.NewStandIn(**payload.model_dump())  # the same fields

    def work(session: Session, who: Principal) -> Response:
        must_coordinate(who, new.team)
        stand_in = cases.create_stand_in(session, config, new, actor=who.actor)
        return created(_stand_in_out(stand_in, request), f"{PATH}/{stand_in.id}")

    return work


create_stand_in = api(_create_stand_in, write=True)


@api
async def get_stand_in(request: Request) -> Work:
    stand_in_id = path_id(request, "stand_in_id")

    def work(session: Session, who: Principal) -> Response:
        stand_in = own(
            session, StandIn, stand_in_id, NOUN, lambda s: access.may_see_team(who, s.team_id)
        )
        return json_response(_stand_in_out(stand_in, request))

    return work


async def _delete_stand_in(request: Request) -> Work:
    stand_in_id = path_id(request, "stand_in_id")

    def work(session: Session, who: Principal) -> Response:
        own(session, StandIn, stand_in_id, NOUN, lambda s: access.may_coordinate(who, s.team_id))
        cases.delete_stand_in(session, stand_in_id, actor=who.actor)
        return Response(status_code=204)

    return work


delete_stand_in = api(_delete_stand_in, write=True)


routes = [
    Route(PATH, get_or_post(list_stand_ins, create_stand_in), methods=["GET", "POST"]),
    Route(
        f"{PATH}/{{stand_in_id}}",
        one_route(get_stand_in, delete=delete_stand_in),
        methods=["GET", "DELETE"],
    ),
]
