"""The appointments page: a counsellor's own appointments, or (coordinators, admins) a team's,
with a booking form and, per appointment, move / cancel / done / no-show.

Times are typed as Berlin wall-clock times. The two DST nights are handled out loud
(`scheduling.wallclock`): a time the spring night skips is refused with an explanation, a time
the autumn night repeats is booked only once the person chose which of the two is meant, and
every time on the page carries its zone abbreviation (MEZ/MESZ) so the choice stays visible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, crypto
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, DomainError, Invalid, NotFound
from foundation.models import Appointment, AppointmentMode, AppointmentStatus, Counsellor
from foundation.teams import team_by_slug
from hotline import outbound_calls
from scheduling import appointments as cases
from scheduling.busy import times as busy
from scheduling.wallclock import (
    Ambiguous,
    Exact,
    Nonexistent,
    choice_labels,
    explain_ambiguous,
    explain_nonexistent,
    resolve,
)
from web import outbound_call_pages
from web.auth import Forbidden, Viewer, page
from web.pages import as_int, render

T = TypeVar("T")
PAST = timedelta(days=30)
AHEAD = timedelta(days=366)
DURATIONS = (30, 45, 60, 90, 120)
MIN_MINUTES, MAX_MINUTES = 5, 8 * 60

STATUS_NAMES = {
    AppointmentStatus.BOOKED: "gebucht",
    AppointmentStatus.CANCELLED: "abgesagt",
    AppointmentStatus.DONE: "wahrgenommen",
    AppointmentStatus.NO_SHOW: "nicht erschienen",
}
MODE_NAMES = {
    AppointmentMode.PHONE: "Telefon",
    AppointmentMode.IN_PERSON: "vor Ort",
    AppointmentMode.VIDEO: "Video",
}
# German messages by field (the use cases speak English for the API).
MESSAGES = {
    "counsellor_id": "Bitte wählen Sie eine aktive Beraterin oder einen aktiven Berater.",
    "client.pseudonym": "Bitte geben Sie ein Pseudonym an (höchstens 100 Zeichen, "
    "ohne Telefonnummer).",
    "client.phone": "Das ist keine gültige Telefonnummer (zum Beispiel 0151 23456789).",
    "client.sms_consent": "SMS-Erinnerungen gehen nur an eine Mobilnummer: Bitte geben Sie "
    "eine an oder lassen Sie das Häkchen weg.",
    "location": "Bitte geben Sie den Ort des Termins an.",
    "video_link": "Bitte geben Sie den Link zum Video-Termin an; er beginnt mit https://.",
    "start": "Bitte geben Sie Datum und Uhrzeit des Beginns an.",
    "end": "Die Dauer muss zwischen 5 Minuten und 8 Stunden liegen.",
    "duration": "Die Dauer muss zwischen 5 Minuten und 8 Stunden liegen.",
    "mode": "Bitte wählen Sie, wie der Termin stattfindet.",
    "status": "Dieser Termin ist abgesagt oder abgeschlossen und kann so nicht mehr geändert "
    "werden.",
    "not_begun": "Ein Termin kann erst ab seinem Beginn als wahrgenommen oder nicht erschienen "
    "markiert werden.",
    "missing": "Diesen Termin gibt es nicht (mehr), oder Sie dürfen ihn nicht ändern.",
    "bad_status": "Bitte wählen Sie „Wahrgenommen“ oder „Nicht erschienen“.",
}
NOTICES = {
    "booked": "Der Termin ist gebucht",
    "moved": "Der Termin ist verschoben",
    "cancelled": "Der Termin ist abgesagt",
    "done": "Der Termin ist als wahrgenommen markiert",
    "no_show": "Der Termin ist als nicht erschienen markiert",
    "called": "Der Rückruf ist gestartet: Ihr Telefon klingelt gleich. Nehmen Sie ab und drücken "
    "Sie die 1, dann wird die Klientin oder der Klient angerufen. Termin",
    "simulated": "Simulationsmodus: Es wurde niemand angerufen, der Rückruf steht im Postausgang. "
    "Termin",
}


# --- local times from the form (pure) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The start instant a form names, or why it names none."""

    at: datetime | None
    error: str | None = None


def start_from(values: Mapping[str, str], zone: ZoneInfo) -> Start:
    """Resolve the form's date, time and (on the autumn night) chosen fold into an instant."""
    try:
        day = date.fromisoformat(values.get("date", ""))
        clock = time.fromisoformat(values.get("time", ""))
    except ValueError:
        return Start(None, MESSAGES["start"])
    resolution = resolve(day, clock, zone)
    if isinstance(resolution, Nonexistent):
        return Start(None, explain_nonexistent(resolution))
    if isinstance(resolution, Ambiguous):
        fold = values.get("fold", "")
        if fold not in ("0", "1"):
            return Start(None, explain_ambiguous(resolution))
        return Start(resolution.choose(int(fold)))
    assert isinstance(resolution, Exact)
    return Start(resolution.at)


def fold_choices(values: Mapping[str, str], zone: ZoneInfo) -> tuple[str, str] | None:
    """Radio labels ("02:30 MESZ (erste)", "02:30 MEZ (zweite)") if the typed time is one the
    autumn night repeats, else None (no question to ask)."""
    try:
        day = date.fromisoformat(values.get("date", ""))
        clock = time.fromisoformat(values.get("time", ""))
    except ValueError:
        return None
    resolution = resolve(day, clock, zone)
    return choice_labels(resolution, zone) if isinstance(resolution, Ambiguous) else None


def minutes_from(raw: str) -> int | None:
    text = raw.strip()
    if not text.isdigit() or len(text) > 4:
        return None
    minutes = int(text)
    return minutes if MIN_MINUTES <= minutes <= MAX_MINUTES else None


def form_values(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, str]:
    """The time fields that show an existing appointment (for the move form)."""
    local = start.astimezone(zone)
    return {
        "date": local.date().isoformat(),
        "time": f"{local:%H:%M}",
        "fold": str(local.fold),
        "duration": str(round((end - start).total_seconds() / 60)),
    }


# --- who sees what -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose appointments the page shows: a team's (team view) or the viewer's own."""

    team: str | None
    team_name: str
    counsellors: list[Counsellor]  # whose appointments are listed (and may be booked)


def _scope(session: Session, settings: Settings, viewer: Viewer, team: str | None) -> Scope:
    coordinated = access.teams_coordinated(viewer.principal, settings.config.teams)
    if team is None and viewer.counsellor_id is None:
        # Admins and coordinators without a counsellor of their own see their first team.
        team = next(iter(coordinated), None)
        if team is None:
            raise Forbidden
    if team is not None:
        if team not in coordinated:
            raise Forbidden
        row = team_by_slug(session, team, settings.config)
        return Scope(team, row.name, list(row.counsellors))
    assert viewer.counsellor_id is not None
    own = session.get(Counsellor, viewer.counsellor_id)
    if own is None:
        raise Forbidden
    return Scope(None, own.name, [own])


def _may_change(session: Session, viewer: Viewer, appointment: Appointment) -> bool:
    teams = access.counsellor_team_ids(session, appointment.counsellor_id)
    return access.may_change_appointment(viewer.principal, appointment.counsellor_id, teams)


def _team_of(request: Request, values: Mapping[str, str] | None = None) -> str | None:
    raw = (values or {}).get("team") or request.query_params.get("team") or ""
    return raw or None


# --- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One appointment as the page shows it."""

    appointment: Appointment
    counsellor: str
    when: str
    phone: str | None
    started: bool
    call_back: outbound_calls.Summary | None = None  # the latest call-back of the client
    lines: tuple[tuple[str, str], ...] = ()  # (slug, name) to call back through, if several
    line: str | None = None  # the one preselected


def _line_choice(
    session: Session,
    settings: Settings,
    appointment: Appointment,
    previous: outbound_calls.Summary | None,
    team: str | None,
) -> dict[str, Any]:
    """The lines to offer for a call-back when there is a choice, and the one preselected:
    the line of the latest call-back (the client knows that number), else the viewed team's."""
    config = settings.config
    slugs = outbound_calls.lines_for(session, config, appointment)
    if len(slugs) < 2:
        return {}
    own = [slug for slug, line in config.lines.items() if line.team == team]
    return {
        "lines": tuple((slug, config.lines[slug].display_name) for slug in slugs),
        "line": outbound_calls.default_line(slugs, previous.line if previous else None, *own),
    }


def _rows(
    appointments: list[Appointment],
    names: dict[int, str],
    box: crypto.Box,
    zone: ZoneInfo,
    now: datetime,
    calls: dict[int, outbound_calls.Summary],
    choices: dict[int, dict[str, Any]],
) -> list[Row]:
    return [
        Row(
            appointment=a,
            counsellor=names.get(a.counsellor_id, "?"),
            when=cases.span_text(a.start_at, a.end_at, zone),
            phone=cases.masked_client_phone(box, a),
            started=a.start_at <= now,
            call_back=calls.get(a.id),
            **choices.get(a.id, {}),
        )
        for a in appointments
    ]


def _load(
    db: Database, settings: Settings, viewer: Viewer, team: str | None, notice_id: int
) -> dict[str, Any]:
    zone = settings.config.organisation.zone
    now = utcnow()
    box = crypto.box(settings)
    with db.read() as session:
        scope = _scope(session, settings, viewer, team)
        ids = [c.id for c in scope.counsellors]
        found = cases.list_appointments(
            session, start=now - PAST, end=now + AHEAD, counsellor_ids=ids
        )
        names = {c.id: c.name for c in scope.counsellors}
        calls = outbound_calls.latest(session, settings, "appointment", (a.id for a in found))
        choices = {
            a.id: _line_choice(session, settings, a, calls.get(a.id), scope.team)
            for a in found
            if a.client_phone_enc is not None
        }
        rows = _rows(found, names, box, zone, now, calls, choices)
        notice = busy_warning = None
        if notice_id:
            shown = session.get(Appointment, notice_id)
            if shown is not None and _may_change(session, viewer, shown):
                notice = cases.span_text(shown.start_at, shown.end_at, zone)
                if shown.status is AppointmentStatus.BOOKED:  # over a busy time: warn
                    busy_warning = busy.warning(
                        session, shown.counsellor_id, shown.start_at, shown.end_at, zone
                    )
    return {
        "scope": scope,
        "upcoming": [r for r in rows if r.appointment.end_at > now],
        "past": sorted(
            (r for r in rows if r.appointment.end_at <= now),
            key=lambda r: r.appointment.start_at,
            reverse=True,
        ),
        "bookable": [c for c in scope.counsellors if c.active],
        "notice_when": notice,
        "busy_warning": busy_warning,
        "teams": [
            (slug, settings.config.teams[slug].name)
            for slug in access.teams_coordinated(viewer.principal, settings.config.teams)
        ],
    }


async def _in_thread(fn: Callable[[], T]) -> T:
    return await run_in_threadpool(fn)


# --- the page -------------------------------------------------------------------------------------


async def _show(
    request: Request,
    viewer: Viewer,
    *,
    team: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    editing: int = 0,
    edit_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    notice_id = as_int(request.query_params.get("id"))
    data = await _in_thread(lambda: _load(request.app.state.db, settings, viewer, team, notice_id))
    editing = editing or as_int(request.query_params.get("edit"))
    edited = next((r for r in data["upcoming"] if r.appointment.id == editing), None)
    if edited is not None and edit_form is None:
        edit_form = form_values(edited.appointment.start_at, edited.appointment.end_at, zone)
    form = form or {"duration": "60", "mode": "phone"}
    notice_key = request.query_params.get("notice", "")
    return render(
        request,
        "appointments.html",
        {
            "viewer": viewer,
            **data,
            "form": form,
            "form_choices": fold_choices(form, zone),
            "errors": errors or {},
            "edited": edited,
            "edit_form": edit_form or {},
            "edit_choices": fold_choices(edit_form or {}, zone),
            "notice": NOTICES.get(notice_key) if notice_id else None,
            "status_names": STATUS_NAMES,
            "mode_names": MODE_NAMES,
            "durations": DURATIONS,
        },
        status,
    )


def _back(team: str | None, notice: str, appointment_id: int) -> RedirectResponse:
    query = f"?notice={notice}&id={appointment_id}" + (f"&team={team}" if team else "")
    return RedirectResponse(f"/appointments{query}", status_code=303)


@page()
async def appointments(request: Request, viewer: Viewer) -> Response:
    return await _show(request, viewer, team=_team_of(request))


def _german(exc: DomainError) -> tuple[str, str]:
    """(form field, German message) for a refusal of the use case."""
    if isinstance(exc, cases.Overlap):
        return "start", exc.message  # already German, naming the appointment in the way
    field = exc.field or "start"
    if field == "status" and not isinstance(exc, Conflict):
        return "status", MESSAGES["not_begun"]
    return field, MESSAGES.get(field, exc.message)


@page()
async def book(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    team = _team_of(request, values)
    errors: dict[str, str] = {}
    start = start_from(values, zone)
    if start.error:
        errors["start"] = start.error
    minutes = minutes_from(values.get("duration", ""))
    if minutes is None:
        errors["duration"] = MESSAGES["duration"]
    mode = values.get("mode", "")
    if mode not in {m.value for m in AppointmentMode}:
        errors["mode"] = MESSAGES["mode"]
    if errors or start.at is None or minutes is None:
        return await _show(request, viewer, team=team, form=values, errors=errors, status=422)
    counsellor_id = as_int(values.get("counsellor_id")) if team else viewer.counsellor_id or 0
    new = cases.NewAppointment(
        counsellor_id=counsellor_id,
        client=cases.Client(
            values.get("pseudonym", ""), values.get("phone") or None, "sms_consent" in values
        ),
        start=start.at,
        end=start.at + timedelta(minutes=minutes),
        mode=AppointmentMode(mode),
        location=values.get("location"),
        video_link=values.get("video_link"),
    )

    def save() -> int:
        with request.app.state.db.write() as session:
            if team is not None:
                # The team view books only for the team's people.
                scope = _scope(session, settings, viewer, team)
                if counsellor_id not in {c.id for c in scope.counsellors}:
                    raise NotFound("not a member of the team", field="counsellor_id")
            return cases.book(session, settings, new, actor=viewer.actor).id

    try:
        appointment_id = await _in_thread(save)
    except DomainError as exc:
        field, message = _german(exc)
        return await _show(
            request, viewer, team=team, form=values, errors={field: message}, status=422
        )
    return _back(team, "booked", appointment_id)


Change = Callable[[Session, int], Appointment]


async def _change(
    request: Request, viewer: Viewer, notice: Callable[[Appointment], str], change: Change
) -> Response:
    """Apply `change` to the appointment of the path, if the viewer may; errors re-show the page
    (422) with a German message next to the appointment's form, nothing changed."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    team = _team_of(request, values)
    appointment_id = as_int(request.path_params.get("appointment_id"))

    def save() -> Appointment:
        with request.app.state.db.write() as session:
            existing = session.get(Appointment, appointment_id) if appointment_id else None
            if existing is None or not _may_change(session, viewer, existing):
                raise NotFound("no such appointment", field="missing")
            return change(session, appointment_id)

    try:
        appointment = await _in_thread(save)
    except DomainError as exc:
        field, message = _german(exc)
        editing = appointment_id if field in ("start", "end", "duration") else 0
        return await _show(
            request,
            viewer,
            team=team,
            errors={f"edit_{field}" if editing else "action": message},
            editing=editing,
            edit_form=values if editing else None,
            status=404 if field == "missing" else 422,  # missing or not the viewer's: the same
        )
    return _back(team, notice(appointment), appointment.id)


@page()
async def reschedule(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    zone = settings.config.organisation.zone
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    start = start_from(values, zone)
    minutes = minutes_from(values.get("duration", ""))
    if start.at is None or minutes is None:
        error = start.error or MESSAGES["duration"]
        field = "edit_start" if start.error else "edit_duration"
        return await _show(
            request,
            viewer,
            team=_team_of(request, values),
            errors={field: error},
            editing=as_int(request.path_params.get("appointment_id")),
            edit_form=values,
            status=422,
        )
    begin, end = start.at, start.at + timedelta(minutes=minutes)

    def move(session: Session, appointment_id: int) -> Appointment:
        return cases.reschedule(session, settings, appointment_id, begin, end, actor=viewer.actor)

    return await _change(request, viewer, lambda _a: "moved", move)


@page()
async def cancel(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings

    def drop(session: Session, appointment_id: int) -> Appointment:
        return cases.cancel(session, settings, appointment_id, actor=viewer.actor)

    return await _change(request, viewer, lambda _a: "cancelled", drop)


@page()
async def set_status(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    form = await request.form()
    status = str(form.get("status", ""))

    def mark(session: Session, appointment_id: int) -> Appointment:
        if status not in ("done", "no_show"):
            raise Invalid("status: done or no_show", field="bad_status")
        return cases.mark(
            session, settings, appointment_id, AppointmentStatus(status), actor=viewer.actor
        )

    return await _change(request, viewer, lambda a: a.status.value, mark)


@page()
async def call_client(request: Request, viewer: Viewer) -> Response:
    """ "Zurückrufen": the viewer's phone rings, then the client's (whoever may change the
    appointment: its counsellor, the team's coordinators, admins)."""
    form = await request.form()
    team = _team_of(request, {k: str(v) for k, v in form.items()})
    appointment_id = as_int(request.path_params.get("appointment_id"))

    line = str(form.get("line", "")) or None
    outcome = await outbound_call_pages.start(request, viewer, "appointment", appointment_id, line)
    if outcome.error:
        return await _show(
            request, viewer, team=team, errors={"action": outcome.error}, status=outcome.status
        )
    if outcome.notice is None:
        return RedirectResponse("/appointments", status_code=303)
    return _back(team, outcome.notice, appointment_id)


routes = [
    Route("/appointments", appointments, methods=["GET"]),
    Route("/appointments", book, methods=["POST"]),
    Route("/appointments/{appointment_id}/reschedule", reschedule, methods=["POST"]),
    Route("/appointments/{appointment_id}/cancel", cancel, methods=["POST"]),
    Route("/appointments/{appointment_id}/status", set_status, methods=["POST"]),
    Route("/appointments/{appointment_id}/call", call_client, methods=["POST"]),
]
