"""Notice rows written by the planner and the change watcher alike: inserted once per
`dedupe_key` however many transactions try, and only for active counsellors; and the notices
that swaps and open shifts write in full (`queue_written`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from foundation.models import Counsellor, NoticeKind, ShiftNotice
from foundation.outgoing import channels


def active_counsellors(session: Session, ids: Iterable[int]) -> dict[int, Counsellor]:
    """The active counsellors among `ids`, by id: notices go to nobody else."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = session.scalars(select(Counsellor).where(Counsellor.id.in_(wanted)))
    return {person.id: person for person in found if person.active}


def insert_ignoring_duplicates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING, on PostgreSQL and SQLite alike: of two
    transactions inserting one key, the second waits for the first and then does nothing."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(cast(Table, ShiftNotice.__table__)).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    )
    session.connection().execute(statement, list(rows))


def queue_written(
    session: Session,
    *,
    key: str,
    team_id: int,
    people: Iterable[Counsellor],
    text: str,
    subject: str,
    now: datetime,
) -> None:
    """A notice its use case wrote in full (kind SWAP: a swap or an open shift), queued in
    the use case's transaction: one per active person and channel, due now. Its dedupe key is
    `key:person:channel`, which makes it once: an existing row is left alone (and the unique
    index guards the rest)."""
    seen: set[int] = set()
    for someone in people:
        if someone.id in seen or not someone.active:
            continue
        seen.add(someone.id)
        for channel in channels(someone):
            dedupe_key = f"{key}:{someone.id}:{channel}"
            if session.scalar(select(ShiftNotice.id).where(ShiftNotice.dedupe_key == dedupe_key)):
                continue
            session.add(
                ShiftNotice(
                    dedupe_key=dedupe_key,
                    counsellor_id=someone.id,
                    team_id=team_id,
                    kind=NoticeKind.SWAP,
                    channel=channel,
                    due_at=now,
                    payload={"text": text, "subject": subject},
                )
            )
