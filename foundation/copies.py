"""Twilio's copies: what Twilio keeps in its logs of every message, call and recording the
service sent or received (numbers, bodies), and when it is to be deleted there.

Each is a `TwilioCopy` row: Twilio's id, what it was (resource, direction, purpose) and when,
never a number or a body. The ways in write them: the Twilio provider for every message and
call it sends (`hotline.providers.Live`), the SMS webhook for every message received and for the
replies Twilio sends for it (a TwiML `<Message>` reports its id to an `action` URL), the call
webhooks for the legs they see; incoming calls are listed from their call records
(`list_calls`), which the hot path writes in batches. The retention (`hotline.twilio_copies`)
deletes them at Twilio after `[retention] twilio_days`, or at once for an erasure
(`expedite`), and the row goes once Twilio confirmed it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Call, Direction, TwilioCopy, TwilioResource

log = logging.getLogger(__name__)

# Only Twilio's own ids are kept (a webhook's value is checked before it is stored).
_PATTERNS = {
    TwilioResource.MESSAGE: re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$"),
    TwilioResource.CALL: re.compile(r"^CA[0-9a-fA-F]{32}$"),
    TwilioResource.RECORDING: re.compile(r"^RE[0-9a-fA-F]{32}$"),
}
CALL_PURPOSE = "call"  # an incoming call to a line
MAX_BACKOFF = timedelta(hours=24)


def resource_of(sid: str) -> TwilioResource | None:
    """What a Twilio id names, or None when it is none of ours to delete (a simulated id,
    something malformed)."""
    for resource, pattern in _PATTERNS.items():
        if pattern.match(sid):
            return resource
    return None


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO NOTHING is spelt alike, but built apart, on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(TwilioCopy)
    return sqlite.insert(TwilioCopy)


def record(
    session: Session,
    sid: str | None,
    direction: Direction,
    purpose: str,
    at: datetime | None = None,
) -> bool:
    """Note a copy at Twilio in the caller's transaction; the same id again changes nothing (a
    retried webhook). False when `sid` is no Twilio id (nothing is stored)."""
    resource = resource_of(sid or "")
    if resource is None or sid is None:
        return False
    session.execute(
        _insert(session)
        .values(
            sid=sid,
            resource=resource,
            direction=direction,
            purpose=purpose[:40],
            at=at or utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["sid"])
    )
    return True


def keep(db: Database, sid: str | None, direction: Direction, purpose: str) -> None:
    """`record` in a transaction of its own, after a send. Never raises: a copy that cannot be
    noted is logged (by purpose) and stays at Twilio; the send itself went out."""
    try:
        with db.write() as session:
            record(session, sid, direction, purpose)
    except Exception as exc:
        log.error("Twilio's id of a %s not noted for deletion (%s)", purpose, type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    sid: str
    resource: TwilioResource


def due(session: Session, *, cutoff: datetime, now: datetime, limit: int) -> list[Due]:
    """Copies to delete at Twilio now: made before `cutoff`, or due by an erasure; not waiting
    after a refusal."""
    rows = session.execute(
        select(TwilioCopy.id, TwilioCopy.sid, TwilioCopy.resource)
        .where(
            or_(TwilioCopy.at < cutoff, TwilioCopy.due_at <= now),
            or_(TwilioCopy.next_attempt_at.is_(None), TwilioCopy.next_attempt_at <= now),
        )
        .order_by(TwilioCopy.id)
        .limit(limit)
    )
    return [Due(row_id, sid, resource) for row_id, sid, resource in rows]


def forget(session: Session, ids: Iterable[int]) -> None:
    """Twilio deleted them (or no longer had them): the rows go."""
    wanted = list(ids)
    if wanted:
        session.execute(
            delete(TwilioCopy)
            .where(TwilioCopy.id.in_(wanted))
            .execution_options(synchronize_session=False)
        )


def forget_sids(session: Session, sids: Iterable[str]) -> None:
    """Deleted at Twilio by another way (the text relay's own retention): the rows go."""
    wanted = [sid for sid in sids if sid]
    if wanted:
        session.execute(
            delete(TwilioCopy)
            .where(TwilioCopy.sid.in_(wanted))
            .execution_options(synchronize_session=False)
        )


def postpone(session: Session, ids: Iterable[int], now: datetime) -> None:
    """Twilio could not be asked, or refused (a message not final yet, an outage): try again
    later, an hour after the first refusal, doubling up to a day."""
    for row in session.scalars(select(TwilioCopy).where(TwilioCopy.id.in_(list(ids)))):
        row.attempts += 1
        wait = timedelta(hours=2 ** min(row.attempts - 1, 5))
        row.next_attempt_at = now + min(wait, MAX_BACKOFF)


def expedite(
    session: Session, sids: Iterable[str], direction: Direction, purpose: str, now: datetime
) -> int:
    """Make these copies due now (an erasure): listed if they were not, and not waiting for a
    retry. Returns how many of them are Twilio ids."""
    valid = sorted({sid for sid in sids if resource_of(sid) is not None})
    for sid in valid:
        record(session, sid, direction, purpose, now)
    if valid:
        session.execute(
            update(TwilioCopy)
            .where(TwilioCopy.sid.in_(valid))
            .values(due_at=now, next_attempt_at=None)
            .execution_options(synchronize_session=False)
        )
    return len(valid)


def list_calls(session: Session, before: datetime, now: datetime, limit: int = 1000) -> int:
    """List up to `limit` incoming calls that started before `before` and are not listed yet
    (the hot path writes their records in batches, so they are listed here, not there), and
    mark them. Returns how many were marked."""
    ids = list(
        session.scalars(
            select(Call.id)
            .where(Call.started_at < before, Call.twilio_listed_at.is_(None))
            .order_by(Call.id)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    chosen = select(
        Call.call_sid,
        literal(TwilioResource.CALL.value),
        literal(Direction.IN.value),
        literal(CALL_PURPOSE),
        Call.started_at,
        literal(0),
    ).where(Call.id.in_(ids), Call.call_sid.like("CA%"))
    columns = ["sid", "resource", "direction", "purpose", "at", "attempts"]
    statement = (
        _insert(session).from_select(columns, chosen).on_conflict_do_nothing(index_elements=["sid"])
    )
    session.execute(statement)
    session.execute(
        update(Call)
        .where(Call.id.in_(ids))
        .values(twilio_listed_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


__all__ = [
    "CALL_PURPOSE",
    "Due",
    "due",
    "expedite",
    "forget",
    "forget_sids",
    "keep",
    "list_calls",
    "postpone",
    "record",
    "resource_of",
]
