"""Who is in a conversation through a line right now, and so is not rung for another call.

A counsellor is busy while

* she has taken an incoming call (pressed 1 at the whisper) and that conversation has not
  ended: its Dial has not reported back (`talk_seconds`) and Twilio has not said the call ended
  (`ended_at`);
* or a call-back through the line rings her or connects her: its leg is queued or ringing
  (for at most RINGING_AT_MOST: she started it a moment ago) or in progress and the Dial to the
  client has not ended (`client_status`).

Both are read from the database, so every process of the service sees the same. Status
callbacks can be lost: a conversation counts as over at the latest after TALK_AT_MOST, the
longest a `<Dial>` or a REST call lasts at Twilio (its `timeLimit`, four hours by default), so a
lost callback never blocks a counsellor for longer than a call could possibly last.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from foundation.models import Call, OutboundCall

TALK_AT_MOST = timedelta(hours=4)  # Twilio's default timeLimit of a <Dial> and of a REST call
RINGING_AT_MOST = timedelta(minutes=2)  # a call-back's first leg rings 30 s at most
_RINGING = ("queued", "initiated", "ringing")


def _talking(now: datetime) -> ColumnElement[bool]:
    return and_(
        Call.accepted_by_id.is_not(None),
        Call.answered_at > now - TALK_AT_MOST,
        Call.talk_seconds.is_(None),
        Call.ended_at.is_(None),
    )


def _calling_back(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            OutboundCall.status.in_(_RINGING),
            OutboundCall.created_at > now - RINGING_AT_MOST,
        ),
        and_(
            OutboundCall.status == "in-progress",
            OutboundCall.client_status.is_(None),
            OutboundCall.created_at > now - TALK_AT_MOST,
        ),
    )


def busy(session: Session, now: datetime, among: Collection[int] | None = None) -> frozenset[int]:
    """The counsellors (of `among`, or all) in a conversation through a line at `now`."""
    if among is not None and not among:
        return frozenset()
    inbound = select(Call.accepted_by_id).where(_talking(now))
    outbound = select(OutboundCall.counsellor_id).where(_calling_back(now))
    if among is not None:
        inbound = inbound.where(Call.accepted_by_id.in_(among))
        outbound = outbound.where(OutboundCall.counsellor_id.in_(among))
    found = set(session.scalars(inbound)) | set(session.scalars(outbound))
    return frozenset(counsellor for counsellor in found if counsellor is not None)
