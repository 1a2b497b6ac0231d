"""A client's message to a line: stored in their open conversation with the line's team (opened
with a free code if need be), then relayed to the on-call counsellor, held outside the line's
hours (with the configured answer in the client's language, once a night), or stored only
(nobody on call, a flood)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import crypto, outbox
from foundation.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationState,
    Counsellor,
    Direction,
)
from hotline import hours, routing
from hotline.relay import flood_limit, language
from hotline.relay.codes import free_code, lock_line_team
from hotline.relay.delivery import queue_reply
from hotline.relay.incoming import Answer, Incoming, seen
from hotline.relay.parsing import ATTACHMENT, client_address
from hotline.relay.states import AUTO, HELD, QUEUED, UNROUTED
from hotline.routing import Rota

log = logging.getLogger(__name__)

# The out-of-hours answer goes at most once in this long to one conversation.
AUTO_REPLY_QUIET = timedelta(hours=12)


def from_client(
    session: Session, settings: Settings, incoming: Incoming, now: datetime, rota: Rota
) -> Answer:
    """A client's message to a line: stored in their open conversation (opened if need be),
    relayed to the on-call counsellor (`rota` says who is on call), or answered with the hours
    when the line is closed."""
    config = settings.config
    line = config.lines[incoming.line]
    team = lock_line_team(session, settings, incoming.line)
    if seen(session, incoming.message_sid):
        return Answer()
    channel, address = client_address(incoming.sender)
    conversation = _conversation_of(
        session, settings, team.id, incoming.line, channel, address, now
    )
    body = incoming.body.strip()
    if incoming.media:
        body = f"{body}\n{ATTACHMENT}".strip()
    counsellor_id, tier, status = None, None, HELD
    notices: list[int] = []
    closed = hours.closed_reason(config, line, now) is not None
    if not closed:
        reached = routing.first_reachable(rota(session, line.team, now))
        if reached is not None:
            counsellor_id, tier = reached.counsellor_id, reached.tier
        status = QUEUED if counsellor_id else UNROUTED
    if counsellor_id is not None:
        limited = flood_limit.exceeded(session, config.relay, conversation, now)
        if limited is not None:
            notices = _tell_limit(session, settings, conversation, counsellor_id, limited, now)
            counsellor_id, tier, status = None, None, limited
    message = ConversationMessage(
        conversation_id=conversation.id,
        direction=Direction.IN,
        body_enc=crypto.box(settings).seal(body),
        received_sid=incoming.message_sid or None,
        status=status,
        counsellor_id=counsellor_id,
        tier=tier,
        created_at=now,
    )
    session.add(message)
    session.flush()
    if closed:
        log.info("conversation %d: message %d held (line closed)", conversation.id, message.id)
        return Answer(text=_out_of_hours(session, settings, conversation, body, now))
    if status != QUEUED:
        log.warning("line %s: message %d not relayed (%s)", incoming.line, message.id, status)
        return Answer(outbox=notices)
    conversation.last_counsellor_id = counsellor_id
    return Answer(deliver=[message.id])


def _tell_limit(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    counsellor_id: int,
    limited: str,
    now: datetime,
) -> list[int]:
    """The notice to the counsellor who would have had the message, once per window."""
    if flood_limit.told(session, settings.config.relay, conversation, limited, now):
        return []
    counsellor = session.get(Counsellor, counsellor_id)
    if counsellor is None:
        return []
    body = flood_limit.notice(settings.config.relay, conversation.code, limited)
    line = settings.config.lines[conversation.line]
    notice = outbox.queue(
        session,
        settings,
        to=counsellor.phone,
        body=body,
        from_number=line.number,
        purpose=flood_limit.PURPOSE,
    )
    return [notice]


def _conversation_of(
    session: Session,
    settings: Settings,
    team_id: int,
    line: str,
    channel: Channel,
    address: str,
    now: datetime,
) -> Conversation:
    """The client's open conversation with the team on this channel, or a new one."""
    digest = crypto.keyed_hash(settings, "relay-client", f"{channel.value}:{address}")
    conversation = session.scalars(
        select(Conversation).where(
            Conversation.team_id == team_id,
            Conversation.client_hash == digest,
            Conversation.state == ConversationState.OPEN,
        )
    ).first()
    if conversation is None:
        conversation = Conversation(
            line=line,
            team_id=team_id,
            code=free_code(session, team_id, now),
            channel=channel,
            client_enc=crypto.box(settings).seal(address),
            client_hash=digest,
            state=ConversationState.OPEN,
            created_at=now,
        )
        session.add(conversation)
        session.flush()
        log.info("conversation %d (%s) opened on line %s", conversation.id, conversation.code, line)
    conversation.line = line
    conversation.last_activity_at = now
    return conversation


def _out_of_hours(
    session: Session, settings: Settings, conversation: Conversation, body: str, now: datetime
) -> str | None:
    """The configured answer with the line's hours, in the language the client wrote `body` in
    (`hotline.relay.language`), stored in the conversation; None if the conversation had it
    within AUTO_REPLY_QUIET (one per night, not one per message)."""
    recent = session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.status == AUTO,
            ConversationMessage.created_at >= now - AUTO_REPLY_QUIET,
        )
    )
    if recent is not None:
        return None
    config = settings.config
    line = config.lines[conversation.line]
    code = language.guess(config, line, body)
    spoken = hours.spoken_hours(line, line.in_language(code))
    text = config.relay.in_language(code).out_of_hours_reply.format(hours=spoken)
    queue_reply(session, settings, conversation, text, status=AUTO, now=now)
    return text
