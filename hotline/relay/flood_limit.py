"""The text relay's flood limit.

At most `[relay] client_limit` messages of one client (their keyed hash, whatever the team) and
`team_limit` messages to one team are relayed within `limit_minutes`. Past a limit a message is
stored for the page but not relayed (its state names which limit), and the counsellor who would
have had it is told once per window, so a script, a harasser or a forwarding loop cannot fill a
counsellor's phone. The window slides: once the relays in it are older, relaying resumes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from config.model import Relay
from foundation.models import Conversation, ConversationMessage, Direction

PURPOSE = "relay-limit"  # the notice to the counsellor (an outbox message)
CLIENT_LIMITED = "limited"  # message states: stored, not relayed
TEAM_LIMITED = "limited-team"

CLIENT_NOTICE = (
    "[{code}] Mehr als {limit} Nachrichten in {minutes} Minuten: weitere werden vorerst nicht "
    "weitergeleitet und stehen nur im Webportal."
)
TEAM_NOTICE = (
    "Mehr als {limit} Nachrichten in {minutes} Minuten an das Team: weitere werden vorerst nicht "
    "weitergeleitet und stehen nur im Webportal."
)


def _in_window(config: Relay, conversation: Conversation, scope: str, now: datetime) -> Select[int]:
    """Incoming messages of the scope (the client, or the team) within the window."""
    since = now - timedelta(minutes=config.limit_minutes)
    query = (
        select(ConversationMessage.id)
        .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(
            ConversationMessage.direction == Direction.IN, ConversationMessage.created_at >= since
        )
    )
    if scope == CLIENT_LIMITED:
        return query.where(Conversation.client_hash == conversation.client_hash)
    return query.where(Conversation.team_id == conversation.team_id)


def exceeded(
    session: Session, config: Relay, conversation: Conversation, now: datetime
) -> str | None:
    """The limit a new message of this conversation's client would exceed (CLIENT_LIMITED,
    TEAM_LIMITED), or None."""
    for scope, limit in ((CLIENT_LIMITED, config.client_limit), (TEAM_LIMITED, config.team_limit)):
        relayed = _in_window(config, conversation, scope, now).where(
            ConversationMessage.counsellor_id.is_not(None)
        )
        if (session.scalar(select(func.count()).select_from(relayed.subquery())) or 0) >= limit:
            return scope
    return None


def told(
    session: Session, config: Relay, conversation: Conversation, scope: str, now: datetime
) -> bool:
    """Whether a message was held back for this limit within the window already (and the
    counsellor told then)."""
    held = _in_window(config, conversation, scope, now).where(ConversationMessage.status == scope)
    return bool(session.scalar(select(held.exists())))


def notice(config: Relay, code: str, scope: str) -> str:
    """What the counsellor is told (German, short; no client data beyond the code)."""
    limit = config.client_limit if scope == CLIENT_LIMITED else config.team_limit
    text = CLIENT_NOTICE if scope == CLIENT_LIMITED else TEAM_NOTICE
    return text.format(code=code, limit=limit, minutes=config.limit_minutes)
