"""The "Berichte" page (issue 17): a team's report for a chosen period (a week, month, quarter,
year, or from–to; local days in the organisation's zone), compared with the previous period
of equal kind; its charts (web.report_charts), its tables (web.report_views) and each table as
CSV. Admins see every team's report, coordinators their teams' (foundation.access
.may_see_report); counsellors none; another team's and an unknown one are the same 403. A
period the page cannot show (an unreadable day, the end before the beginning, more than five
years) is the form again with a message (422). The page speaks the account's language; the
CSV stays German (web.report_views)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from config.model import SLUG
from config.settings import Settings
from foundation import access
from foundation import reports as r
from foundation.clock import utcnow
from foundation.models import Role
from foundation.report_tables import csv_text
from web import report_charts, report_data, report_views
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _
from web.pages import as_day, render

STAFF = (Role.ADMIN, Role.COORDINATOR)
TABLE_NAME = re.compile(r"[a-z0-9-]{1,80}")
MESSAGES = {
    "period": N_("Bitte wählen Sie Woche, Monat, Quartal, Jahr oder „Von–bis“."),
    "date": N_("Bitte geben Sie einen Tag an, der im Zeitraum liegt (ein Datum wie 01.10.2026)."),
    "from": N_("Bitte geben Sie den ersten Tag als Datum an (wie 01.10.2026)."),
    "to": N_("Bitte geben Sie den letzten Tag als Datum an (wie 31.10.2026)."),
    "order": N_("Der letzte Tag liegt vor dem ersten. Bitte tauschen Sie die beiden Tage."),
    "long": N_(
        "Ein Bericht umfasst höchstens fünf Jahre. Bitte wählen Sie einen kürzeren Zeitraum."
    ),
}


@dataclass
class Choice:
    """The period the query string asks for, or what is wrong with it (field → message)."""

    period: r.Period | None
    form: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def choose(params: QueryParams, zone: str, today: date) -> Choice:
    kind = params.get("period", "month")
    form = {name: params.get(name, "") for name in ("date", "from", "to")} | {"period": kind}
    if kind not in r.PERIOD_KINDS:
        return Choice(None, form | {"period": "month"}, {"period": _(MESSAGES["period"])})
    if kind != "range":
        raw = params.get("date")
        day = as_day(raw) if raw else today
        if day is None:
            return Choice(None, form, {"date": _(MESSAGES["date"])})
        period = r.of_kind(kind, day, zone)
        return Choice(period, form | {"date": day.isoformat()})
    first, last = as_day(params.get("from")), as_day(params.get("to"))
    errors = {name: _(MESSAGES[name]) for name, day in (("from", first), ("to", last)) if not day}
    if first is None or last is None:
        return Choice(None, form, errors)
    if last < first:
        return Choice(None, form, {"to": _(MESSAGES["order"])})
    if (last - first).days + 1 > r.MAX_DAYS:
        return Choice(None, form, {"to": _(MESSAGES["long"])})
    return Choice(r.between(first, last, zone), form)


def _team(request: Request, viewer: Viewer) -> str:
    """The team of the URL. Another team's and an unknown one are the same 403 (as the rota's
    pages: team slugs are configuration, but which exist is not told by the answer)."""
    settings: Settings = request.app.state.settings
    team = str(request.path_params["team"])
    if team not in settings.config.teams or not access.may_see_report(viewer.principal, team):
        raise Forbidden
    return team


def _today(settings: Settings) -> date:
    return utcnow().astimezone(settings.config.organisation.zone).date()


async def _view(request: Request, team: str, period: r.Period) -> report_views.ReportView:
    settings: Settings = request.app.state.settings

    def build() -> r.Report:
        with request.app.state.db.read() as session:
            return report_data.build(session, settings.config, team, period)

    return report_views.view(await run_in_threadpool(build))


def charts(view: report_views.ReportView) -> dict[str, object]:
    """The SVG of each chart, by the name of the table it draws."""
    report, k = view.report, view.report.min_count
    now, before = report_views.title(report.period), report_views.title(report.previous)
    drawn: dict[str, object] = {
        "leitungen": report_charts.bars(
            "c-leitungen",
            _("Anrufe je Leitung"),
            [
                report_charts.Bar(line.name, line.calls.total.now, line.calls.total.before)
                for line in report.lines
            ],
            k,
            now,
            before,
        )
    }
    for line in view.lines:
        c = line.line.calls
        outcomes = [
            (_("Angenommen"), c.accepted),
            (_("Ausweichnummer"), c.fallback),
            (_("Mailbox"), c.voicemail),
            (_("Aufgelegt vor Annahme"), c.abandoned),
            (_("Außerhalb der Erreichbarkeit"), c.outside_hours),
        ]
        drawn[line.tables[0].name] = report_charts.bars(
            f"c-{line.tables[0].name}",
            _("Anrufe nach Ausgang: %(line)s", line=line.line.name),
            [report_charts.Bar(label, v.now, v.before) for label, v in outcomes],
            k,
            now,
            before,
        )
        drawn[line.heat.name] = report_charts.heat_map(
            f"c-{line.heat.name}", line.heat.title, line.heat.cells, k
        )
    return drawn


@page(*STAFF)
async def reports_index(request: Request, viewer: Viewer) -> Response:
    """The report of the team the form names (the form sends ?team= and every field, the
    empty ones left out here), else of the viewer's first team."""
    settings: Settings = request.app.state.settings
    seen = [s for s in settings.config.teams if access.may_see_report(viewer.principal, s)]
    if not seen:
        raise Forbidden
    asked = request.query_params.get("team", "")
    # Any team asked for, known or not, leads to its page (and its 403 if not the viewer's):
    # the redirect does not tell which teams exist.
    team = asked if SLUG.fullmatch(asked) else seen[0]
    rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "team" and v])
    return RedirectResponse(f"/reports/{team}" + (f"?{rest}" if rest else ""), status_code=303)


@page(*STAFF)
async def report_page(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    team = _team(request, viewer)
    choice = choose(request.query_params, settings.config.organisation.timezone, _today(settings))
    context: dict[str, object] = {
        "viewer": viewer,
        "team": team,
        "team_name": settings.config.teams[team].name,
        "teams": [
            (slug, spec.name)
            for slug, spec in settings.config.teams.items()
            if access.may_see_report(viewer.principal, slug)
        ],
        "form": choice.form,
        "errors": choice.errors,
        "period_names": {kind: _(name) for kind, name in report_views.PERIOD_NAMES.items()},
        "v": report_views,
    }
    if choice.period is None:
        return render(request, "reports.html", context, 422)
    view = await _view(request, team, choice.period)
    previous, following = choice.period.previous(), report_views.following(choice.period)
    context |= {
        "view": view,
        "report": view.report,
        "k": view.report.min_count,
        "charts": charts(view),
        "query": report_views.query(choice.period),
        "previous_query": report_views.query(previous) if as_day(previous.first) else None,
        "following_query": report_views.query(following) if as_day(following.last) else None,
    }
    return render(request, "reports.html", context)


@page(*STAFF)
async def report_csv(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    team = _team(request, viewer)
    name = request.path_params["table"]
    if not TABLE_NAME.fullmatch(name):
        raise Hidden
    choice = choose(request.query_params, settings.config.organisation.timezone, _today(settings))
    if choice.period is None:
        return PlainTextResponse(" ".join(choice.errors.values()), 422)
    view = await _view(request, team, choice.period)
    table = view.table(name)
    if table is None:
        raise Hidden
    period = choice.period
    filename = f"bericht-{team}-{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        csv_text(report_views.csv_table(table, view.report)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


routes = [
    Route("/reports", reports_index, methods=["GET"]),
    Route("/reports/{team}", report_page, methods=["GET"]),
    Route("/reports/{team}/{table}.csv", report_csv, methods=["GET"]),
]
