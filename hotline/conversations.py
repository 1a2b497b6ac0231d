"""The team's text conversations as the web page shows and works them (`web.conversation_pages`),
and their retention.

What a client wrote (and their number, masked) is shown only to the staff of the team: its
coordinators and counsellors. Admins see every team's conversations without what was written,
and cannot act on them, as in the task list. Changes are audited without content.

Retention (`purge`, `delete_provider_copies`): conversations idle longer than
`relay.retention_days` are closed; bodies older than that are deleted here and at Twilio, and
the number of a conversation closed that long ago is deleted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import methodcaller

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from config.phone import masked
from config.settings import Settings
from foundation import access, audit, copies, crypto
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationState,
    Counsellor,
    Direction,
    OutboxMessage,
    User,
)
from hotline.providers import twilio
from hotline.relay import codes
from hotline.relay.delivery import RELAY_PURPOSE, REPLY_PURPOSE, queue_reply
from hotline.relay.parsing import MAX_BODY

log = logging.getLogger(__name__)

CLOSED_SHOWN = 50  # closed conversations listed per team (the newest)
ACTIONS = ("close", "reopen")
RETENTION_ACTOR = "system:retention"
COPIES_BATCH = 100  # messages whose copies at Twilio are deleted per run
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
# Refusals the page shows in its language (web.conversation_pages); filled in with `%`.
TOO_LONG = N_("Eine Nachricht hat höchstens %(count)s Zeichen.")
NUMBER_DELETED = N_("Die Nummer ist nach Ablauf der Aufbewahrungsfrist gelöscht.")
ALREADY_OPEN = N_("Mit dieser Person gibt es schon ein offenes Gespräch (%(code)s).")


class NotStaff(Exception):
    """The user sees the conversation (an admin) but is not staff of its team: no action."""


@dataclass(frozen=True, slots=True)
class Summary:
    """One line of the list."""

    id: int
    code: str
    channel: Channel
    state: ConversationState
    line: str
    last_activity_at: datetime
    messages: int


@dataclass(frozen=True, slots=True)
class Shown:
    """One message as the page shows it; `body` is None when the viewer is not team staff or
    the retention deleted it (`deleted`)."""

    direction: Direction
    created_at: datetime
    status: str
    author: str | None
    body: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Detail:
    id: int
    team_id: int
    code: str
    channel: Channel
    state: ConversationState
    line: str
    client: str | None  # masked ("•••678"); None for non-staff or after the retention
    created_at: datetime
    last_activity_at: datetime
    messages: list[Shown]


def team_conversations(session: Session, team_id: int) -> tuple[list[Summary], list[Summary]]:
    """Open conversations of a team (all, most recent activity first) and the newest closed."""
    counts = (
        select(ConversationMessage.conversation_id, func.count().label("n"))
        .group_by(ConversationMessage.conversation_id)
        .subquery()
    )
    query = (
        select(Conversation, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.conversation_id == Conversation.id)
        .where(Conversation.team_id == team_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    )
    found: dict[ConversationState, list[Summary]] = {state: [] for state in ConversationState}
    for state, limit in ((ConversationState.OPEN, None), (ConversationState.CLOSED, CLOSED_SHOWN)):
        for conversation, messages in session.execute(
            query.where(Conversation.state == state).limit(limit)
        ):
            found[state].append(
                Summary(
                    conversation.id,
                    conversation.code,
                    conversation.channel,
                    conversation.state,
                    conversation.line,
                    conversation.last_activity_at,
                    int(messages),
                )
            )
    return found[ConversationState.OPEN], found[ConversationState.CLOSED]


def open_count(session: Session, team_id: int) -> int:
    """For the dashboard: how many conversations of the team are open."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.team_id == team_id, Conversation.state == ConversationState.OPEN)
        )
        or 0
    )


def team_of(session: Session, conversation_id: int) -> int | None:
    return session.scalar(select(Conversation.team_id).where(Conversation.id == conversation_id))


def detail(session: Session, settings: Settings, conversation_id: int, *, staff: bool) -> Detail:
    """A conversation with its messages, oldest first; decrypted only for the team's staff."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation")
    rows = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conversation.id)
        .order_by(ConversationMessage.created_at, ConversationMessage.id)
    ).all()
    counsellors = dict(
        session.execute(
            select(Counsellor.id, Counsellor.name).where(
                Counsellor.id.in_({r.counsellor_id for r in rows if r.counsellor_id})
            )
        ).all()
    )
    users = dict(
        session.execute(
            select(User.id, User.username).where(
                User.id.in_({r.user_id for r in rows if r.user_id})
            )
        ).all()
    )
    box = crypto.box(settings) if staff else None

    def opened(value: bytes | None) -> str | None:
        return box.open(value) if box is not None and value is not None else None

    client = opened(conversation.client_enc)
    return Detail(
        id=conversation.id,
        team_id=conversation.team_id,
        code=conversation.code,
        channel=conversation.channel,
        state=conversation.state,
        line=conversation.line,
        client=masked(client) if client else None,
        created_at=conversation.created_at,
        last_activity_at=conversation.last_activity_at,
        messages=[
            Shown(
                direction=row.direction,
                created_at=row.created_at,
                status=row.status,
                author=(counsellors.get(row.counsellor_id) if row.counsellor_id else None)
                or (users.get(row.user_id) if row.user_id else None),
                body=opened(row.body_enc),
                deleted=row.body_enc is None,
            )
            for row in rows
        ],
    )


def _staff_conversation(session: Session, conversation_id: int, by: Principal) -> Conversation:
    """The conversation, locked after its team's row: the order the webhook takes them in
    (`hotline.relay.codes.lock_team`), so a reopening and a client's new message cannot
    interleave. One the principal may not see is NotFound, like a missing one; one she sees but
    is not staff of, NotStaff."""
    team_id = team_of(session, conversation_id)
    if team_id is None or not access.may_see_conversation(by, team_id):
        raise NotFound("no such conversation")
    if not access.is_staff(by, team_id):
        raise NotStaff
    codes.lock_team(session, team_id)
    conversation = session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise NotFound("no such conversation")
    return conversation


def reply(
    session: Session,
    settings: Settings,
    conversation_id: int,
    text: str,
    *,
    user_id: int,
    counsellor_id: int | None,
    actor: str,
    by: Principal,
    now: datetime | None = None,
) -> int:
    """A reply written in the web page; returns the row to deliver after the commit. Invalid
    (empty, too long), Conflict (closed, or the number is deleted), NotFound, NotStaff."""
    now = now or utcnow()
    conversation = _staff_conversation(session, conversation_id, by)
    text = text.strip()
    if not text:
        raise Invalid(N_("Bitte schreiben Sie eine Nachricht."), field="body")
    if len(text) > MAX_BODY:
        raise Invalid(TOO_LONG % {"count": MAX_BODY}, field="body")
    if conversation.state is not ConversationState.OPEN:
        raise Conflict(N_("Das Gespräch ist geschlossen. Öffnen Sie es wieder, um zu antworten."))
    if conversation.client_enc is None:
        raise Conflict(NUMBER_DELETED)
    message = queue_reply(
        session, settings, conversation, text, counsellor_id=counsellor_id, user_id=user_id, now=now
    )
    audit.record(
        session, actor, "reply", "conversation", conversation.id, after={"message_id": message.id}
    )
    return message.id


def change_state(
    session: Session,
    conversation_id: int,
    action: str,
    *,
    actor: str,
    by: Principal,
    now: datetime | None = None,
) -> None:
    """Schließen (close) or Wieder öffnen (reopen). A reopened conversation keeps its code
    only if no other conversation of the team has it open or had it within
    `hotline.relay.codes.CODE_REST`, else it gets a new one as a new conversation would; it
    cannot be reopened when the client has another open conversation, or their number is
    deleted (Conflict)."""
    now = now or utcnow()
    conversation = _staff_conversation(session, conversation_id, by)
    if action not in ACTIONS:
        raise Invalid(N_("Diese Aktion gibt es nicht."), field="action")
    before = {"state": conversation.state.value, "code": conversation.code}
    if action == "close":
        if conversation.state is ConversationState.CLOSED:
            return
        conversation.state, conversation.closed_at = ConversationState.CLOSED, now
    else:
        if conversation.state is ConversationState.OPEN:
            return
        _may_reopen(session, conversation)
        conversation.code = codes.free_code(session, conversation.team_id, now, keep=conversation)
        conversation.state, conversation.closed_at = ConversationState.OPEN, None
        conversation.last_activity_at = now
    after = {"state": conversation.state.value, "code": conversation.code}
    audit.record(
        session, actor, action, "conversation", conversation.id, before=before, after=after
    )


def _may_reopen(session: Session, conversation: Conversation) -> None:
    if conversation.client_enc is None or conversation.client_hash is None:
        raise Conflict(NUMBER_DELETED)
    other = session.scalar(
        select(Conversation.code).where(
            Conversation.team_id == conversation.team_id,
            Conversation.client_hash == conversation.client_hash,
            Conversation.state == ConversationState.OPEN,
        )
    )
    if other is not None:
        raise Conflict(ALREADY_OPEN % {"code": other})


# --- retention ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purged:
    closed: int
    bodies: int
    addresses: int
    outbox: int


def _cutoff(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.config.relay.retention_days)


def purge(session: Session, settings: Settings, now: datetime) -> Purged:
    """Close conversations idle for longer than `relay.retention_days` (so that none keeps a
    number for ever); delete message bodies older than that, the client address of
    conversations closed before that, and the simulation outbox's copies of relayed messages.
    The rows stay (who, when, how delivered), without content. Idempotent."""
    cutoff = _cutoff(settings, now)
    closed = session.execute(
        update(Conversation)
        .where(
            Conversation.state == ConversationState.OPEN,
            Conversation.last_activity_at < cutoff,
        )
        .values(state=ConversationState.CLOSED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    bodies = session.execute(
        update(ConversationMessage)
        .where(ConversationMessage.body_enc.is_not(None), ConversationMessage.created_at < cutoff)
        .values(body_enc=None)
        .execution_options(synchronize_session=False)
    )
    addresses = session.execute(
        update(Conversation)
        .where(
            Conversation.state == ConversationState.CLOSED,
            Conversation.closed_at < cutoff,
            Conversation.client_enc.is_not(None),
        )
        .values(client_enc=None, client_hash=None)
        .execution_options(synchronize_session=False)
    )
    copies = session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.purpose.in_((RELAY_PURPOSE, REPLY_PURPOSE)),
            OutboxMessage.created_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    done = Purged(
        *(int(getattr(r, "rowcount", 0) or 0) for r in (closed, bodies, addresses, copies))
    )
    if done.closed or done.bodies or done.addresses or done.outbox:
        log.info(
            "retention: %d idle conversations closed; %d message bodies, %d client numbers, "
            "%d outbox copies deleted",
            done.closed,
            done.bodies,
            done.addresses,
            done.outbox,
        )
        audit.record(
            session,
            RETENTION_ACTOR,
            "purge",
            "conversation",
            None,
            after={
                "closed": done.closed,
                "bodies": done.bodies,
                "addresses": done.addresses,
                "outbox": done.outbox,
            },
        )
    return done


def expired_copies(
    session: Session, settings: Settings, now: datetime, limit: int = COPIES_BATCH
) -> list[tuple[int, list[str]]]:
    """Messages older than the retention whose copies at Twilio (the incoming message, ours)
    are not yet deleted: (id, their Twilio ids)."""
    found = session.execute(
        select(
            ConversationMessage.id,
            ConversationMessage.received_sid,
            ConversationMessage.provider_sid,
        )
        .where(
            ConversationMessage.created_at < _cutoff(settings, now),
            ConversationMessage.provider_deleted_at.is_(None),
            or_(
                ConversationMessage.received_sid.is_not(None),
                ConversationMessage.provider_sid.is_not(None),
            ),
        )
        .order_by(ConversationMessage.id)
        .limit(limit)
    )
    return [
        (message_id, [sid for sid in sids if sid and MESSAGE_SID.match(sid)])
        for message_id, *sids in found
    ]


def _deleted_at_twilio(settings: Settings, sids: list[str]) -> bool:
    return all(
        twilio.delete(settings, "relayed message", methodcaller("messages", sid)) for sid in sids
    )


def delete_provider_copies(db: Database, settings: Settings, now: datetime) -> int:
    """Delete Twilio's copies (body and numbers, in its message log) of the messages past the
    retention, a batch per run; each is noted once Twilio confirmed (or no longer has it), so
    what Twilio could not delete now is tried again next run. Not in simulation mode (nothing
    is at Twilio). No database lock is held during the REST calls. Returns how many rows."""
    if settings.simulation:
        return 0
    with db.read() as session:
        due = expired_copies(session, settings, now)
    deleted = [(message_id, sids) for message_id, sids in due if _deleted_at_twilio(settings, sids)]
    done = [message_id for message_id, _ in deleted]
    if done:
        with db.write() as session:
            copies.forget_sids(session, (sid for _, sids in deleted for sid in sids))
            session.execute(
                update(ConversationMessage)
                .where(ConversationMessage.id.in_(done))
                .values(provider_deleted_at=now)
                .execution_options(synchronize_session=False)
            )
        log.info("retention: Twilio's copies of %d relayed messages deleted", len(done))
    if len(done) < len(due):
        log.warning("retention: %d relayed messages still at Twilio", len(due) - len(done))
    return len(done)
