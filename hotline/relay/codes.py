"""A team's conversation codes ("K1", "K2", …): which one a new conversation gets, which
conversation a code names, and the team lock under which codes are taken."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.models import Conversation, ConversationState, Team
from foundation.teams import team_by_slug

# A code is not given to a new conversation until this long after its last one went quiet, so
# that a late reply with that code cannot reach a stranger.
CODE_REST = timedelta(days=7)


def lock_team(session: Session, team_id: int) -> None:
    """Lock the team's row: messages to one team, and staff reopening its conversations, are
    handled one after the other, so two at once cannot open two conversations of one client or
    take the same code (SQLite: the write lock). Take it before any conversation's lock."""
    session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


def lock_line_team(session: Session, settings: Settings, line: str) -> Team:
    """The line's team, locked (`lock_team`)."""
    team = team_by_slug(session, settings.config.lines[line].team, settings.config)
    lock_team(session, team.id)
    return team


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


def open_codes(session: Session, team_id: int) -> str:
    """The team's open codes, most recently active first, as a counsellor is told them."""
    codes = session.scalars(
        select(Conversation.code)
        .where(Conversation.team_id == team_id, Conversation.state == ConversationState.OPEN)
        .order_by(Conversation.last_activity_at.desc())
        .limit(10)
    ).all()
    return f"Offen: {', '.join(codes)}." if codes else "Es gibt kein offenes Gespräch."
