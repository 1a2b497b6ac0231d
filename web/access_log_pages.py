"""The access log page "Zugriffe" (admins only): who opened which record of client data, when;
narrowed to a kind of record and one record (`?kind=appointment&id=42`). Never content."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from foundation import access_log
from foundation.models import AccessLogEntry, Role
from web.auth import Viewer, page
from web.i18n import _
from web.pages import as_int, render


@page(Role.ADMIN)
async def access_log_page(request: Request, viewer: Viewer) -> Response:
    kind = request.query_params.get("kind") or None
    record_id = as_int(request.query_params.get("id")) or None
    if kind is not None and kind not in access_log.KINDS:
        kind = None  # an unknown kind is no filter: the page says what it shows

    def load() -> list[AccessLogEntry]:
        with request.app.state.db.read() as session:
            return access_log.entries(session, kind=kind, record_id=record_id)

    entries = await run_in_threadpool(load)
    context = {
        "viewer": viewer,
        "entries": entries,
        "kinds": {value: _(name) for value, name in access_log.KINDS.items()},
        "kind": kind,
        "record_id": record_id,
        "retention_days": request.app.state.settings.config.access_log.retention_days,
        "page_size": access_log.PAGE_SIZE,
    }
    return render(request, "access_log.html", context)


routes = [Route("/access-log", access_log_page, methods=["GET"])]
