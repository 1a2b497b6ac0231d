"""The appointments page: a counsellor's own appointments, or (coordinators, admins) a team's,
with a booking form (`web.appointment_booking`) and, per appointment, move / cancel / done /
no-show / call back (`web.appointment_actions`). This module lists them: whose appointments the
viewer sees (`foundation.access`), and the page shown after every action.

Every time on the page carries its zone abbreviation (MEZ/MESZ), so the choice the autumn night
asks for (`web.appointment_form`) stays visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.languages import GERMAN
from config.settings import Settings
from foundation import access, access_log, crypto
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import NotFound
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    Counsellor,
    Team,
)
from foundation.models import Client as ClientRecord
from foundation.teams import team_by_slug
from hotline.outbound_calls import summaries
from hotline.outbound_calls.lines import default_line, lines_for
from scheduling import appointments as cases
from scheduling.busy import times
from scheduling.clients import records as client_records
from web import appointment_words as words
from web import labels
from web.appointment_form import DURATIONS, fold_choices, form_values
from web.appointment_words import span_text
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _, lookup
from web.pages import as_int, render

PAST = timedelta(days=30)
AHEAD = timedelta(days=366)

STATUS_NAMES = {
    AppointmentStatus.BOOKED: N_("gebucht"),
    AppointmentStatus.CANCELLED: N_("abgesagt"),
    AppointmentStatus.DONE: N_("wahrgenommen"),
    AppointmentStatus.NO_SHOW: N_("nicht erschienen"),
}
MODE_NAMES = {
    AppointmentMode.PHONE: N_("Telefon"),
    AppointmentMode.IN_PERSON: N_("vor Ort"),
    AppointmentMode.VIDEO: N_("Video"),
}
NOTICES = {
    "booked": N_("Der Termin ist gebucht"),
    "moved": N_("Der Termin ist verschoben"),
    "cancelled": N_("Der Termin ist abgesagt"),
    "done": N_("Der Termin ist als wahrgenommen markiert"),
    "no_show": N_("Der Termin ist als nicht erschienen markiert"),
    "called": N_(
        "Der Rückruf ist gestartet: Ihr Telefon klingelt gleich. Nehmen Sie ab und drücken "
        "Sie die 1, dann wird die Klientin oder der Klient angerufen. Termin"
    ),
    "simulated": N_(
        "Simulationsmodus: Es wurde niemand angerufen, der Rückruf steht im Postausgang. Termin"
    ),
}


# --- who sees what -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose appointments the page shows: a team's (team view) or the viewer's own."""

    team: str | None
    team_name: str
    counsellors: list[Counsellor]  # whose appointments are listed (and may be booked)


def scope_for(session: Session, settings: Settings, viewer: Viewer, team: str | None) -> Scope:
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


def may_change(session: Session, viewer: Viewer, appointment: Appointment) -> bool:
    teams = access.counsellor_team_ids(session, appointment.counsellor_id)
    return access.may_change_appointment(viewer.principal, appointment.counsellor_id, teams)


def team_of(request: Request, values: Mapping[str, str] | None = None) -> str | None:
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
    call_back: summaries.Summary | None = None  # the latest call-back of the client
    lines: tuple[tuple[str, str], ...] = ()  # (slug, name) to call back through, if several
    line: str | None = None  # the one preselected
    # The client's pseudonym; "–" for one of a client record the viewer may not see (an admin
    # who is not staff of its team coordinates the appointment, but sees no client).
    pseudonym: str = ""
    language: str | None = None  # the language of the client's SMS, if not German (nor hidden)


def _line_choice(
    session: Session,
    settings: Settings,
    appointment: Appointment,
    previous: summaries.Summary | None,
    team: str | None,
) -> dict[str, Any]:
    """The lines to offer for a call-back when there is a choice, and the one preselected:
    the line of the latest call-back (the client knows that number), else the viewed team's."""
    config = settings.config
    slugs = lines_for(session, config, appointment)
    if len(slugs) < 2:
        return {}
    own = [slug for slug, line in config.lines.items() if line.team == team]
    return {
        "lines": tuple((slug, config.lines[slug].display_name) for slug in slugs),
        "line": default_line(slugs, previous.line if previous else None, *own),
    }


def _rows(
    appointments: list[Appointment],
    names: dict[int, str],
    box: crypto.Box,
    zone: ZoneInfo,
    now: datetime,
    calls: dict[int, summaries.Summary],
    choices: dict[int, dict[str, Any]],
    hidden: frozenset[int] | set[int] = frozenset(),
) -> list[Row]:
    return [
        Row(
            appointment=a,
            counsellor=names.get(a.counsellor_id, "?"),
            when=span_text(a.start_at, a.end_at, zone),
            phone=None if a.id in hidden else cases.masked_client_phone(box, a),
            started=a.start_at <= now,
            call_back=calls.get(a.id),
            **choices.get(a.id, {}),
            pseudonym="–" if a.id in hidden else a.client_pseudonym,
            language=None if a.id in hidden or a.client_language == GERMAN else a.client_language,
        )
        for a in appointments
    ]


def hidden_clients(session: Session, viewer: Viewer, appointments: list[Appointment]) -> set[int]:
    """The appointments of a client record whose team the viewer may not see clients of (an
    admin who is not its staff): shown without the client's pseudonym and number."""
    ids = {a.client_id for a in appointments if a.client_id is not None}
    if not ids:
        return set()
    query = select(ClientRecord.id, ClientRecord.team_id).where(ClientRecord.id.in_(ids))
    teams = {int(row_id): int(team) for row_id, team in session.execute(query)}
    refused = {i for i, team in teams.items() if not access.may_see_client(viewer.principal, team)}
    return {a.id for a in appointments if a.client_id in refused}


@dataclass(frozen=True)
class BookingClient:
    """The client record a booking is for ("Termin buchen" on the client's page)."""

    id: int
    pseudonym: str
    team: str
    language: str  # the record's: the booking form's choice to begin with


def _booking_client(session: Session, viewer: Viewer, client_id: int) -> BookingClient | None:
    if not client_id:
        return None
    try:
        client = client_records.changeable(session, client_id, viewer.principal)
    except (NotFound, client_records.ReadOnly):
        raise Hidden from None
    team = session.get(Team, client.team_id)
    return BookingClient(client.id, client.pseudonym, team.slug if team else "", client.language)


def load(
    db: Database,
    settings: Settings,
    viewer: Viewer,
    team: str | None,
    notice_id: int,
    client_id: int = 0,
) -> dict[str, Any]:
    zone = settings.config.organisation.zone
    now = utcnow()
    box = crypto.box(settings)
    with db.read() as session:
        booking_client = _booking_client(session, viewer, client_id)
        if booking_client is not None and team is None and viewer.counsellor_id is None:
            team = booking_client.team  # a coordinator books for the client's team
        scope = scope_for(session, settings, viewer, team)
        ids = [c.id for c in scope.counsellors]
        found = cases.list_appointments(
            session, start=now - PAST, end=now + AHEAD, counsellor_ids=ids
        )
        names = {c.id: c.name for c in scope.counsellors}
        calls = summaries.latest(session, settings, "appointment", (a.id for a in found))
        choices = {
            a.id: _line_choice(session, settings, a, calls.get(a.id), scope.team)
            for a in found
            if a.client_phone_enc is not None
        }
        rows = _rows(
            found, names, box, zone, now, calls, choices, hidden_clients(session, viewer, found)
        )
        notice = busy_warning = None
        if notice_id:
            shown = session.get(Appointment, notice_id)
            if shown is not None and may_change(session, viewer, shown):
                notice = span_text(shown.start_at, shown.end_at, zone)
                if shown.status is AppointmentStatus.BOOKED:  # over a busy time: warn
                    busy = times.conflicts(
                        session, shown.counsellor_id, shown.start_at, shown.end_at
                    )
                    busy_warning = words.busy_warning(busy, zone)
    access_log.log_opened(db, viewer.principal, "appointment", (a.id for a in found))
    if booking_client is not None:  # the booking form names the client by its pseudonym
        access_log.log_opened(db, viewer.principal, "client", [booking_client.id])
    return {
        "scope": scope,
        "upcoming": [r for r in rows if r.appointment.end_at > now],
        "past": sorted(
            (r for r in rows if r.appointment.end_at <= now),
            key=lambda r: r.appointment.start_at,
            reverse=True,
        ),
        "bookable": [c for c in scope.counsellors if c.active],
        "booking_client": booking_client,
        "notice_when": notice,
        "busy_warning": busy_warning,
        "teams": [
            (slug, settings.config.teams[slug].name)
            for slug in access.teams_coordinated(viewer.principal, settings.config.teams)
        ],
    }


# --- the page -------------------------------------------------------------------------------------


async def show(
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
    client_id = as_int((form or {}).get("client_id") or request.query_params.get("client"))
    data = await run_in_threadpool(
        lambda: load(request.app.state.db, settings, viewer, team, notice_id, client_id)
    )
    editing = editing or as_int(request.query_params.get("edit"))
    edited = next((r for r in data["upcoming"] if r.appointment.id == editing), None)
    if edited is not None and edit_form is None:
        edit_form = form_values(edited.appointment.start_at, edited.appointment.end_at, zone)
    booking_client: BookingClient | None = data["booking_client"]
    first = cases.default_language(
        settings.config, booking_client.language if booking_client else None
    )
    form = {"client_language": first, **(form or {"duration": "60", "mode": "phone"})}
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
            "notice": lookup(NOTICES, notice_key) if notice_id else None,
            "status_names": {key: _(name) for key, name in STATUS_NAMES.items()},
            "mode_names": {key: _(name) for key, name in MODE_NAMES.items()},
            "durations": DURATIONS,
            "language_names": labels.client_languages(settings.config),
        },
        status,
    )


def back(team: str | None, notice: str, appointment_id: int) -> RedirectResponse:
    query = f"?notice={notice}&id={appointment_id}" + (f"&team={team}" if team else "")
    return RedirectResponse(f"/appointments{query}", status_code=303)


@page()
async def appointments(request: Request, viewer: Viewer) -> Response:
    return await show(request, viewer, team=team_of(request))


routes = [
    Route("/appointments", appointments, methods=["GET"]),
]
