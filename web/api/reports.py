"""/api/v1/reports: a team's report for a period (local days in Europe/Berlin, `from` and `to`
both included), compared with the previous period of equal kind. Small counts are the string
"<k" (foundation.reports); the body is `foundation.report_tables.as_json`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access
from foundation import reports as r
from foundation.access import Principal
from foundation.clock import FIRST_DAY, LAST_DAY
from foundation.report_tables import as_json
from web import report_data
from web.api.plumbing import BadRequest, Work, api
from web.responses import error, json_response
from web.schemas import ReportOut


def day(raw: str | None, name: str, zone: str) -> date:
    """A local day: 2026-10-01, or an instant with offset (its local day)."""
    if not raw:
        raise BadRequest(error(422, "invalid", f"{name}: required (a day like 2026-10-01)"))
    try:
        found = date.fromisoformat(raw) if len(raw) == 10 else None
        if found is None:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                raise ValueError("no offset")
            found = moment.astimezone(r.Period("range", FIRST_DAY, FIRST_DAY, zone).tz).date()
    except (ValueError, OverflowError) as exc:  # an offset that moves year 1 or 9999 out
        raise BadRequest(
            error(422, "invalid", f"{name}: not a day like 2026-10-01 (or a time with offset)")
        ) from exc
    if not FIRST_DAY <= found <= LAST_DAY:
        raise BadRequest(
            error(422, "invalid", f"{name}: between {FIRST_DAY.year} and {LAST_DAY.year}")
        )
    return found


@api
async def report(request: Request) -> Work:
    config = request.app.state.settings.config
    params = request.query_params
    team = params.get("team")
    if not team:
        raise BadRequest(error(422, "invalid", "team: required (a team slug)"))
    zone = config.organisation.timezone
    first, last = day(params.get("from"), "from", zone), day(params.get("to"), "to", zone)
    try:
        period = r.between(first, last, zone)
    except ValueError as exc:
        raise BadRequest(error(422, "invalid", f"to: {exc}")) from exc

    def work(session: Session, who: Principal) -> Response:
        # A key of some teams gets the same 403 for another team and an unknown one (nor
        # learns the others' slugs); a key of every team is told which teams there are.
        if not access.may_see_report(who, team):
            raise BadRequest(error(403, "forbidden", "this API key may not see this team"))
        if team not in config.teams:
            known = ", ".join(sorted(config.teams))
            raise BadRequest(error(422, "invalid", f"team: unknown team {team!r} (known: {known})"))
        body = as_json(report_data.build(session, config, team, period))
        return json_response(ReportOut.model_validate(body))

    return work


routes = [
    Route("/api/v1/reports", report, methods=["GET"]),
]
