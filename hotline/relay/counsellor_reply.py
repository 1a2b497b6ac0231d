"""A counsellor's SMS to a line: a reply to one of the team's open conversations.

Where the team asks for it (`[teams.<slug>] sms_replies`), her personal reply PIN must come
first (`hotline.relay.reply_pin`), or replies by SMS are refused altogether ("web"). A leading
code picks the conversation; without one, the conversation last relayed to this
counsellor gets it, but only if it is still open and that relay is recent (`[relay]
reply_without_code_hours`), and she is told which. Anything that cannot be placed safely gets an
explanation and sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    Counsellor,
    Direction,
)
from hotline.relay import reply_pin
from hotline.relay.codes import by_code, lock_line_team, open_codes
from hotline.relay.delivery import queue_reply
from hotline.relay.incoming import Answer, Incoming, seen
from hotline.relay.parsing import parse_code

# What a counsellor is told by SMS (German, short: it is read on a phone).
NO_CODE = (
    "Ohne Code an {code} gesendet. Für ein anderes Gespräch den Code voranstellen, z. B. „K3 …“."
)
UNKNOWN_CODE = "Kein offenes Gespräch {code}: nichts gesendet. {open}"
CLOSED_CODE = (
    "Gespräch {code} ist geschlossen: nichts gesendet. Im Webportal können Sie es wieder öffnen."
)
NOTHING_RELAYED = "Ihnen wurde kein offenes Gespräch weitergeleitet: nichts gesendet. {open}"
LAST_CLOSED = (
    "Gespräch {code}, zuletzt an Sie weitergeleitet, ist geschlossen: nichts gesendet. "
    "Für ein anderes Gespräch den Code voranstellen, z. B. „K3 …“. {open}"
)
STALE_NO_CODE = (
    "Die letzte Weiterleitung an Sie ({code}) ist über {hours} Stunden her: nichts gesendet. "
    "Bitte den Code voranstellen, z. B. „{code} …“."
)
EMPTY_REPLY = "Leere Nachricht: nichts gesendet."
GONE_CLIENT = "Die Nummer zu {code} ist gelöscht: nichts gesendet."


def from_counsellor(
    session: Session,
    settings: Settings,
    incoming: Incoming,
    counsellor: Counsellor,
    now: datetime,
) -> Answer:
    """A counsellor's SMS to a line: a reply to one of the team's open conversations."""
    team = lock_line_team(session, settings, incoming.line)
    if seen(session, incoming.message_sid):
        return Answer()
    body = incoming.body
    rule = settings.config.teams[team.slug].sms_replies
    if rule == "web":
        return Answer(text=reply_pin.WEB_ONLY)
    if rule == "pin":
        # Her row read again, locked: it was read before the team's lock, and guesses sent at
        # once would each count from the same old number of failures.
        session.refresh(counsellor, with_for_update=True)
        checked = reply_pin.check(counsellor, body, now, settings.config.organisation.zone)
        if checked.refusal is not None:
            return Answer(text=checked.refusal)
        body = checked.text
    code, text = parse_code(body)
    notice = None
    if code is not None:
        conversation = by_code(session, team.id, code)
        if conversation is None:
            if by_code(session, team.id, code, ConversationState.CLOSED) is not None:
                return Answer(text=CLOSED_CODE.format(code=code))
            return Answer(text=UNKNOWN_CODE.format(code=code, open=open_codes(session, team.id)))
    else:
        last = _last_relayed(session, team.id, counsellor.id)
        if last is None:
            return Answer(text=NOTHING_RELAYED.format(open=open_codes(session, team.id)))
        conversation, relayed_at = last
        refused = _no_code_refused(session, settings, conversation, relayed_at, now)
        if refused is not None:
            return Answer(text=refused)
        notice = NO_CODE.format(code=conversation.code)
    if not text:
        return Answer(text=EMPTY_REPLY)
    if conversation.client_enc is None:
        return Answer(text=GONE_CLIENT.format(code=conversation.code))
    message = queue_reply(
        session,
        settings,
        conversation,
        text,
        counsellor_id=counsellor.id,
        received_sid=incoming.message_sid or None,
        now=now,
    )
    return Answer(text=notice, deliver=[message.id])


def _last_relayed(
    session: Session, team_id: int, counsellor_id: int
) -> tuple[Conversation, datetime] | None:
    """The conversation of the team whose message was last relayed to this counsellor, open or
    not (a closed one must not hand her reply to an older client), and when."""
    found = session.execute(
        select(Conversation, ConversationMessage.created_at)
        .join(ConversationMessage, ConversationMessage.conversation_id == Conversation.id)
        .where(
            Conversation.team_id == team_id,
            ConversationMessage.direction == Direction.IN,
            ConversationMessage.counsellor_id == counsellor_id,
        )
        .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found is not None else None


def _no_code_refused(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    relayed_at: datetime,
    now: datetime,
) -> str | None:
    """Why a reply without a code must not go to `conversation` (closed since, or its relay to
    her is too old to be what she answers), or None."""
    if conversation.state is not ConversationState.OPEN:
        return LAST_CLOSED.format(
            code=conversation.code, open=open_codes(session, conversation.team_id)
        )
    hours = settings.config.relay.reply_without_code_hours
    if now - relayed_at > timedelta(hours=hours):
        return STALE_NO_CODE.format(code=conversation.code, hours=hours)
    return None
