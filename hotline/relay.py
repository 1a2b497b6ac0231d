"""The text relay: SMS and WhatsApp between clients and the on-call counsellor of a line's team,
always through the line's number, so that neither side sees the other's number.

* **A client writes to a line.** The message joins the client's open conversation with the
  line's team, or opens one with a short code ("K7"), and is relayed to the on-call counsellor
  (primary, else backup) as "[K7] text" from the line's number. Outside the line's hours the
  client gets the configured neutral answer instead, and the message waits in the web page.
* **A counsellor of the team writes to a line.** That is a reply. A leading code ("K7 …",
  "[K7] …", "#K7 …") picks the conversation; without one, the conversation last relayed to this
  counsellor gets it, and the counsellor is told which — but only if it is still open and that
  relay is recent (`[relay] reply_without_code_hours`). It goes to the client from the line's
  number (WhatsApp: `whatsapp:<line number>`). A code that names no open conversation, or a
  code-less reply that cannot be placed safely, gets an explanation and sends nothing.
* **A flood** (`hotline.relay_limit`): past the per-client or per-team limit a client's message
  is stored for the page but not relayed, and the counsellor is told once.
* **Delivery.** Every message we send is a row first (`queued`), sent after the webhook has
  answered (`deliver`, through the provider the webhook hands in), and its outcome recorded.
  The status callback URL names the row and the leg (primary, backup, client), and is signed
  by Twilio like every webhook, so status callbacks that repeat or overtake each other are
  matched without a race against the REST answer. A relay to the primary that fails (refused,
  `failed`, `undelivered`) goes to the backup once: the row remembers that it failed over,
  under a row lock.

Nothing here logs a number or a message body: log lines name conversations and messages by id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import crypto, outbox
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationState,
    Counsellor,
    Direction,
    Team,
    TeamMembership,
    Tier,
)
from foundation.outgoing import MaybeSent, NotSent, Outgoing, Provider
from foundation.teams import team_by_slug
from hotline import hours, relay_limit, routing
from hotline.routing import Rota

log = logging.getLogger(__name__)

WHATSAPP = "whatsapp:"
MAX_BODY = 1600  # Twilio refuses longer message bodies
SHORTENED = " … (gekürzt, vollständig im Webportal)"
ATTACHMENT = "[Anhang nicht weitergeleitet]"
# The out-of-hours answer goes at most once in this long to one conversation.
AUTO_REPLY_QUIET = timedelta(hours=12)
# A code is not given to a new conversation until this long after its last one went quiet, so
# that a late reply with that code cannot reach a stranger.
CODE_REST = timedelta(days=7)
RELAY_PURPOSE = "relay"  # to a counsellor
REPLY_PURPOSE = "relay-reply"  # to a client
STATUS_PATH = "/twilio/sms/status"

# Delivery states of a message row (`ConversationMessage.status`).
HELD = "held"  # outside the line's hours: stored, not relayed
UNROUTED = "unrouted"  # nobody on call: stored, not relayed
AUTO = "auto"  # the out-of-hours answer, sent as the webhook's TwiML
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
UNDELIVERED = "undelivered"
UNCERTAIN = "uncertain"  # may or may not have gone out (Twilio's console knows)
# States only move forward: a status callback that repeats or comes late changes nothing.
_RANK = {
    QUEUED: 0,
    SENDING: 1,
    UNCERTAIN: 1,
    SENT: 2,
    DELIVERED: 3,
    FAILED: 3,
    UNDELIVERED: 3,
    READ: 4,
}
_TWILIO_STATES = {
    "accepted": QUEUED,
    "scheduled": QUEUED,
    "queued": QUEUED,
    "sending": SENDING,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "failed": FAILED,
    "undelivered": UNDELIVERED,
    "canceled": FAILED,
}
CLIENT_LEG = "client"

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

_CODE = re.compile(
    r"^\s*(?:\[\s*(?P<bracketed>k\d{1,5})\s*\]|#?(?P<plain>k\d{1,5})\b)[\s:,.;\-–]*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Incoming:
    """An incoming message as Twilio posted it (`line`: the slug its `To` names)."""

    line: str
    sender: str
    body: str
    message_sid: str = ""
    media: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """What the webhook answers (a TwiML <Message> to the sender, or nothing) and the message
    rows to deliver once the transaction has committed."""

    text: str | None = None
    deliver: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)  # notices to counsellors (`foundation.outbox`)


# --- pure helpers -------------------------------------------------------------------------------


def parse_code(body: str) -> tuple[str | None, str]:
    """("K7", the rest) for a message that starts with a code (K7, [K7], #K7, k7:, any case);
    (None, the message) otherwise."""
    match = _CODE.match(body)
    if match is None:
        return None, body.strip()
    code = (match.group("bracketed") or match.group("plain")).upper()
    return f"K{int(code[1:])}", body[match.end() :].strip()


def client_address(raw: str) -> tuple[Channel, str]:
    """The channel and the address of a sender (`whatsapp:+49…` is WhatsApp); numbers in E.164,
    anything else (an alphanumeric sender) as it came."""
    channel = Channel.WHATSAPP if raw.startswith(WHATSAPP) else Channel.SMS
    address = raw.removeprefix(WHATSAPP).strip()
    try:
        return channel, normalise(address)
    except InvalidPhoneNumber:
        return channel, address


def fit(text: str, limit: int = MAX_BODY) -> str:
    """`text`, shortened with a note if Twilio would refuse it."""
    return text if len(text) <= limit else text[: limit - len(SHORTENED)] + SHORTENED


def status_callback(settings: Settings, message_id: int, leg: str) -> str:
    return f"{settings.public_url}{STATUS_PATH}?{urlencode({'m': message_id, 'leg': leg})}"


# --- incoming -----------------------------------------------------------------------------------


def staff_sender(session: Session, settings: Settings, line: str, sender: str) -> Counsellor | None:
    """The active counsellor of the line's team who sent this, or None (a client)."""
    _, address = client_address(sender)
    team = team_by_slug(session, settings.config.lines[line].team, settings.config)
    return session.scalars(
        select(Counsellor)
        .join(TeamMembership, TeamMembership.counsellor_id == Counsellor.id)
        .where(
            TeamMembership.team_id == team.id,
            Counsellor.phone == address,
            Counsellor.active.is_(True),
        )
        .order_by(Counsellor.id)
        .limit(1)
    ).first()


def lock_team(session: Session, team_id: int) -> None:
    """Lock the team's row: messages to one team, and staff reopening its conversations, are
    handled one after the other, so two at once cannot open two conversations of one client or
    take the same code (SQLite: the write lock). Take it before any conversation's lock."""
    session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


def _lock_team(session: Session, settings: Settings, line: str) -> Team:
    """The line's team, locked (`lock_team`)."""
    team = team_by_slug(session, settings.config.lines[line].team, settings.config)
    lock_team(session, team.id)
    return team


def _seen(session: Session, message_sid: str) -> bool:
    """The same message delivered again (Twilio's id is stored with every incoming one)."""
    if not message_sid:
        return False
    found = session.scalar(
        select(ConversationMessage.id).where(ConversationMessage.received_sid == message_sid)
    )
    return found is not None


def from_client(
    session: Session, settings: Settings, incoming: Incoming, now: datetime, rota: Rota
) -> Answer:
    """A client's message to a line: stored in their open conversation (opened if need be),
    relayed to the on-call counsellor (`rota` says who is on call), or answered with the hours
    when the line is closed."""
    config = settings.config
    line = config.lines[incoming.line]
    team = _lock_team(session, settings, incoming.line)
    if _seen(session, incoming.message_sid):
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
        limited = relay_limit.exceeded(session, config.relay, conversation, now)
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
        return Answer(text=_out_of_hours(session, settings, conversation, now))
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
    if relay_limit.told(session, settings.config.relay, conversation, limited, now):
        return []
    counsellor = session.get(Counsellor, counsellor_id)
    if counsellor is None:
        return []
    body = relay_limit.notice(settings.config.relay, conversation.code, limited)
    line = settings.config.lines[conversation.line]
    notice = outbox.queue(
        session,
        settings,
        to=counsellor.phone,
        body=body,
        from_number=line.number,
        purpose=relay_limit.PURPOSE,
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


def free_code(
    session: Session, team_id: int, now: datetime, keep: Conversation | None = None
) -> str:
    """The smallest code ("K1", "K2", …) no open conversation of the team has, nor one that
    was active in the last CODE_REST. With `keep` (a conversation being reopened): its own code
    if no other conversation of the team has that code open or had it within CODE_REST, so a
    late reply meant for that other one cannot reach this client."""
    query = select(Conversation.code).where(
        Conversation.team_id == team_id,
        (Conversation.state == ConversationState.OPEN)
        | (Conversation.last_activity_at >= now - CODE_REST),
    )
    if keep is not None:
        query = query.where(Conversation.id != keep.id)
    taken = set(session.scalars(query))
    if keep is not None and keep.code not in taken:
        return keep.code
    number = 1
    while f"K{number}" in taken:
        number += 1
    return f"K{number}"


def _out_of_hours(
    session: Session, settings: Settings, conversation: Conversation, now: datetime
) -> str | None:
    """The configured answer with the line's hours, stored in the conversation; None if the
    conversation had it within AUTO_REPLY_QUIET (one per night, not one per message)."""
    recent = session.scalar(
        select(ConversationMessage.id).where(
            ConversationMessage.conversation_id == conversation.id,
            ConversationMessage.status == AUTO,
            ConversationMessage.created_at >= now - AUTO_REPLY_QUIET,
        )
    )
    if recent is not None:
        return None
    line = settings.config.lines[conversation.line]
    text = settings.config.relay.out_of_hours_reply.format(hours=hours.hours_text(line.hours))
    queue_reply(session, settings, conversation, text, status=AUTO, now=now)
    return text


def from_counsellor(
    session: Session,
    settings: Settings,
    incoming: Incoming,
    counsellor: Counsellor,
    now: datetime,
) -> Answer:
    """A counsellor's SMS to a line: a reply to one of the team's open conversations."""
    team = _lock_team(session, settings, incoming.line)
    if _seen(session, incoming.message_sid):
        return Answer()
    code, text = parse_code(incoming.body)
    notice = None
    if code is not None:
        conversation = by_code(session, team.id, code)
        if conversation is None:
            if by_code(session, team.id, code, ConversationState.CLOSED) is not None:
                return Answer(text=CLOSED_CODE.format(code=code))
            return Answer(text=UNKNOWN_CODE.format(code=code, open=_open_codes(session, team.id)))
    else:
        last = _last_relayed(session, team.id, counsellor.id)
        if last is None:
            return Answer(text=NOTHING_RELAYED.format(open=_open_codes(session, team.id)))
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


def queue_reply(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    text: str,
    *,
    counsellor_id: int | None = None,
    user_id: int | None = None,
    received_sid: str | None = None,
    status: str = QUEUED,
    now: datetime,
) -> ConversationMessage:
    """A message to the client, stored to be delivered once the transaction commits (or, as
    `AUTO`, the out-of-hours answer the webhook gives itself)."""
    message = ConversationMessage(
        conversation_id=conversation.id,
        direction=Direction.OUT,
        body_enc=crypto.box(settings).seal(text),
        received_sid=received_sid,
        status=status,
        counsellor_id=counsellor_id,
        user_id=user_id,
        created_at=now,
        sent_at=now if status == AUTO else None,
    )
    session.add(message)
    conversation.last_activity_at = now
    session.flush()
    log.info("conversation %d: message %d to the client (%s)", conversation.id, message.id, status)
    return message


def by_code(
    session: Session,
    team_id: int,
    code: str,
    state: ConversationState = ConversationState.OPEN,
) -> Conversation | None:
    """The team's conversation with this code in this state (closed: the latest)."""
    return session.scalars(
        select(Conversation)
        .where(
            Conversation.team_id == team_id,
            Conversation.code == code,
            Conversation.state == state,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    ).first()


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
            code=conversation.code, open=_open_codes(session, conversation.team_id)
        )
    hours = settings.config.relay.reply_without_code_hours
    if now - relayed_at > timedelta(hours=hours):
        return STALE_NO_CODE.format(code=conversation.code, hours=hours)
    return None


def _open_codes(session: Session, team_id: int) -> str:
    codes = session.scalars(
        select(Conversation.code)
        .where(Conversation.team_id == team_id, Conversation.state == ConversationState.OPEN)
        .order_by(Conversation.last_activity_at.desc())
        .limit(10)
    ).all()
    return f"Offen: {', '.join(codes)}." if codes else "Es gibt kein offenes Gespräch."


# --- delivery -----------------------------------------------------------------------------------


def deliver(
    db: Database, settings: Settings, provider: Provider, rota: Rota, message_ids: list[int]
) -> None:
    """Send the queued rows through `provider` (after the webhook answered); a relay to the
    primary that fails goes to a backup `rota` names. Never raises: outcomes are recorded,
    failures logged without numbers or bodies."""
    for message_id in message_ids:
        try:
            while _attempt(db, settings, provider, rota, message_id):
                pass  # failed over: once more, to the backup
        except Exception as exc:
            log.error("message %d: delivery broke off (%s)", message_id, type(exc).__name__)


def _attempt(
    db: Database, settings: Settings, provider: Provider, rota: Rota, message_id: int
) -> bool:
    """One send; True if the row failed over and must be sent again."""
    with db.write() as session:
        claimed = _claim(session, settings, message_id)
    if claimed is None:
        return False
    leg, outgoing = claimed
    sid, outcome = None, SENT
    try:
        sid = provider.send(outgoing)
    except NotSent as exc:
        log.warning("message %d (%s) not sent: %s", message_id, outgoing.purpose, exc)
        outcome = FAILED
    except MaybeSent as exc:
        log.error("message %d (%s) may not have been sent: %s", message_id, outgoing.purpose, exc)
        outcome = UNCERTAIN
    except Exception as exc:
        log.error("message %d: sending failed (%s)", message_id, type(exc).__name__)
        outcome = UNCERTAIN
    with db.write() as session:
        return _record(session, settings, rota, message_id, leg, outcome, sid, utcnow())


def _leg(row: ConversationMessage) -> str | None:
    if row.direction is Direction.OUT:
        return CLIENT_LEG
    return row.tier.value if row.tier is not None else None


def _claim(session: Session, settings: Settings, message_id: int) -> tuple[str, Outgoing] | None:
    """A queued row becomes `sending` (so it is sent once), rendered into the message."""
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or row.status != QUEUED:
        return None
    conversation = session.get(Conversation, row.conversation_id)
    line = settings.config.lines.get(conversation.line) if conversation else None
    leg = _leg(row)
    if conversation is None or line is None or row.body_enc is None or leg is None:
        row.status = FAILED
        return None
    box = crypto.box(settings)
    callback = status_callback(settings, row.id, leg)
    if row.direction is Direction.IN:
        counsellor = session.get(Counsellor, row.counsellor_id) if row.counsellor_id else None
        if counsellor is None:
            row.status = FAILED
            return None
        outgoing = Outgoing(
            channel=Channel.SMS,
            to=counsellor.phone,
            body=fit(f"[{conversation.code}] {box.open(row.body_enc)}"),
            purpose=RELAY_PURPOSE,
            from_number=line.number,
            status_callback=callback,
        )
    else:
        if conversation.client_enc is None:
            row.status = FAILED
            return None
        outgoing = Outgoing(
            channel=conversation.channel,
            to=box.open(conversation.client_enc),
            body=fit(box.open(row.body_enc)),
            purpose=REPLY_PURPOSE,
            from_number=line.number,
            status_callback=callback,
        )
    row.status = SENDING
    return leg, outgoing


def _advance(row: ConversationMessage, status: str) -> bool:
    """Move the row's state forward (never back); True if it moved."""
    if _RANK.get(status, -1) <= _RANK.get(row.status, -1):
        return False
    row.status = status
    return True


def _record(
    session: Session,
    settings: Settings,
    rota: Rota,
    message_id: int,
    leg: str,
    outcome: str,
    sid: str | None,
    now: datetime,
) -> bool:
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or _leg(row) != leg:
        return False  # failed over meanwhile (a status callback was quicker): this leg is history
    if sid:
        row.provider_sid = row.provider_sid or sid
        row.sent_at = now
    if outcome == FAILED:
        return _failed(session, settings, rota, row, FAILED, now)
    if outcome == UNCERTAIN and row.status == SENDING:
        row.status = UNCERTAIN
    _advance(row, outcome)
    return False


def _failed(
    session: Session,
    settings: Settings,
    rota: Rota,
    row: ConversationMessage,
    status: str,
    now: datetime,
) -> bool:
    """The row's message did not arrive. A relay to the primary goes to the backup, once;
    True if it is queued again."""
    if not _advance(row, status):
        return False
    if row.direction is not Direction.IN or row.tier is not Tier.PRIMARY:
        log.warning("message %d: %s", row.id, status)
        return False
    if row.failed_over_at is not None:
        return False
    row.failed_over_at = now
    conversation = session.get(Conversation, row.conversation_id)
    line = settings.config.lines.get(conversation.line) if conversation else None
    backup = None
    if line is not None:
        backup = routing.first_reachable(
            rota(session, line.team, now),
            tiers=(Tier.BACKUP,),
            exclude={row.counsellor_id} if row.counsellor_id else (),
        )
    if conversation is None or backup is None:
        log.warning("message %d: relay to the primary %s; no backup to relay to", row.id, status)
        return False
    row.counsellor_id, row.tier, row.status = backup.counsellor_id, Tier.BACKUP, QUEUED
    row.provider_sid, row.sent_at = None, None
    conversation.last_counsellor_id = backup.counsellor_id
    log.info("message %d: relay to the primary %s; relaying to the backup", row.id, status)
    return True


def status_update(
    session: Session,
    settings: Settings,
    rota: Rota,
    message_id: int,
    leg: str,
    twilio_status: str,
) -> list[int]:
    """A status callback for the `leg` of a row; returns the rows to deliver again (a relay
    that failed over to the backup). Repeated and late status callbacks change nothing."""
    status = _TWILIO_STATES.get(twilio_status)
    if status is None:
        return []
    row = session.get(ConversationMessage, message_id, with_for_update=True)
    if row is None or _leg(row) != leg:
        return []
    if status in (FAILED, UNDELIVERED):
        return [row.id] if _failed(session, settings, rota, row, status, utcnow()) else []
    _advance(row, status)
    return []
