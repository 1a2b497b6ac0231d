"""/api/v1/oncall: who is on call in a team at a moment (now unless given), primary and
backup in calling order, and when that changes next."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation.access import Principal
from foundation.clock import utcnow
from scheduling import shifts
from web.api.plumbing import BadRequest, Work, api, instant
from web.responses import error, json_response, local
from web.schemas import OnCallOut, Person


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
        now = shifts.on_call(session, config, team_slug, at)
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


routes = [
    Route("/api/v1/oncall", oncall, methods=["GET"]),
]
