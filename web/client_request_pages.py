"""A client's data-subject requests in the web pages (scheduling.subject_requests,
docs/retention.md#data-subject-requests):

* "Auskunft" (`/clients/{id}/export`): everything held about the client on one readable page in
  the page's language (German unless the account chose English), made for printing (or saving
  as PDF from the browser's print dialogue), and the same as a JSON file
  (`/clients/{id}/export.json`, the API's shape, German-independent). Each is in the access log.
* "Akte löschen" (`/clients/{id}/erase`): the confirmation step, where the pseudonym must be
  typed; then the client is erased now, with the completeness of the retention, and Twilio's
  copies are deleted in the background (after SQLite's log is emptied into the file:
  `hotline.twilio_copies.after_erasure`).

Only the team's staff (`foundation.access.may_see_client` to export, `may_change_client` to
erase): an admin as such, and anyone of another team, is answered like a missing client (404).
"""

from __future__ import annotations

import json
from datetime import datetime

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from foundation import dates
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Invalid, NotFound
from hotline import twilio_copies
from scheduling import subject_requests
from scheduling.clients import records
from web import client_views as views
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _, language
from web.pages import as_int, render
from web.schemas import ClientExportOut

KIND_NAMES = {"client": N_("an die Klientin / den Klienten"), "counsellor": N_("an die Beratung")}
MODES = {"phone": N_("Telefon"), "in_person": N_("vor Ort"), "video": "Video"}
APPOINTMENT_NAMES = {
    "booked": N_("gebucht"),
    "cancelled": N_("abgesagt"),
    "done": N_("stattgefunden"),
    "no_show": N_("nicht erschienen"),
}
TASK_NAMES = {"new": N_("neu"), "in_progress": N_("in Bearbeitung"), "done": N_("erledigt")}
DIRECTIONS = {
    "in": N_("von der Klientin / dem Klienten"),
    "out": N_("an die Klientin / den Klienten"),
}
RECORDING = {"at_twilio": N_("bei Twilio gespeichert"), "deleted": N_("gelöscht")}


def _client_id(request: Request) -> int:
    return as_int(request.path_params.get("client_id"))


def _export(request: Request, viewer: Viewer) -> ClientExportOut:
    """The export, read and logged in one transaction; a client the viewer may not see is
    Hidden (404)."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    with db.write() as session:
        try:
            done = subject_requests.export(
                session, settings, _client_id(request), by=viewer.principal
            )
        except NotFound:
            raise Hidden from None
        subject_requests.log_export(session, viewer.principal, done)
    return ClientExportOut.model_validate(done.document)


@page()
async def export_page(request: Request, viewer: Viewer) -> Response:
    shown = await run_in_threadpool(_export, request, viewer)
    zone = request.app.state.settings.config.organisation.zone

    def full(moment: datetime) -> str:
        """'Do 26.11.2026, 09:00'; 'Thu 26 Nov 2026, 09:00': an export spans years."""
        local, code = moment.astimezone(zone), language()
        day = f"{dates.weekday(local.date(), code)} {dates.day_month_year(local.date(), code)}"
        return f"{day}, {dates.clock(moment, zone, code)}"

    context = {
        "full": full,
        "viewer": viewer,
        "export": shown,
        "status_names": views.names(views.STATUS_NAMES),
        "step_names": views.names(views.STEP_NAMES),
        "channel_names": views.names(views.CHANNEL_NAMES),
        "kind_names": views.names(KIND_NAMES),
        "directions": views.names(DIRECTIONS),
        "recording": views.names(RECORDING),
        "modes": views.names(MODES),
        "appointment_names": views.names(APPOINTMENT_NAMES),
        "task_names": views.names(TASK_NAMES),
    }
    return render(request, "client_export.html", context)


@page()
async def export_file(request: Request, viewer: Viewer) -> Response:
    shown = await run_in_threadpool(_export, request, viewer)
    body = json.dumps(shown.model_dump(mode="json"), ensure_ascii=False, indent=2)
    name = f"auskunft-fall-{shown.client.id}.json"
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _erasable(request: Request, viewer: Viewer) -> tuple[int, str]:
    db: Database = request.app.state.db
    with db.read() as session:
        try:
            client = records.changeable(session, _client_id(request), viewer.principal)
        except NotFound:
            raise Hidden from None
        except records.ReadOnly:
            raise Forbidden from None
        return client.id, client.pseudonym


async def _confirm(
    request: Request, viewer: Viewer, message: str | None = None, status: int = 200
) -> Response:
    client_id, pseudonym = await run_in_threadpool(_erasable, request, viewer)
    context = {
        "viewer": viewer,
        "client_id": client_id,
        "pseudonym": pseudonym,
        "message": message,
    }
    return render(request, "client_erase.html", context, status)


@page()
async def erase_form(request: Request, viewer: Viewer) -> Response:
    return await _confirm(request, viewer)


@page()
async def erase(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    form = await request.form()
    typed = str(form.get("confirm", ""))

    def save() -> None:
        with db.write() as session:
            subject_requests.erase(
                session, settings, _client_id(request), by=viewer.principal, confirm=typed
            )

    try:
        await run_in_threadpool(save)
    except NotFound:
        raise Hidden from None
    except records.ReadOnly:
        raise Forbidden from None
    except Invalid as exc:
        return await _confirm(request, viewer, _(exc.message), 422)
    context = {"viewer": viewer, "client_id": _client_id(request), "done": True}
    response = render(request, "client_erase.html", context)
    response.background = BackgroundTask(twilio_copies.after_erasure, db, settings, utcnow())
    return response


routes = [
    Route("/clients/{client_id}/export", export_page, methods=["GET"]),
    Route("/clients/{client_id}/export.json", export_file, methods=["GET"]),
    Route("/clients/{client_id}/erase", erase_form, methods=["GET"]),
    Route("/clients/{client_id}/erase", erase, methods=["POST"]),
]
