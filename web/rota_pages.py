"""The rota page of a team: a week or month timeline (server-rendered SVG: no inline styles or
scripts, so the CSP stays strict), shifts to create, edit and delete, the rotation generator
with a preview, and stand-ins. All times are entered and shown in the organisation's zone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import joinedload
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import dates
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import DomainError, Invalid
from foundation.models import Absence, AbsenceKind, Counsellor, Role, Shift, StandIn, Tier
from foundation.teams import team_by_slug
from scheduling import absences, shifts, standins
from scheduling.busy import times as busy
from scheduling.rotation import PlannedShift, RotationError, RotationRequest, plan_rotation
from web.auth import Forbidden, Viewer, page
from web.pages import as_int, render

T = TypeVar("T")
LABEL_WIDTH = 190
TIMELINE_WIDTH = 810
ROW_HEIGHT = 26
TIER_NAMES = {Tier.PRIMARY: "Erreichbar", Tier.BACKUP: "Hintergrund"}
MESSAGES = {
    "start": "Bitte geben Sie Beginn als Datum und Uhrzeit an (eine Uhrzeit, die es gibt: "
    "am Tag der Umstellung auf Sommerzeit fehlt 02:00–03:00).",
    "end": "Das Ende muss nach dem Beginn liegen (höchstens 31 Tage).",
    "end_time": "Bitte geben Sie das Ende als Datum und Uhrzeit an (eine Uhrzeit, die es gibt: "
    "am Tag der Umstellung auf Sommerzeit fehlt 02:00–03:00).",
    "counsellor_id": "Bitte wählen Sie eine Person aus diesem Team.",
    "substitute_id": "Bitte wählen Sie eine andere, aktive Person aus diesem Team.",
    "absent_id": "Bitte wählen Sie eine Person aus diesem Team.",
    "team": "Dieses Team gibt es nicht.",
    "tier": "Bitte wählen Sie „Erreichbar“ oder „Hintergrund“.",
    "kind": "Bitte wählen Sie Urlaub, krank oder sonstige Abwesenheit.",
}
ABSENCE_MESSAGES = {
    "start": "Bitte geben Sie Beginn und Ende als Datum und Uhrzeit an.",
    "end": "Das Ende muss nach dem Beginn liegen (höchstens ein Jahr).",
    "counsellor_id": "Bitte wählen Sie eine Person aus diesem Team.",
    "kind": MESSAGES["kind"],
}


class _Refused(Exception):
    """Roll the transaction back."""


# --- the period shown -------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    view: str  # "week" or "month"
    first: date
    days: int
    zone: Any

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        last = self.first + timedelta(days=self.days)
        return datetime.combine(last, time(0), tzinfo=self.zone).astimezone(UTC)

    def day_starts(self) -> list[tuple[date, datetime]]:
        return [
            (day, datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC))
            for day in (self.first + timedelta(days=i) for i in range(self.days))
        ]

    def previous(self) -> date:
        if self.view == "week":
            return self.first - timedelta(days=7)
        return (self.first - timedelta(days=1)).replace(day=1)

    def next(self) -> date:
        return self.first + timedelta(days=self.days)

    def title(self) -> str:
        if self.view == "week":
            iso = self.first.isocalendar()
            last = self.first + timedelta(days=6)
            return f"KW {iso.week}/{iso.year}: {self.first:%d.%m.} – {last:%d.%m.%Y}"
        return dates.month_year(self.first)


def period_of(view: str, raw_day: str | None, zone: Any, today: date) -> Period:
    try:
        day = date.fromisoformat(raw_day) if raw_day else today
    except ValueError:
        day = today
    if view == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period("month", first, (following - first).days, zone)
    first = day - timedelta(days=day.weekday())
    return Period("week", first, 7, zone)


# --- the timeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    x: float
    width: float
    label: str
    title: str
    css: str


@dataclass(frozen=True)
class Row:
    label: str
    y: int
    blocks: list[Block]
    css: str = ""


def _x(period: Period, moment: datetime) -> float:
    span = (period.end - period.start).total_seconds()
    offset = (min(max(moment, period.start), period.end) - period.start).total_seconds()
    return round(LABEL_WIDTH + TIMELINE_WIDTH * offset / span, 2)


def _when(moment: datetime, zone: Any) -> str:
    return dates.when_short(moment, zone)


def timeline(
    period: Period,
    rows_of_shifts: list[Shift],
    gaps: list[tuple[datetime, datetime]],
    stand_ins: list[StandIn],
    names: dict[int, str],
    now: datetime,
    away: list[Absence] | None = None,
    busy_times: list[busy.BusyAbsence] | None = None,
) -> dict[str, object]:
    """The grid. `busy_times` (from counsellors' own calendars) are drawn like absences and
    flag the shifts they overlap, but do not make gaps: only a recorded absence does."""
    zone = period.zone
    away = away or []
    busy_times = busy_times or []
    rows: list[Row] = []
    keyed: dict[tuple[Tier, int], list[Shift]] = {}
    for shift in rows_of_shifts:
        keyed.setdefault((shift.tier, shift.counsellor_id), []).append(shift)
    order = sorted(keyed, key=lambda k: (0 if k[0] is Tier.PRIMARY else 1, names.get(k[1], "")))
    for tier, counsellor_id in order:
        blocks = []
        for shift in keyed[tier, counsellor_id]:
            x0, x1 = _x(period, shift.start_at), _x(period, shift.end_at)
            hit = absences.hit(shift, away)
            clash = absences.hit(shift, busy_times)
            blocks.append(
                Block(
                    x0,
                    max(x1 - x0, 1.5),
                    names.get(counsellor_id, "?"),
                    f"{TIER_NAMES[tier]}: {names.get(counsellor_id, '?')}, "
                    f"{_when(shift.start_at, zone)} – {_when(shift.end_at, zone)}"
                    + "".join(f"; {_absence_text(a, zone)}" for a in hit)
                    + "".join(f"; {_busy_text(b, zone)}" for b in clash),
                    ("shift primary" if tier is Tier.PRIMARY else "shift backup")
                    + (" hit" if hit or clash else ""),
                )
            )
        rows.append(Row(f"{names.get(counsellor_id, '?')} ({TIER_NAMES[tier]})", 0, blocks))
    for stand_in in stand_ins:
        x0, x1 = _x(period, stand_in.start_at), _x(period, stand_in.end_at)
        absent, substitute = (
            names.get(stand_in.absent_id, "?"),
            names.get(stand_in.substitute_id, "?"),
        )
        rows.append(
            Row(
                f"Vertretung für {absent}",
                0,
                [
                    Block(
                        x0,
                        max(x1 - x0, 1.5),
                        substitute,
                        f"{substitute} vertritt {absent}, {_when(stand_in.start_at, zone)} – "
                        f"{_when(stand_in.end_at, zone)}",
                        "standin",
                    )
                ],
            )
        )
    for absence in away:
        x0, x1 = _x(period, absence.start_at), _x(period, absence.end_at)
        who = names.get(absence.counsellor_id, "?")
        label = absences.KIND_LABELS[absence.kind]
        rows.append(
            Row(
                f"Abwesend: {who}",
                0,
                [Block(x0, max(x1 - x0, 1.5), label, _absence_text(absence, zone), "absence")],
            )
        )
    busy_rows: dict[int, list[Block]] = {}
    for busy_time in busy_times:
        x0, x1 = _x(period, busy_time.start_at), _x(period, busy_time.end_at)
        busy_rows.setdefault(busy_time.counsellor_id, []).append(
            Block(x0, max(x1 - x0, 1.5), "belegt", _busy_text(busy_time, zone), "absence busy")
        )
    for counsellor_id, blocks_of_person in busy_rows.items():
        rows.append(Row(f"Belegt: {names.get(counsellor_id, '?')}", 0, blocks_of_person))
    gap_blocks = [
        Block(
            _x(period, start),
            max(_x(period, end) - _x(period, start), 1.5),
            "Lücke",
            f"Niemand erreichbar: {_when(start, zone)} – {_when(end, zone)}",
            "gap",
        )
        for start, end in gaps
    ]
    rows.append(Row("Lücken", 0, gap_blocks, "gaps"))
    top = 30
    placed = [dataclasses.replace(row, y=top + i * ROW_HEIGHT) for i, row in enumerate(rows)]
    days = [
        {
            "x": _x(period, start),
            "label": dates.weekday_day(day) if period.view == "week" else f"{day.day}",
            "weekend": day.weekday() >= 5,
        }
        for day, start in period.day_starts()
    ]
    today = _x(period, now) if period.start <= now < period.end else None
    return {
        "rows": placed,
        "days": days,
        "today": today,
        "height": top + len(placed) * ROW_HEIGHT + 6,
        "width": LABEL_WIDTH + TIMELINE_WIDTH,
        "label_width": LABEL_WIDTH,
        "row_height": ROW_HEIGHT,
    }


def _busy_text(busy_time: busy.BusyAbsence, zone: Any) -> str:
    return (
        f"{busy_time.counsellor.name} belegt (eigener Kalender): "
        f"{_when(busy_time.start_at, zone)} – {_when(busy_time.end_at, zone)}"
    )


def _absence_text(absence: Absence, zone: Any) -> str:
    return (
        f"{absence.counsellor.name if absence.counsellor else '?'} "
        f"{absences.KIND_LABELS[absence.kind]}: "
        f"{_when(absence.start_at, zone)} – {_when(absence.end_at, zone)}"
    )


@dataclass(frozen=True)
class Uncovered:
    """A shift an absence hits, not (fully) covered by a stand-in: the page offers to cover it."""

    shift: Shift
    absence: Absence
    start: datetime
    end: datetime


def _uncovered(
    in_period: list[Shift], away: list[Absence], stand_ins: list[StandIn]
) -> list[Uncovered]:
    found = []
    for shift in in_period:
        for absence in absences.hit(shift, away):
            start = max(shift.start_at, absence.start_at)
            end = min(shift.end_at, absence.end_at)
            covered = any(
                si.absent_id == shift.counsellor_id and si.start_at <= start and si.end_at >= end
                for si in stand_ins
            )
            if not covered:
                found.append(Uncovered(shift, absence, start, end))
    return found


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
        busy_times = busy.busy_as_absences(
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
        "uncovered": _uncovered(in_period, away, stand_ins),
    }


def _check_team(settings: Settings, viewer: Viewer, team: str, *, edit: bool) -> None:
    if team not in settings.config.teams:
        raise Forbidden
    if viewer.may_coordinate(team):
        return
    if edit or team not in viewer.team_slugs:
        raise Forbidden


async def _in_thread(fn: Callable[[], T]) -> T:
    return await run_in_threadpool(fn)


def _local(form: FormData, prefix: str, zone: Any) -> datetime | None:
    """The instant of a local date and time field pair; None when unreadable or when the wall
    time does not exist (skipped by the spring DST change). An ambiguous autumn time means its
    first occurrence (summer time)."""
    try:
        day = date.fromisoformat(str(form.get(f"{prefix}_date", "")))
        clock = time.fromisoformat(str(form.get(f"{prefix}_time", "")) or "00:00")
    except ValueError:
        return None
    moment = datetime.combine(day, clock, tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return None  # 02:30 on the spring change day never happens
    return moment


# --- page -------------------------------------------------------------------------------------


async def _show(
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
    data = await _in_thread(lambda: _team_data(request.app.state.db, settings, team, period))
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
    return render(
        request,
        "rota.html",
        {
            "viewer": viewer,
            "team": team,
            "period": period,
            "drawing": drawing,
            "may_edit": viewer.may_coordinate(team),
            "errors": errors or {},
            "form": form or {},
            "preview": preview,
            "tier_names": TIER_NAMES,
            "absence_kinds": absences.KIND_LABELS,
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
    for slug in settings.config.teams:
        if viewer.may_coordinate(slug) or slug in viewer.team_slugs:
            return RedirectResponse(f"/rota/{slug}", status_code=303)
    raise Forbidden


@page()
async def rota(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    _check_team(request.app.state.settings, viewer, team, edit=False)
    return await _show(request, viewer, team)


def _back(request: Request, team: str, form: FormData) -> RedirectResponse:
    view = "month" if str(form.get("view", "")) == "month" else "week"
    day = str(form.get("date", ""))
    query = f"?view={view}" + (f"&date={day}" if day[:4].isdigit() else "")
    return RedirectResponse(f"/rota/{team}{query}", status_code=303)


@page(Role.ADMIN, Role.COORDINATOR)
async def create_shift(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    start, end = _local(form, "start", zone), _local(form, "end", zone)
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    if start is None or end is None:
        errors = {"start": MESSAGES["start"]} if start is None else {"end": MESSAGES["end_time"]}
        return await _show(request, viewer, team, errors=errors, form=values, status=422)
    tier = str(form.get("tier", ""))
    if tier not in ("primary", "backup"):
        return await _show(
            request, viewer, team, errors={"tier": MESSAGES["tier"]}, form=values, status=422
        )
    new = shifts.NewShift(team, as_int(form.get("counsellor_id")), Tier(tier), start, end)
    shift_id = as_int(form.get("shift_id"))

    def save() -> None:
        with request.app.state.db.write() as session:
            if shift_id:
                existing = session.get(Shift, shift_id)
                if existing is None or existing.team.slug != team:
                    raise Forbidden
                shifts.update_shift(session, settings.config, shift_id, new, actor=viewer.actor)
            else:
                shifts.create_shift(session, settings.config, new, actor=viewer.actor)

    try:
        await _in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        message = MESSAGES.get(field, exc.message)
        if exc.__class__.__name__ == "Conflict":
            message = "Diese Person hat in diesem Team zu dieser Zeit bereits einen Dienst."
        return await _show(request, viewer, team, errors={field: message}, form=values, status=422)
    return _back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_shift(request: Request, viewer: Viewer) -> Response:
    return await _delete(request, viewer, Shift, "shift_id", shifts.delete_shift)


async def _delete(
    request: Request,
    viewer: Viewer,
    model: type[Shift] | type[StandIn],
    key: str,
    delete: Callable[..., None],
) -> Response:
    """Delete a row of this team (a missing one is already gone), then back to the rota."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
    form = await request.form()
    row_id = as_int(request.path_params.get(key))

    def remove() -> None:
        with request.app.state.db.write() as session:
            existing = session.get(model, row_id)
            if existing is None:
                return
            if team_by_slug(session, team, settings.config).id != existing.team_id:
                raise Forbidden
            delete(session, row_id, actor=viewer.actor)

    await _in_thread(remove)
    return _back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def rotation(request: Request, viewer: Viewer) -> Response:
    """Preview (button "preview") or save (button "save") a generated rotation."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
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
            first_day=date.fromisoformat(str(form.get("first_day", ""))),
            last_day=date.fromisoformat(str(form.get("last_day", ""))),
            zone=settings.config.organisation.zone,
            start_index=as_int(form.get("start_index")),
        )
        plan = plan_rotation(request_)
    except RotationError as exc:
        return await _show(
            request,
            viewer,
            team,
            errors={f"rotation_{exc.field}": exc.message},
            form=values,
            status=422,
        )
    except ValueError:
        return await _show(
            request,
            viewer,
            team,
            errors={"rotation_first_day": "Bitte füllen Sie alle Felder der Rotation aus."},
            form=values,
            status=422,
        )
    if form.get("action") != "save":
        return await _show(request, viewer, team, form=values, preview=list(plan.shifts))

    def save() -> list[str]:
        """All or nothing: every planned shift is checked; one refusal saves none."""
        problems: list[str] = []
        zone = settings.config.organisation.zone
        try:
            with request.app.state.db.write() as session:
                for planned in plan.shifts:
                    new = shifts.NewShift(
                        team, planned.counsellor_id, planned.tier, planned.start, planned.end
                    )
                    try:
                        with session.begin_nested():
                            shifts.create_shift(session, settings.config, new, actor=viewer.actor)
                    except DomainError:
                        problems.append(
                            f"Der Dienst ab {_when(planned.start, zone)} überschneidet sich."
                        )
                if problems:
                    raise _Refused
        except _Refused:
            pass
        return problems

    problems = await _in_thread(save)
    if problems:
        return await _show(
            request,
            viewer,
            team,
            errors={"rotation_save": " ".join(problems[:5]) + " Es wurde nichts gespeichert."},
            form=values,
            preview=list(plan.shifts),
            status=409,
        )
    return _back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def create_stand_in(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start, end = _local(form, "si_start", zone), _local(form, "si_end", zone)
    if start is None or end is None:
        return await _show(
            request, viewer, team, errors={"si_start": MESSAGES["start"]}, form=values, status=422
        )
    new = standins.NewStandIn(
        team, as_int(form.get("absent_id")), as_int(form.get("substitute_id")), start, end,
        str(form.get("note", "")),
    )  # fmt: skip

    def save() -> None:
        with request.app.state.db.write() as session:
            standins.create_stand_in(session, settings.config, new, actor=viewer.actor)

    try:
        await _in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        return await _show(
            request,
            viewer,
            team,
            errors={f"si_{field}": MESSAGES.get(field, exc.message)},
            form=values,
            status=422,
        )
    return _back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_stand_in(request: Request, viewer: Viewer) -> Response:
    return await _delete(request, viewer, StandIn, "stand_in_id", standins.delete_stand_in)


@page(Role.ADMIN, Role.COORDINATOR)
async def create_absence(request: Request, viewer: Viewer) -> Response:
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
    form = await request.form()
    zone = settings.config.organisation.zone
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start, end = _local(form, "ab_start", zone), _local(form, "ab_end", zone)
    kind = str(form.get("kind", ""))
    if kind not in {k.value for k in AbsenceKind}:
        errors = {"ab_kind": ABSENCE_MESSAGES["kind"]}
        return await _show(request, viewer, team, errors=errors, form=values, status=422)
    if start is None or end is None:
        errors = {"ab_start": ABSENCE_MESSAGES["start"]}
        return await _show(request, viewer, team, errors=errors, form=values, status=422)
    counsellor_id = as_int(form.get("ab_counsellor_id"))
    new = absences.NewAbsence(
        counsellor_id, AbsenceKind(kind), start, end, str(form.get("ab_note", ""))
    )

    def save() -> None:
        with request.app.state.db.write() as session:
            member = session.get(Counsellor, counsellor_id)
            if member is None or team not in {t.slug for t in member.teams}:
                raise Invalid("not a member of this team", field="counsellor_id")
            absences.create_absence(session, new, actor=viewer.actor)

    try:
        await _in_thread(save)
    except DomainError as exc:
        field = exc.field or "start"
        message = ABSENCE_MESSAGES.get(field, exc.message)
        return await _show(
            request, viewer, team, errors={f"ab_{field}": message}, form=values, status=422
        )
    return _back(request, team, form)


@page(Role.ADMIN, Role.COORDINATOR)
async def delete_absence(request: Request, viewer: Viewer) -> Response:
    """Absences belong to a person, not a team: a coordinator may remove those of members."""
    team = request.path_params["team"]
    settings: Settings = request.app.state.settings
    _check_team(settings, viewer, team, edit=True)
    form = await request.form()
    absence_id = as_int(request.path_params.get("absence_id"))

    def remove() -> None:
        with request.app.state.db.write() as session:
            existing = session.get(Absence, absence_id)
            if existing is None:
                return
            if team not in {t.slug for t in existing.counsellor.teams}:
                raise Forbidden
            absences.delete_absence(session, absence_id, actor=viewer.actor)

    await _in_thread(remove)
    return _back(request, team, form)


routes = [
    Route("/rota", rota_index, methods=["GET"]),
    Route("/rota/{team}", rota, methods=["GET"]),
    Route("/rota/{team}/shifts", create_shift, methods=["POST"]),
    Route("/rota/{team}/shifts/{shift_id}/delete", delete_shift, methods=["POST"]),
    Route("/rota/{team}/rotation", rotation, methods=["POST"]),
    Route("/rota/{team}/standins", create_stand_in, methods=["POST"]),
    Route("/rota/{team}/standins/{stand_in_id}/delete", delete_stand_in, methods=["POST"]),
    Route("/rota/{team}/absences", create_absence, methods=["POST"]),
    Route("/rota/{team}/absences/{absence_id}/delete", delete_absence, methods=["POST"]),
]
