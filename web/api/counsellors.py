"""/api/v1/counsellors: list them (those of the teams the key may see) and add one (to teams
the key coordinates)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation.access import Principal
from foundation.models import Counsellor
from foundation.teams import team_by_slug
from scheduling import counsellors as cases
from web.api.plumbing import (
    BadRequest,
    Work,
    api,
    body,
    get_or_post,
    must_coordinate,
    must_see,
)
from web.responses import error, json_response
from web.schemas import CounsellorIn, CounsellorList, CounsellorOut


def _counsellor_out(counsellor: Counsellor) -> CounsellorOut:
    return CounsellorOut(
        id=counsellor.id,
        name=counsellor.name,
        phone=counsellor.phone,
        email=counsellor.email,
        active=counsellor.active,
        teams=[team.slug for team in counsellor.teams],
        languages=list(counsellor.languages),
    )


@api
async def list_counsellors(request: Request) -> Work:
    config = request.app.state.settings.config
    team_slug = request.query_params.get("team")
    given = request.query_params.get("active")
    active = {"true": True, "false": False}.get(given or "")
    if given is not None and active is None:
        raise BadRequest(error(422, "invalid", "active: true or false"))

    def work(session: Session, who: Principal) -> Response:
        team = team_by_slug(session, team_slug, config) if team_slug is not None else None
        must_see(who, team_slug)
        rows = cases.list_counsellors(session, team=team, active=active)
        seen = [c for c in rows if access.may_list_counsellor(who, [t.id for t in c.teams])]
        return json_response(CounsellorList(items=[_counsellor_out(c) for c in seen]))

    return work


async def _create_counsellor(request: Request) -> Work:
    payload = await body(request, CounsellorIn)
    config = request.app.state.settings.config
    new = cases.NewCounsellor(
        name=payload.name,
        phone=payload.phone,
        email=payload.email,
        teams=tuple(payload.teams),
        languages=tuple(payload.languages),
    )

    def work(session: Session, who: Principal) -> Response:
        for team in new.teams:
            must_coordinate(who, team)
        counsellor = cases.create_counsellor(session, config, new, actor=who.actor)
        return json_response(_counsellor_out(counsellor), 201)

    return work


create_counsellor = api(_create_counsellor, write=True)


routes = [
    Route(
        "/api/v1/counsellors",
        get_or_post(list_counsellors, create_counsellor),
        methods=["GET", "POST"],
    ),
]
