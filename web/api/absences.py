"""/api/v1/absences: list, enter, read and delete absences. An absence is a person's, in every
team: the key sees those of the counsellors of the teams it may see, and changes those of the
counsellors of a team it coordinates (`foundation.access.may_see_absence`,
`may_change_absence`; another's named in the URL is answered like a missing one, in the body
with 403). The rota page's use case runs
(`scheduling.absences`): the same checks, the same audit, the same marks on the shifts."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation.access import Principal
from foundation.models import Absence
from foundation.teams import team_by_slug
from scheduling import absences as cases
from web.api.plumbing import (
    BadRequest,
    Work,
    api,
    body,
    get_or_post,
    listing,
    must_see,
    one_route,
    own,
    path_id,
)
from web.responses import created, error, json_response, local
from web.schemas import AbsenceIn, AbsenceList, AbsenceOut

PATH = "/api/v1/absences"
NOUN = "absence"


def _absence_out(absence: Absence, request: Request) -> AbsenceOut:
    zone = request.app.state.settings.config.organisation.zone
    return AbsenceOut(
        id=absence.id,
        counsellor_id=absence.counsellor_id,
        counsellor_name=absence.counsellor.name,
        kind=absence.kind,
        start=local(absence.start_at, zone),
        end=local(absence.end_at, zone),
        note=absence.note,
    )


def _teams(absence: Absence) -> list[int]:
    return [team.id for team in absence.counsellor.teams]


@api
async def list_absences(request: Request) -> Work:
    config = request.app.state.settings.config
    query = listing(request.query_params)

    def work(session: Session, who: Principal) -> Response:
        team = team_by_slug(session, query.team, config) if query.team is not None else None
        must_see(who, query.team)
        ids = [c.id for c in team.counsellors] if team else None
        if query.counsellor_id is not None:
            ids = [query.counsellor_id] if ids is None or query.counsellor_id in ids else []
        rows = cases.list_absences(session, query.start, query.end, counsellor_ids=ids)
        seen = [a for a in rows if access.may_see_absence(who, _teams(a))]
        return json_response(AbsenceList(items=[_absence_out(a, request) for a in seen]))

    return work


async def _create_absence(request: Request) -> Work:
    payload = await body(request, AbsenceIn)
    new = cases.NewAbsence(**payload.model_dump())  # the same fields

    def work(session: Session, who: Principal) -> Response:
        teams = access.counsellor_team_ids(session, new.counsellor_id)
        if not access.may_change_absence(who, teams):
            message = "this API key may not change this counsellor's absences"
            raise BadRequest(error(403, "forbidden", message))
        absence = cases.create_absence(session, new, actor=who.actor)
        return created(_absence_out(absence, request), f"{PATH}/{absence.id}")

    return work


create_absence = api(_create_absence, write=True)


@api
async def get_absence(request: Request) -> Work:
    absence_id = path_id(request, "absence_id")

    def work(session: Session, who: Principal) -> Response:
        absence = own(
            session, Absence, absence_id, NOUN, lambda a: access.may_see_absence(who, _teams(a))
        )
        return json_response(_absence_out(absence, request))

    return work


async def _delete_absence(request: Request) -> Work:
    absence_id = path_id(request, "absence_id")

    def work(session: Session, who: Principal) -> Response:
        own(session, Absence, absence_id, NOUN, lambda a: access.may_change_absence(who, _teams(a)))
        cases.delete_absence(session, absence_id, actor=who.actor)
        return Response(status_code=204)

    return work


delete_absence = api(_delete_absence, write=True)


routes = [
    Route(PATH, get_or_post(list_absences, create_absence), methods=["GET", "POST"]),
    Route(
        f"{PATH}/{{absence_id}}",
        one_route(get_absence, delete=delete_absence),
        methods=["GET", "DELETE"],
    ),
]
