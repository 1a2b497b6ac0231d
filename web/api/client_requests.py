"""/api/v1/clients/{client_id}/export and DELETE /api/v1/clients/{client_id}: a client's
data-subject requests (scheduling.subject_requests, docs/retention.md#data-subject-requests).

The export is everything held about the client as JSON (`ClientExportOut`), for a key whose
scope covers the client's team (a read-only one too: it reads), in the access log like every
opening. DELETE erases the client now, with the completeness of the retention (204), for a
writable key of the team; then, in the background, SQLite's log is emptied into the file and
Twilio's copies are deleted (and, should Twilio not answer now, by the hourly retention). A
client the key may not see is a 404, as a missing one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from hotline import twilio_copies
from scheduling import subject_requests
from web.api import clients
from web.api.plumbing import Work, api, one_route, path_id
from web.responses import json_response
from web.schemas import ClientExportOut

PATH = "/api/v1/clients/{client_id}"


@api
async def export_client(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    db: Database = request.app.state.db
    settings = request.app.state.settings

    def work(session: Session, who: Principal) -> Response:
        done = subject_requests.export(session, settings, client_id, by=who)
        with db.write() as written:  # a reading, logged as every opening is
            subject_requests.log_export(written, who, done)
        return json_response(ClientExportOut.model_validate(done.document))

    return work


async def _erase_client(request: Request) -> Work:
    client_id = path_id(request, "client_id")
    state = request.app.state

    def work(session: Session, who: Principal) -> Response:
        subject_requests.erase(session, state.settings, client_id, by=who)
        return Response(
            status_code=204,
            background=BackgroundTask(
                twilio_copies.after_erasure, state.db, state.settings, utcnow()
            ),
        )

    return work


erase_client = api(_erase_client, write=True)

# The client's own path answers GET and PATCH with the client record (`web.api.clients`) and
# DELETE with the erasure: one route, so that another method is a 405 naming all three. It
# comes before the records' routes (`web.api.routes`).
routes = [
    Route(f"{PATH}/export", export_client, methods=["GET"]),
    Route(
        PATH,
        one_route(clients.get_client, patch=clients.change_client, delete=erase_client),
        methods=["GET", "PATCH", "DELETE"],
    ),
]
