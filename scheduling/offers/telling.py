"""The notices of an open shift: for each event a `ShiftNotice` of kind `swap` per person and
channel, queued in the use case's transaction and sent by the scheduler exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.models import Counsellor, Shift, ShiftOffer, Team
from scheduling.notices.store import queue_written
from scheduling.offers.rows import step
from scheduling.offers.words import SUBJECTS, Story, notice_text
from scheduling.swaps.rows import person
from scheduling.swaps.words import span_text


def story(
    session: Session,
    config: HotlineConfig,
    offer: ShiftOffer,
    reason: str | None = None,
    taker: Counsellor | None = None,
) -> Story:
    """What a notice names; `taker` for one no longer on the offer (declined)."""
    shift = session.get(Shift, offer.shift_id) if offer.shift_id else None
    team = session.get(Team, offer.team_id)
    if taker is None and offer.taker_id is not None:
        taker = person(session, offer.taker_id, "taker_id")
    zone = config.organisation.zone
    return Story(
        giver=person(session, offer.giver_id, "giver_id").name,
        taker=taker.name if taker else None,
        team=team.name if team else "",
        shift=span_text(shift.start_at, shift.end_at, zone) if shift else None,
        by_coordination=offer.preapproved,
        reason=reason,
    )


def tell(
    session: Session,
    config: HotlineConfig,
    offer: ShiftOffer,
    event: str,
    people: Iterable[Counsellor],
    now: datetime,
    *,
    reason: str | None = None,
    taker: Counsellor | None = None,
) -> None:
    """Queue the notice of `event` about this offer to `people`, once: the key names the
    offer's audited step, so a second taking after a decline is told again."""
    queue_written(
        session,
        key=f"offer:{offer.id}:{step(session, offer)}:{event}",
        team_id=offer.team_id,
        people=people,
        text=notice_text(event, story(session, config, offer, reason, taker)),
        subject=SUBJECTS[event],
        now=now,
    )
