"""The rotation generator of the rota page: preview a rotation (scheduling.rotation plans
it, purely), then save it whole or not at all (scheduling.rotation_save). Only the team's
coordination may."""

from __future__ import annotations

from datetime import date, time

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation.models import Role, Tier
from scheduling.rotation import ALL_WEEKDAYS, RotationError, RotationRequest, plan_rotation
from scheduling.rotation_save import RotationClash, save_rotation
from web.auth import Viewer, page
from web.i18n import N_, _
from web.pages import as_day, as_int
from web.rota_pages import back, check_team, in_thread, show
from web.rota_timeline import when

NOTHING_PLANNED = N_("Im gewählten Zeitraum liegt keiner der gewählten Wochentage.")


def weekdays(form: FormData) -> frozenset[int]:
    """The ticked weekday boxes (`weekday_0` = Monday … `weekday_6`); a form without the
    boxes (`weekdays_shown` missing) covers every day, as rotations did before."""
    if not form.get("weekdays_shown"):
        return ALL_WEEKDAYS
    return frozenset(day for day in ALL_WEEKDAYS if form.get(f"weekday_{day}"))


@page(Role.ADMIN, Role.COORDINATOR)
async def rotation(request: Request, viewer: Viewer) -> Response:
    """Preview (button "preview") or save (button "save") a generated rotation."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    check_team(settings, viewer, team, edit=True)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    order = sorted(
        (as_int(value), as_int(key.removeprefix("order_")))
        for key, value in form.items()
        if key.startswith("order_") and as_int(value) > 0
    )
    try:
        request_ = RotationRequest(
            counsellor_ids=tuple(counsellor for _, counsellor in order),
            shift_days=as_int(form.get("shift_days")),
            handoff=time.fromisoformat(str(form.get("handoff", "")) or "09:00"),
            tier=Tier(str(form.get("tier", "primary"))),
            first_day=_day(form.get("first_day")),
            last_day=_day(form.get("last_day")),
            zone=settings.config.organisation.zone,
            start_index=as_int(form.get("start_index")),
            weekdays=weekdays(form),
        )
        plan = plan_rotation(request_)
        if not plan.shifts:
            raise RotationError(NOTHING_PLANNED, field="weekdays")
    except RotationError as exc:
        return await show(
            request,
            viewer,
            team,
            errors={f"rotation_{exc.field}": _(exc.message)},
            form=values,
            status=422,
        )
    except ValueError:
        return await show(
            request,
            viewer,
            team,
            errors={"rotation_first_day": _("Bitte füllen Sie alle Felder der Rotation aus.")},
            form=values,
            status=422,
        )
    if form.get("action") != "save":
        return await show(request, viewer, team, form=values, preview=list(plan.shifts))

    def save() -> None:
        with request.app.state.db.write() as session:
            save_rotation(session, settings.config, team, plan.shifts, actor=viewer.actor)

    try:
        await in_thread(save)
    except RotationClash as clash:
        zone = settings.config.organisation.zone
        problems = [
            _("Der Dienst ab %(start)s überschneidet sich.", start=when(start, zone))
            for start in clash.starts
        ]
        saved_nothing = _("Es wurde nichts gespeichert.")
        return await show(
            request,
            viewer,
            team,
            errors={"rotation_save": " ".join([*problems[:5], saved_nothing])},
            form=values,
            preview=list(plan.shifts),
            status=409,
        )
    return back(request, team, form)


def _day(raw: object) -> date:
    day = as_day(raw)
    if day is None:
        raise ValueError("not a day the service plans for")
    return day


routes = [Route("/rota/{team}/rotation", rotation, methods=["POST"])]
