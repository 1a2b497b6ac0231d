"""Send what is due, exactly once, however many scheduler processes run.

The database is the source of truth: a row (a `Reminder`, a `ShiftNotice`) is due when its
state is pending and its `due_at` has come. APScheduler only decides *when* to look
(`scheduling.scheduler`); what to send is always read from the database, so a restart loses
nothing and a second process sends nothing twice.

One round of `dispatch`:

1. In one write transaction: rows whose moment passed longer ago than the grace become
   `missed` (not sent late); rows left `sending` after their lease ran out (their process died
   between sending and recording) become `uncertain`, for a person to decide; and up to
   `batch` due rows are claimed: `sending`, with a lease. On PostgreSQL the claim selects
   `FOR UPDATE SKIP LOCKED`, so two processes claim disjoint rows without waiting for each other;
   on SQLite the write transaction is exclusive. Each claimed row is rendered into a message in
   the same transaction (or cancelled, when there is nothing to send any more).
2. Outside any transaction, the messages are sent in parallel (`hotline.sender`).
3. In one write transaction the outcomes are recorded: `sent` with the provider's id; `failed`
   when the provider certainly refused it; back to `pending` when it certainly did not go out
   and may be retried (network down, rate limit); `uncertain` when it may have gone out.

A crash after step 1 leaves claimed rows `sending`; when the lease runs out they become
`uncertain`, never pending again: a message is sent at most once, and every message that is
not sent is visible as missed, failed or uncertain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from hotline import sender
from hotline.db import Database
from hotline.models import Reminder, ReminderState, ShiftNotice, utcnow
from hotline.sender import MaybeSent, NotSent, Outgoing

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # far longer than a batch takes to send (10 s REST timeout)
MAX_ATTEMPTS = 5  # retries of messages that certainly did not go out
SEND_THREADS = 8
BATCH = 4 * SEND_THREADS  # small batches: a crash leaves few messages uncertain

Row = Reminder | ShiftNotice


class Queue(Protocol):
    """What one kind of scheduled message needs from the dispatcher."""

    name: str
    model: type[Reminder] | type[ShiftNotice]

    def grace(self, settings: Settings) -> timedelta:
        """How late a message may still be sent."""
        ...

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        """The message for a claimed row, or None if there is nothing to send any more (the
        row is cancelled). Runs in the claiming transaction."""
        ...


@dataclass
class Round:
    """What one dispatch round did, by outcome."""

    sent: int = 0
    failed: int = 0
    retry: int = 0
    uncertain: int = 0
    missed: int = 0
    cancelled: int = 0
    expired: int = 0
    claimed: int = 0
    ids: list[int] = field(default_factory=list)

    def add(self, other: Round) -> None:
        for name in ("sent", "failed", "retry", "uncertain", "missed", "cancelled", "expired"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.claimed += other.claimed
        self.ids.extend(other.ids)


Clock = Callable[[], datetime]
Send = Callable[[Database, Settings, Outgoing], str]


def dispatch(
    db: Database,
    settings: Settings,
    queue: Queue,
    *,
    clock: Clock = utcnow,
    send: Send = sender.send,
    batch: int = BATCH,
    max_rounds: int = 1000,
) -> Round:
    """Send everything due now, round after round, until nothing due is left."""
    total = Round()
    for _ in range(max_rounds):
        done = dispatch_round(db, settings, queue, clock=clock, send=send, batch=batch)
        total.add(done)
        if done.claimed < batch:
            break
    return total


def dispatch_round(
    db: Database,
    settings: Settings,
    queue: Queue,
    *,
    clock: Clock = utcnow,
    send: Send = sender.send,
    batch: int = BATCH,
) -> Round:
    result = Round()
    with db.write() as session:
        now = clock()
        result.missed = _expire(session, queue.model, now - queue.grace(settings))
        result.expired = _lapse_leases(session, queue.model, now)
        result.failed = _give_up_retries(session, queue.model)
        claimed = _claim(session, queue.model, now, batch)
        result.claimed = len(claimed)
        messages: list[tuple[int, Outgoing]] = []
        cancelled: list[int] = []
        broken: list[int] = []
        for row in claimed:
            try:
                message = queue.render(session, settings, row)
            except Exception as exc:  # a bug must not block the rows behind this one
                log.exception("%s %d: cannot render (%s)", queue.name, row.id, type(exc).__name__)
                broken.append(row.id)
                continue
            if message is None:
                cancelled.append(row.id)
            else:
                messages.append((row.id, message))
        if cancelled:
            _set(session, queue.model, cancelled, ReminderState.CANCELLED)
            result.cancelled = len(cancelled)
        if broken:
            _set(session, queue.model, broken, ReminderState.FAILED)
            result.failed += len(broken)
    if not messages:
        return result
    outcomes = _send_all(db, settings, messages, send)
    with db.write() as session:
        now = clock()
        sent = [{"_id": i, "_sid": sid, "_at": now} for i, state, sid in outcomes if sid]
        if sent:
            # On the table (Core), not the entity: an ORM update with a list of parameter sets
            # would be SQLAlchemy's "bulk UPDATE by primary key", which wants `id` keys.
            table = cast(Table, queue.model.__table__)
            session.execute(
                update(table)
                .where(
                    table.c.id == bindparam("_id"),
                    # (no IN: an expanding parameter cannot take part in executemany)
                    or_(
                        table.c.state == ReminderState.SENDING,
                        table.c.state == ReminderState.UNCERTAIN,
                    ),
                )
                .values(
                    state=ReminderState.SENT,
                    provider_sid=bindparam("_sid"),
                    sent_at=bindparam("_at"),
                    lease_until=None,
                )
                .execution_options(synchronize_session=False),
                sent,
            )
        for state in (ReminderState.FAILED, ReminderState.PENDING, ReminderState.UNCERTAIN):
            ids = [i for i, outcome, _ in outcomes if outcome is state]
            if ids:
                _set(session, queue.model, ids, state)
    for i, state, _ in outcomes:
        if state is ReminderState.SENT:
            result.sent += 1
            result.ids.append(i)
        elif state is ReminderState.FAILED:
            result.failed += 1
        elif state is ReminderState.PENDING:
            result.retry += 1
        else:
            result.uncertain += 1
    if result.failed or result.uncertain:
        log.warning(
            "%s: %d failed, %d uncertain (shown to coordinators)",
            queue.name,
            result.failed,
            result.uncertain,
        )
    return result


def _expire(session: Session, model: type[Row], before: datetime) -> int:
    missed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(model)
        .where(model.state == ReminderState.PENDING, model.due_at < before)
        .values(state=ReminderState.MISSED, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(missed.rowcount or 0)


def _lapse_leases(session: Session, model: type[Row], now: datetime) -> int:
    lapsed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(model)
        .where(model.state == ReminderState.SENDING, model.lease_until < now)
        .values(state=ReminderState.UNCERTAIN)
        .execution_options(synchronize_session=False)
    )
    return int(lapsed.rowcount or 0)


def _claim(session: Session, model: type[Row], now: datetime, batch: int) -> Sequence[Row]:
    # Lock first, then update: not `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
    # LOCKED)`, which PostgreSQL may plan as a nested-loop semi join that re-runs the subquery
    # for every row, each run skipping the rows the previous ones locked: it claimed the whole
    # backlog in one batch (40 of 40 due rows with batch 4).
    due = (
        select(model.id)
        .where(model.state == ReminderState.PENDING, model.due_at <= now)
        .order_by(model.due_at, model.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer is exclusive anyway
    )
    ids = list(session.scalars(due))
    if not ids:
        return []
    rows = session.scalars(
        update(model)
        .where(model.id.in_(ids), model.state == ReminderState.PENDING)
        .values(state=ReminderState.SENDING, lease_until=now + LEASE, attempts=model.attempts + 1)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    return cast(Sequence[Row], sorted(rows, key=lambda row: (row.due_at, row.id)))


def _set(session: Session, model: type[Row], ids: list[int], state: ReminderState) -> None:
    session.execute(
        update(model)
        .where(model.id.in_(ids))
        .values(state=state, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def _send_all(
    db: Database, settings: Settings, messages: list[tuple[int, Outgoing]], send: Send
) -> list[tuple[int, ReminderState, str | None]]:
    def one(item: tuple[int, Outgoing]) -> tuple[int, ReminderState, str | None]:
        row_id, message = item
        try:
            return row_id, ReminderState.SENT, send(db, settings, message)
        except NotSent as exc:
            log.warning("%s not sent: %s", message.purpose, exc)
            return row_id, (ReminderState.PENDING if exc.retry else ReminderState.FAILED), None
        except MaybeSent as exc:
            log.error("%s may or may not have been sent: %s", message.purpose, exc)
            return row_id, ReminderState.UNCERTAIN, None
        except Exception as exc:  # a bug in rendering or sending: treat as possibly sent
            log.exception("%s: unexpected %s while sending", message.purpose, type(exc).__name__)
            return row_id, ReminderState.UNCERTAIN, None

    if len(messages) == 1:
        return [one(messages[0])]
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(messages))) as pool:
        return list(pool.map(one, messages))


def _give_up_retries(session: Session, model: type[Row]) -> int:
    """Pending rows that have been tried MAX_ATTEMPTS times without going out become failed."""
    done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(model)
        .where(model.state == ReminderState.PENDING, model.attempts >= MAX_ATTEMPTS)
        .values(state=ReminderState.FAILED)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)
