"""The notices of a swap: for each event a `ShiftNotice` of kind `swap` per person and
channel, queued in the use case's transaction and sent by the scheduler exactly once; and who
the team's coordinators are (open shifts tell them too)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.models import Counsellor, Role, Shift, SwapRequest, Team, User, UserTeam
from scheduling.notices.store import queue_written
from scheduling.swaps.rows import person
from scheduling.swaps.words import SUBJECTS, Story, notice_text, span_text


def queue(
    session: Session,
    swap: SwapRequest,
    event: str,
    people: Iterable[Counsellor],
    text: str,
    now: datetime,
) -> None:
    """One notice per person and channel for this event, once (`store.queue_written`)."""
    key = f"swap:{swap.id}:{event}"
    subject = SUBJECTS[event]
    queue_written(
        session, key=key, team_id=swap.team_id, people=people, text=text, subject=subject, now=now
    )


def coordinators(session: Session, team_id: int) -> list[Counsellor]:
    """The counsellor records of the team's active coordinators (one without a record is not
    told: a notice goes to a counsellor's phone or address)."""
    return list(
        session.scalars(
            select(Counsellor)
            .join(User, User.counsellor_id == Counsellor.id)
            .join(UserTeam, UserTeam.user_id == User.id)
            .where(
                UserTeam.team_id == team_id,
                User.role == Role.COORDINATOR,
                User.active.is_(True),
            )
            .order_by(Counsellor.id)
        )
    )


def story(session: Session, config: HotlineConfig, swap: SwapRequest) -> Story:
    zone = config.organisation.zone
    shift = session.get(Shift, swap.shift_id) if swap.shift_id else None
    back = session.get(Shift, swap.return_shift_id) if swap.return_shift_id else None
    team = session.get(Team, swap.team_id)
    return Story(
        requester=person(session, swap.requester_id, "requester_id").name,
        colleague=person(session, swap.colleague_id, "colleague_id").name,
        team=team.name if team else "",
        shift=span_text(shift.start_at, shift.end_at, zone) if shift else None,
        return_shift=span_text(back.start_at, back.end_at, zone) if back else None,
    )


def tell(
    session: Session,
    config: HotlineConfig,
    swap: SwapRequest,
    event: str,
    people: Iterable[Counsellor],
    now: datetime,
    *,
    applied: bool = False,
) -> None:
    """Queue the notice of `event` about this request to `people`."""
    text = notice_text(event, story(session, config, swap), applied=applied)
    queue(session, swap, event, people, text, now)
