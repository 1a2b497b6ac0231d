"""The rota page of a team: the period's timeline (web.rota_timeline) with the forms to
change it. The forms post to web.rota_edit_pages (shifts, stand-ins, absences) and
web.rotation_pages (the rotation generator); a refused form shows this page again with
messages next to its fields (in the viewer's language). All times are entered and shown in the
organisation's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import joinedload
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Counsellor, Shift
from foundation.teams import team_by_slug
from scheduling import absences, shifts, standins
from scheduling.busy import times
from scheduling.rotation import PlannedShift
from web import labels, rota_days
from web.auth import Forbidden, Viewer, page
from web.i18n import N_
from web.pages import as_day, as_int, render
from web.rota_period import Period, period_of
from web.rota_timeline import Uncovered, timeline, uncovered

T = TypeVar("T")
MESSAGES = {
    "start": N_(
        "Bitte geben Sie Beginn als Datum und Uhrzeit an (eine Uhrzeit, die es gibt: "
        "am Tag der Umstellung auf Sommerzeit fehlt 02:00–03:00)."
    ),
    "end": N_("Das Ende muss nach dem Beginn liegen (höchstens 31 Tage)."),
    "end_time": N_(
        "Bitte geben Sie das Ende als Datum und Uhrzeit an (eine Uhrzeit, die es gibt: "
        "am Tag der Umstellung auf Sommerzeit fehlt 02:00–03:00)."
    ),
    "counsellor_id": N_("Bitte wählen Sie eine Person aus diesem Team."),
    "substitute_id": N_("Bitte wählen Sie eine andere, aktive Person aus diesem Team."),
    "absent_id": N_("Bitte wählen Sie eine Person aus diesem Team."),
    "team": N_("Dieses Team gibt es nicht."),
    "tier": N_("Bitte wählen Sie „Erreichbar“ oder „Hintergrund“."),
    "kind": N_("Bitte wählen Sie Urlaub, krank oder sonstige Abwesenheit."),
}


# --- loading ----------------------------------------------------------------------------------


def _team_data(db: Database, settings: Settings, team: str, period: Period) -> dict[str, Any]:
    config = settings.config
    with db.read() as session:
        team_row = team_by_slug(session, team, config)
        members = list(team_row.counsellors)
        in_period = list(
            session.scalars(
                select(Shift)
                .options(joinedload(Shift.counsellor))
                .where(
                    Shift.team_id == team_row.id,
                    Shift.start_at < period.end,
                    Shift.start_at > period.start - shifts.MAX_SHIFT,
                    Shift.end_at > period.start,
                )
                .order_by(Shift.start_at, Shift.id)
            )
        )
        stand_ins = standins.list_stand_ins(session, config, team, period.start, period.end)
        gaps = shifts.gaps(session, config, team, period.start, period.end)
        everyone = {c.id: c.name for c in session.scalars(select(Counsellor))}
        away = absences.list_absences(
            session, period.start, period.end, counsellor_ids=[m.id for m in members]
        )
        busy_times = times.busy_as_absences(
            session, [m.id for m in members], period.start, period.end
        )
    return {
        "team_name": team_row.name,
        "members": members,
        "shifts": in_period,
        "stand_ins": stand_ins,
        "gaps": gaps,
        "names": everyone,
        "absences": away,
        "busy_times": busy_times,
        "uncovered": uncovered(in_period, away, stand_ins),
    }


def check_team(settings: Settings, viewer: Viewer, team: str, *, edit: bool) -> None:
    """Team slugs are configuration, not secrets: a refused team is a 403."""
    if team not in settings.config.teams:
        raise Forbidden
    allowed = access.may_coordinate if edit else access.may_see_team
    if not allowed(viewer.principal, team):
        raise Forbidden


async def in_thread(fn: Callable[[], T]) -> T:
    return await run_in_threadpool(fn)


def local_time(form: FormData, prefix: str, zone: Any) -> datetime | None:
    """The instant of a local date and time field pair; None when unreadable or when the wall
    time does not exist (skipped by the spring DST change). An ambiguous autumn time means its
    first occurrence (summer time)."""
    day = as_day(form.get(f"{prefix}_date"))
    try:
        clock = time.fromisoformat(str(form.get(f"{prefix}_time", "")) or "00:00")
    except ValueError:
        return None
    if day is None:
        return None
    moment = datetime.combine(day, clock, tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return None  # 02:30 on the spring change day never happens
    return moment


# --- page -------------------------------------------------------------------------------------


async def show(
    request: Request,
    viewer: Viewer,
    team: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    preview: list[PlannedShift] | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    now = utcnow()
    view = request.query_params.get("view", "week")
    period = period_of(view, request.query_params.get("date"), zone, now.astimezone(zone).date())
    data = await in_thread(lambda: _team_data(request.app.state.db, settings, team, period))
    editing = as_int(request.query_params.get("edit"))
    if editing and form is None:
        for shift in data["shifts"]:
            if shift.id == editing:
                start, end = shift.start_at.astimezone(zone), shift.end_at.astimezone(zone)
                form = {
                    "shift_id": str(shift.id),
                    "counsellor_id": str(shift.counsellor_id),
                    "tier": shift.tier.value,
                    "start_date": start.date().isoformat(),
                    "start_time": f"{start:%H:%M}",
                    "end_date": end.date().isoformat(),
                    "end_time": f"{end:%H:%M}",
                }
    covering = as_int(request.query_params.get("cover"))
    if covering and form is None:
        form = _cover_form(data["uncovered"], covering, zone)
    drawing = timeline(
        period,
        data["shifts"],
        data["gaps"],
        data["stand_ins"],
        data["names"],
        now,
        data["absences"],
        data["busy_times"],
    )
    days = rota_days.by_day(
        period,
        rota_days.entries(
            data["shifts"],
            data["gaps"],
            data["stand_ins"],
            data["names"],
            data["absences"],
            data["busy_times"],
        ),
    )
    return render(
        request,
        "rota.html",
        {
            "viewer": viewer,
            "team": team,
            "period": period,
            "drawing": drawing,
            "days": days,
            "may_edit": access.may_coordinate(viewer.principal, team),
            "rota_teams": access.teams_seen(viewer.principal, settings.config.teams),
            "errors": errors or {},
            "form": form or {},
            "preview": preview,
            "tier_names": labels.tiers(),
            "absence_kinds": labels.absence_kinds(),
            "weekday_names": labels.weekdays(),
            "today": now.astimezone(zone).date(),
            **data,
        },
        status,
    )


def _cover_form(uncovered: list[Uncovered], shift_id: int, zone: Any) -> dict[str, str] | None:
    """The stand-in form filled in for an absence that hits shift `shift_id`."""
    for item in uncovered:
        if item.shift.id == shift_id:
            start, end = item.start.astimezone(zone), item.end.astimezone(zone)
            return {
                "absent_id": str(item.shift.counsellor_id),
                "si_start_date": start.date().isoformat(),
                "si_start_time": f"{start:%H:%M}",
                "si_end_date": end.date().isoformat(),
                "si_end_time": f"{end:%H:%M}",
            }
    return None


@page()
async def rota_index(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    for slug in access.teams_seen(viewer.principal, settings.config.teams):
        return RedirectResponse(f"/rota/{slug}", status_code=303)
    raise Forbidden


@page()
async def rota(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    check_team(request.app.state.settings, viewer, team, edit=False)
    return await show(request, viewer, team)


def back(request: Request, team: str, form: FormData) -> RedirectResponse:
    view = "month" if str(form.get("view", "")) == "month" else "week"
    day = str(form.get("date", ""))
    query = f"?view={view}" + (f"&date={day}" if day[:4].isdigit() else "")
    return RedirectResponse(f"/rota/{team}{query}", status_code=303)


routes = [
    Route("/rota", rota_index, methods=["GET"]),
    Route("/rota/{team}", rota, methods=["GET"]),
]
