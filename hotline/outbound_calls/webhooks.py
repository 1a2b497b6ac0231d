"""What Twilio's requests during a call-back mean (the HTTP side: web.twilio.outbound_calls):
the counsellor answered, she pressed 1 (the client is dialled, once), the client's leg ended, a
status callback of her leg. Each is one transaction; a request for another call, or one that must
not go on, is Refused."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import copies
from foundation.models import Direction, OutboundCall
from hotline.outbound_calls import states, targets

log = logging.getLogger(__name__)


class Refused(Exception):
    """A webhook of a call-back that must not go on (unknown, another call, done, no number)."""


def _live(session: Session, call_id: int, call_sid: str) -> OutboundCall:
    """The call-back a webhook of Twilio's call `call_sid` is about; Refused if it is another
    call's (the reference was replayed) or unknown. Binds the CallSid on first sight."""
    call = session.get(OutboundCall, call_id, with_for_update=True)
    if call is None:
        raise Refused("unknown call-back")
    if call.call_sid is not None and call.call_sid != call_sid:
        raise Refused("the reference belongs to another call")
    if call.call_sid is None and call_sid:
        call.call_sid = call_sid
    return call


def answered(session: Session, call_id: int, call_sid: str) -> str:
    """The counsellor answered: the line to whisper (Refused once the client was dialled).
    An `uncertain` call-back was placed after all: its task is taken now."""
    call = _live(session, call_id, call_sid)
    if call.bridged_at is not None:
        raise Refused("already connected")
    if call.status == states.UNCERTAIN:
        states.advance(call, "in-progress")
        targets.take(session, call)
    return call.line


def bridge(
    session: Session, settings: Settings, call_id: int, call_sid: str, now: datetime
) -> tuple[str, str]:
    """The counsellor pressed 1: (line, the client's number), opened from the target now.
    Once only: Refused for a second attempt, a gone target or one without a number."""
    call = _live(session, call_id, call_sid)
    if call.bridged_at is not None:
        raise Refused("already connected")
    row = targets.load(session, call.kind, call.target_id)
    number = targets.number(settings, row) if row is not None else None
    if number is None:
        raise Refused("the target or its number is gone")
    call.bridged_at = now
    log.info("call-back %d: connecting the client", call.id)
    return call.line, number


def client_ended(
    session: Session,
    call_id: int,
    call_sid: str,
    dial_status: str,
    *,
    leg_sids: tuple[str, ...] = (),
) -> str:
    """The Dial to the client ended; returns the line. The first report counts. `leg_sids`:
    Twilio's ids of the client's leg and of its recording (if the line records), noted for the
    retention (`foundation.copies`)."""
    call = _live(session, call_id, call_sid)
    for sid in leg_sids:
        copies.record(session, sid, Direction.OUT, "call-back-client")
    if call.client_status is None:
        call.client_status = (dial_status or "unknown")[:20]
    return call.line


def leg_status(session: Session, call_id: int, call_sid: str, state: str) -> None:
    """A status callback of the counsellor's leg."""
    try:
        call = _live(session, call_id, call_sid)
    except Refused:
        return
    if states.reported(state):
        states.advance(call, state)
