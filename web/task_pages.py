"""The task list "Aufgaben": callback requests and voicemails of the viewer's teams, newest
first, with who took each. Admins see every team's list; what a client left (name, number,
message, the recording) only the staff of the team sees: its coordinators and counsellors.

The recording player streams through this service (`/tasks/voicemails/<id>/audio`): the
browser never gets a Twilio URL or credentials, and nothing is cached (`no-store`)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from config.settings import Settings
from foundation import access, access_log
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import TaskStatus
from foundation.teams import team_by_slug
from hotline import recordings
from hotline.outbound_calls import summaries
from hotline.tasks import voicemail_recordings
from hotline.tasks.status import NotStaff, change_status
from hotline.tasks.task_list import Task, team_tasks
from scheduling.clients import links
from scheduling.clients import records as client_records
from web import labels, outbound_call_pages
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _, lookup
from web.pages import as_int, render

NO_STORE = {"Cache-Control": "no-store"}
LINKED = {"callback": "callback_request", "voicemail": "voicemail"}  # task kinds as links names
MESSAGES = {
    "done": N_("Diese Aufgabe ist schon erledigt. Öffnen Sie sie wieder, um sie zu übernehmen."),
    "action": N_("Diese Aktion gibt es nicht."),
    "new": N_("Bitte übernehmen Sie die Nachricht, bevor Sie die Aufnahme löschen."),
    "twilio": N_(
        "Twilio hat die Aufnahme gerade nicht gelöscht. Bitte versuchen Sie es später noch einmal."
    ),
}


@dataclass(frozen=True, slots=True)
class TeamSection:
    slug: str
    name: str
    staff: bool  # the viewer may see what clients left, and act
    open: list[Task]
    done: list[Task]
    calls: dict[tuple[str, int], summaries.Summary]  # the latest call-back of a task
    links: dict[tuple[str, int], links.LinkState]  # how each task stands to the clients
    clients: list[tuple[int, str]]  # the team's clients to link a task to (id, pseudonym)


def _sections(db: Database, settings: Settings, viewer: Viewer) -> list[TeamSection]:
    now = utcnow()
    sections = []
    with db.read() as session:
        for slug in access.teams_seen(viewer.principal, settings.config.teams):
            team = team_by_slug(session, slug, settings.config)
            staff = access.is_staff(viewer.principal, slug)
            found = team_tasks(session, settings, team.id, details=staff, now=now)
            calls = {
                (kind, target_id): summary
                for kind in ("callback", "voicemail")
                for target_id, summary in summaries.latest(
                    session,
                    settings,
                    kind,
                    (t.id for t in found.open + found.done if t.kind == kind),
                ).items()
            }
            tasks = found.open + found.done
            states: dict[tuple[str, int], links.LinkState] = {}
            choices: list[tuple[int, str]] = []
            if access.may_change_client(viewer.principal, slug):
                for kind, linked in LINKED.items():
                    of_kind = [t.id for t in tasks if t.kind == kind]
                    for task_id, state in links.states(session, settings, linked, of_kind).items():
                        states[kind, task_id] = state
                choices = [
                    (c.id, c.pseudonym) for c in client_records.team_clients(session, team.id)
                ]
            sections.append(
                TeamSection(slug, team.name, staff, found.open, found.done, calls, states, choices)
            )
    # The link forms name the team's clients by pseudonym, as the list "Klienten" does.
    named = [i for s in sections for i in links.shown_clients(s.links.values(), s.clients)]
    access_log.log_opened(db, viewer.principal, "client", named)
    shown = [t for s in sections if s.staff for t in s.open + s.done]  # with what was left
    for kind, logged in (("callback", "callback_request"), ("voicemail", "voicemail")):
        ids = (t.id for t in shown if t.kind == kind)
        access_log.log_opened(db, viewer.principal, logged, ids)
    return sections


async def _page(
    request: Request,
    viewer: Viewer,
    message: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    sections = await run_in_threadpool(_sections, request.app.state.db, settings, viewer)
    context = {
        "viewer": viewer,
        "sections": sections,
        "message": message,
        "notice": notice,
        "status_names": labels.task_statuses(),
    }
    return render(request, "tasks.html", context, status)


def _task_id(request: Request) -> int:
    return as_int(request.path_params.get("task_id"))


@page()
async def task_list(request: Request, viewer: Viewer) -> Response:
    notice = lookup(outbound_call_pages.NOTICES, request.query_params.get("notice"))
    return await _page(request, viewer, notice=notice)


async def _change(request: Request, viewer: Viewer, kind: str) -> Response:
    db: Database = request.app.state.db
    form = await request.form()
    action = str(form.get("action", ""))
    task_id = _task_id(request)

    def save() -> None:
        with db.write() as session:
            change_status(
                session,
                kind,
                task_id,
                action,
                user_id=viewer.user_id,
                actor=viewer.actor,
                by=viewer.principal,
            )

    try:
        await run_in_threadpool(save)
    except NotFound:
        raise Hidden from None  # gone (retention), or of a team the viewer does not see
    except NotStaff:
        raise Forbidden from None
    except Conflict:
        return await _page(request, viewer, _(MESSAGES["done"]), 409)
    except Invalid:
        return await _page(request, viewer, _(MESSAGES["action"]), 422)
    return RedirectResponse("/tasks", status_code=303)


@page()
async def callback_status(request: Request, viewer: Viewer) -> Response:
    return await _change(request, viewer, "callback")


@page()
async def voicemail_status(request: Request, viewer: Viewer) -> Response:
    return await _change(request, viewer, "voicemail")


async def _call_back(request: Request, viewer: Viewer, kind: str) -> Response:
    """ "Zurückrufen": the viewer's phone rings, then the client's (team staff only)."""
    task_id = _task_id(request)
    outcome = await outbound_call_pages.start(request, viewer, kind, task_id)
    if outcome.error:
        return await _page(request, viewer, outcome.error, outcome.status)
    return RedirectResponse(f"/tasks?notice={outcome.notice}#{kind}-{task_id}", status_code=303)


@page()
async def callback_call(request: Request, viewer: Viewer) -> Response:
    return await _call_back(request, viewer, "callback")


@page()
async def voicemail_call(request: Request, viewer: Viewer) -> Response:
    return await _call_back(request, viewer, "voicemail")


async def _recording(request: Request, viewer: Viewer) -> voicemail_recordings.RecordingRef | None:
    """The voicemail of the path, if it exists and the viewer sees it (else None: the same
    answer); Forbidden unless the viewer may work it (team staff)."""
    db: Database = request.app.state.db
    voicemail_id = _task_id(request)

    def load() -> voicemail_recordings.RecordingRef | None:
        with db.read() as session:
            return voicemail_recordings.recording_of(session, voicemail_id)

    ref = await run_in_threadpool(load)
    if ref is None or not access.may_see_task(viewer.principal, ref.team_id):
        return None
    if not access.may_work_task(viewer.principal, ref.team_id):
        raise Forbidden
    return ref


def _plain(text: str, status: int) -> Response:
    return PlainTextResponse(text, status_code=status, headers=NO_STORE)


@page()
async def audio(request: Request, viewer: Viewer) -> Response:
    """The recording, streamed from Twilio (a `Range` passed on, so the player can seek)."""
    settings: Settings = request.app.state.settings
    ref = await _recording(request, viewer)
    if ref is None:
        return _plain(_("Diese Sprachnachricht gibt es nicht."), 404)
    if ref.deleted:
        return _plain(_("Die Aufnahme wurde gelöscht."), 404)
    await run_in_threadpool(
        access_log.log_opened,
        request.app.state.db,
        viewer.principal,
        "voicemail_audio",
        [ref.voicemail_id],
    )
    if settings.simulation:  # no Twilio: a second of silence, so the player can be tried
        return Response(recordings.silence(), media_type="audio/wav", headers=NO_STORE)
    try:
        media = await run_in_threadpool(
            recordings.open_media, settings, ref.recording_sid, request.headers.get("range")
        )
    except recordings.RecordingGone:
        return _plain(_("Twilio hat diese Aufnahme nicht (mehr)."), 404)
    except recordings.RecordingUnavailable:
        unavailable = _("Die Aufnahme ist gerade nicht abrufbar. Bitte später erneut versuchen.")
        return _plain(unavailable, 502)
    return StreamingResponse(
        media.chunks, status_code=media.status, headers={**media.headers, **NO_STORE}
    )


@page()
async def delete_recording(request: Request, viewer: Viewer) -> Response:
    """ "Aufnahme bei Twilio löschen": once someone has taken the voicemail."""
    settings: Settings = request.app.state.settings
    ref = await _recording(request, viewer)
    if ref is None:
        raise Hidden
    if ref.deleted:
        return RedirectResponse("/tasks", status_code=303)
    if ref.status is TaskStatus.NEW:
        return await _page(request, viewer, _(MESSAGES["new"]), 409)
    try:
        await run_in_threadpool(
            voicemail_recordings.delete_recording,
            request.app.state.db,
            settings,
            ref.voicemail_id,
            actor=viewer.actor,
        )
    except recordings.RecordingUnavailable:
        return await _page(request, viewer, _(MESSAGES["twilio"]), 502)
    return RedirectResponse("/tasks", status_code=303)


routes = [
    Route("/tasks", task_list, methods=["GET"]),
    Route("/tasks/callbacks/{task_id}/status", callback_status, methods=["POST"]),
    Route("/tasks/voicemails/{task_id}/status", voicemail_status, methods=["POST"]),
    Route("/tasks/callbacks/{task_id}/call", callback_call, methods=["POST"]),
    Route("/tasks/voicemails/{task_id}/call", voicemail_call, methods=["POST"]),
    Route("/tasks/voicemails/{task_id}/audio", audio, methods=["GET"]),
    Route("/tasks/voicemails/{task_id}/recording/delete", delete_recording, methods=["POST"]),
]
