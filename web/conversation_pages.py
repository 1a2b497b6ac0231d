"""The text relay in the web page ("Nachrichten"): the conversations of the viewer's teams, one
conversation with its messages, a reply form (sent to the client from the line's number) and
Schließen / Wieder öffnen. What clients wrote is shown to the team's staff only (coordinators
and counsellors); admins see every team's list without it and cannot act, as in the task list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, access_log
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import ConversationState
from foundation.teams import team_by_slug
from hotline import conversations
from hotline.relay import delivery, flood_limit, states
from hotline.relay.parsing import MAX_BODY
from scheduling.clients import links
from scheduling.clients import records as client_records
from web.auth import Forbidden, Hidden, Viewer, page
from web.i18n import N_, _, refusal
from web.pages import as_int, render

STATE_NAMES = {ConversationState.OPEN: N_("offen"), ConversationState.CLOSED: N_("geschlossen")}
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}
STATUS_NAMES = {
    states.HELD: N_("außerhalb der Sprechzeiten eingegangen, nicht weitergeleitet"),
    states.UNROUTED: N_("niemand im Dienst, nicht weitergeleitet"),
    flood_limit.CLIENT_LIMITED: N_("zu viele Nachrichten dieser Person, nicht weitergeleitet"),
    flood_limit.TEAM_LIMITED: N_("zu viele Nachrichten an das Team, nicht weitergeleitet"),
    states.AUTO: N_("automatische Antwort"),
    states.QUEUED: N_("wartet auf Versand"),
    states.SENDING: N_("wird gesendet"),
    states.SENT: N_("gesendet"),
    states.DELIVERED: N_("zugestellt"),
    states.READ: N_("gelesen"),
    states.FAILED: N_("fehlgeschlagen"),
    states.UNDELIVERED: N_("nicht zugestellt"),
    states.UNCERTAIN: N_("unklar (im Twilio-Protokoll prüfen)"),
}

REFUSALS = (conversations.TOO_LONG, conversations.ALREADY_OPEN)  # with values


def _conversation_id(request: Request) -> int:
    return as_int(request.path_params.get("conversation_id"))


@dataclass(frozen=True, slots=True)
class TeamSection:
    slug: str
    name: str
    staff: bool
    open: list[conversations.Summary]
    closed: list[conversations.Summary]


def _sections(db: Database, settings: Settings, viewer: Viewer) -> list[TeamSection]:
    sections = []
    with db.read() as session:
        for slug in access.teams_seen(viewer.principal, settings.config.teams):
            team = team_by_slug(session, slug, settings.config)
            found_open, found_closed = conversations.team_conversations(session, team.id)
            staff = access.is_staff(viewer.principal, slug)
            sections.append(TeamSection(slug, team.name, staff, found_open, found_closed))
    return sections


def _context(viewer: Viewer) -> dict[str, object]:
    return {
        "viewer": viewer,
        "state_names": {key: _(name) for key, name in STATE_NAMES.items()},
        "channel_names": CHANNEL_NAMES,
        "status_names": {key: _(name) for key, name in STATUS_NAMES.items()},
    }


@page()
async def conversation_list(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    sections = await run_in_threadpool(_sections, request.app.state.db, settings, viewer)
    return render(request, "conversations.html", {**_context(viewer), "sections": sections})


async def _view(
    request: Request,
    viewer: Viewer,
    *,
    message: str | None = None,
    draft: str = "",
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    conversation_id = _conversation_id(request)
    who = viewer.principal

    def load() -> tuple[conversations.Detail, links.LinkState | None, list[tuple[int, str]]]:
        with db.read() as session:
            team_id = conversations.team_of(session, conversation_id)
            if team_id is None or not access.may_see_conversation(who, team_id):
                raise Hidden  # another team's is answered like a missing one
            staff = access.is_staff(who, team_id)
            detail = conversations.detail(session, settings, conversation_id, staff=staff)
            state, choices = None, []
            if access.may_change_client(who, team_id):
                state = links.states(session, settings, "conversation", [conversation_id]).get(
                    conversation_id
                )
                choices = [
                    (c.id, c.pseudonym) for c in client_records.team_clients(session, team_id)
                ]
        if staff:  # only staff are shown what was written
            access_log.log_opened(db, who, "conversation", [conversation_id])
        # The link form names the team's clients by pseudonym, as the list "Klienten" does.
        access_log.log_opened(db, who, "client", links.shown_clients([state], choices))
        return detail, state, choices

    shown, link_state, client_choices = await run_in_threadpool(load)
    context = {
        **_context(viewer),
        "conversation": shown,
        "staff": access.is_staff(who, shown.team_id),
        "message": message,
        "draft": draft,
        "max_body": MAX_BODY,
        "link_state": link_state,
        "client_choices": client_choices,
    }
    return render(request, "conversation.html", context, status)


@page()
async def conversation_view(request: Request, viewer: Viewer) -> Response:
    return await _view(request, viewer)


Change = Callable[[Session], int | None]


async def _act(request: Request, viewer: Viewer, change: Change, draft: str = "") -> Response:
    """Run `change` in one transaction, then back to the conversation; a refusal is explained
    on it, and nothing is changed. A returned id is a message to deliver once the transaction
    has committed. A conversation the viewer does not see is answered like a missing one."""
    db: Database = request.app.state.db

    def save() -> int | None:
        with db.write() as session:
            return change(session)

    try:
        message_id = await run_in_threadpool(save)
    except NotFound:
        raise Hidden from None
    except conversations.NotStaff:
        raise Forbidden from None
    except (Invalid, Conflict) as exc:
        status = 422 if isinstance(exc, Invalid) else 409
        message = refusal(exc.message, REFUSALS)
        return await _view(request, viewer, message=message, draft=draft, status=status)
    response = RedirectResponse(f"/conversations/{_conversation_id(request)}", status_code=303)
    if message_id is not None:
        settings: Settings = request.app.state.settings
        state = request.app.state
        response.background = BackgroundTask(
            delivery.deliver, db, settings, state.provider, state.rota, [message_id]
        )
    return response


@page()
async def reply(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    text = str((await request.form()).get("body", ""))

    def change(session: Session) -> int:
        return conversations.reply(
            session,
            settings,
            _conversation_id(request),
            text,
            user_id=viewer.user_id,
            counsellor_id=viewer.counsellor_id,
            actor=viewer.actor,
            by=viewer.principal,
        )

    return await _act(request, viewer, change, draft=text)


@page()
async def change_state(request: Request, viewer: Viewer) -> Response:
    action = str((await request.form()).get("action", ""))

    def change(session: Session) -> None:
        conversations.change_state(
            session, _conversation_id(request), action, actor=viewer.actor, by=viewer.principal
        )

    return await _act(request, viewer, change)


routes = [
    Route("/conversations", conversation_list, methods=["GET"]),
    Route("/conversations/{conversation_id}", conversation_view, methods=["GET"]),
    Route("/conversations/{conversation_id}/reply", reply, methods=["POST"]),
    Route("/conversations/{conversation_id}/state", change_state, methods=["POST"]),
]
