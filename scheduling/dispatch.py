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
2. Outside any transaction, the messages are sent in parallel (through `send`, the way out
   that the composition hands in: `foundation.outgoing`).
3. In one write transaction the outcomes are recorded: `sent` with the provider's id; `failed`
   when the provider certainly refused it; back to `pending` when it certainly did not go out
   and may be retried (network down, rate limit), not before `next_attempt_at` (2 s, 4 s,
   8 s, … after the attempt, never later than the grace allows); `uncertain` when it may have
   gone out. After such a retryable refusal the messages of the batch not yet handed over are
   not tried (they are pending again, their attempt not counted) and `dispatch` stops: a
   provider that throttles or cannot be reached is not hammered with the rest of the backlog.

Every state change names the state it expects (`pending` to claim, `sending` to record an
outcome; a sent or failed outcome also over `uncertain`, as it is the better knowledge), and
`scheduling.reminders` locks the rows it changes: a claim is never overwritten by a
concurrent cancel, and an outcome never revives a row someone else has moved on.

A crash after step 1 leaves claimed rows `sending`; when the lease runs out they become
`uncertain`, never pending again: a message is sent at most once, and every message that is
not sent is visible as missed, failed or uncertain.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import CursorResult, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import DispatchState, Reminder, ShiftNotice
from foundation.outgoing import MaybeSent, NotSent, Outgoing

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # far longer than a batch takes to send (10 s REST timeout)
MAX_ATTEMPTS = 8  # attempts at messages that certainly did not go out
BACKOFF = timedelta(seconds=2)  # before the first retry; doubled for every further one
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
    deferred: int = 0  # not tried: the provider throttled or was unreachable for this batch
    ids: list[int] = field(default_factory=list)

    def add(self, other: Round) -> None:
        names = ("sent", "failed", "retry", "uncertain", "missed", "cancelled", "expired")
        for name in (*names, "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.claimed += other.claimed
        self.ids.extend(other.ids)


Clock = Callable[[], datetime]
# The way out (`foundation.outgoing.Provider.send`), handed in by the job's composition.
Send = Callable[[Outgoing], str]


def dispatch(
    db: Database,
    settings: Settings,
    queue: Queue,
    *,
    send: Send,
    clock: Clock = utcnow,
    batch: int = BATCH,
    max_rounds: int = 1000,
) -> Round:
    """Send everything due now, round after round, until nothing due is left."""
    total = Round()
    for _ in range(max_rounds):
        done = dispatch_round(db, settings, queue, clock=clock, send=send, batch=batch)
        total.add(done)
        if done.claimed < batch or done.retry or done.deferred:
            break
    return total


def dispatch_round(
    db: Database,
    settings: Settings,
    queue: Queue,
    *,
    send: Send,
    clock: Clock = utcnow,
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
            _set(session, queue.model, cancelled, DispatchState.CANCELLED)
            result.cancelled = len(cancelled)
        if broken:
            _set(session, queue.model, broken, DispatchState.FAILED)
            result.failed += len(broken)
        latest = {row.id: (row.due_at + queue.grace(settings), row.attempts) for row in claimed}
    if not messages:
        return result
    outcomes = _send_all(db, settings, messages, send)
    with db.write() as session:
        now = clock()
        sent = [{"_id": o.row_id, "_sid": o.sid, "_at": now} for o in outcomes if o.sid]
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
                        table.c.state == DispatchState.SENDING,
                        table.c.state == DispatchState.UNCERTAIN,
                    ),
                )
                .values(
                    state=DispatchState.SENT,
                    provider_sid=bindparam("_sid"),
                    sent_at=bindparam("_at"),
                    lease_until=None,
                )
                .execution_options(synchronize_session=False),
                sent,
            )
        failed = [o.row_id for o in outcomes if o.state is DispatchState.FAILED]
        if failed:
            _set(session, queue.model, failed, DispatchState.FAILED, also=DispatchState.UNCERTAIN)
        uncertain = [o.row_id for o in outcomes if o.state is DispatchState.UNCERTAIN]
        if uncertain:
            _set(session, queue.model, uncertain, DispatchState.UNCERTAIN)
        retries = [o for o in outcomes if o.state is DispatchState.PENDING]
        if retries:
            _retry(session, queue.model, retries, latest, now)
    for outcome in outcomes:
        if outcome.state is DispatchState.SENT:
            result.sent += 1
            result.ids.append(outcome.row_id)
        elif outcome.state is DispatchState.FAILED:
            result.failed += 1
        elif outcome.state is DispatchState.PENDING and not outcome.tried:
            result.deferred += 1
        elif outcome.state is DispatchState.PENDING:
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
        .where(model.state == DispatchState.PENDING, model.due_at < before)
        .values(state=DispatchState.MISSED, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(missed.rowcount or 0)


def _lapse_leases(session: Session, model: type[Row], now: datetime) -> int:
    lapsed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(model)
        .where(model.state == DispatchState.SENDING, model.lease_until < now)
        .values(state=DispatchState.UNCERTAIN)
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
        .where(
            model.state == DispatchState.PENDING,
            model.due_at <= now,
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        .order_by(model.due_at, model.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer is exclusive anyway
    )
    ids = list(session.scalars(due))
    if not ids:
        return []
    rows = session.scalars(
        update(model)
        .where(model.id.in_(ids), model.state == DispatchState.PENDING)
        .values(state=DispatchState.SENDING, lease_until=now + LEASE, attempts=model.attempts + 1)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    return cast(Sequence[Row], sorted(rows, key=lambda row: (row.due_at, row.id)))


def _set(
    session: Session,
    model: type[Row],
    ids: list[int],
    state: DispatchState,
    *,
    also: DispatchState | None = None,
) -> None:
    """Rows this dispatcher claimed (`sending`, or `also`) get the outcome `state`; a row
    someone else has moved on meanwhile keeps what it has."""
    expected = [DispatchState.SENDING] if also is None else [DispatchState.SENDING, also]
    session.execute(
        update(model)
        .where(model.id.in_(ids), model.state.in_(expected))
        .values(state=state, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def backoff(attempts: int, now: datetime, latest: datetime) -> datetime:
    """When a message tried `attempts` times may be tried again: 2 s after the first attempt,
    doubled for each further one, and never after `latest` (its moment plus the grace)."""
    return min(now + BACKOFF * (1 << max(attempts - 1, 0)), latest)


def _retry(
    session: Session,
    model: type[Row],
    retries: list[Outcome],
    latest: dict[int, tuple[datetime, int]],
    now: datetime,
) -> None:
    """Claimed rows that certainly did not go out: pending again, not before their backoff.
    A row that was not tried at all keeps its attempt count and waits the first step."""
    table = cast(Table, model.__table__)
    params = []
    for outcome in retries:
        limit, attempts = latest[outcome.row_id]
        tried = attempts if outcome.tried else attempts - 1
        wait = backoff(max(tried, 1), now, limit)
        params.append({"_id": outcome.row_id, "_tried": tried, "_next": wait})
    session.execute(
        update(table)
        .where(table.c.id == bindparam("_id"), table.c.state == DispatchState.SENDING)
        .values(
            state=DispatchState.PENDING,
            lease_until=None,
            attempts=bindparam("_tried"),
            next_attempt_at=bindparam("_next"),
        )
        .execution_options(synchronize_session=False),
        params,
    )


class Outcome(NamedTuple):
    """What became of one claimed row's message (`tried`: handed to the provider at all)."""

    row_id: int
    state: DispatchState
    sid: str | None = None
    tried: bool = True


def _send_all(
    db: Database, settings: Settings, messages: list[tuple[int, Outgoing]], send: Send
) -> list[Outcome]:
    throttled = threading.Event()  # a retryable refusal: the rest of the batch waits

    def one(item: tuple[int, Outgoing]) -> Outcome:
        row_id, message = item
        if throttled.is_set():
            return Outcome(row_id, DispatchState.PENDING, tried=False)
        try:
            return Outcome(row_id, DispatchState.SENT, send(message))
        except NotSent as exc:
            log.warning("%s not sent: %s", message.purpose, exc)
            if exc.retry:
                throttled.set()
                return Outcome(row_id, DispatchState.PENDING)
            return Outcome(row_id, DispatchState.FAILED)
        except MaybeSent as exc:
            log.error("%s may or may not have been sent: %s", message.purpose, exc)
            return Outcome(row_id, DispatchState.UNCERTAIN)
        except Exception as exc:  # a bug in rendering or sending: treat as possibly sent
            log.exception("%s: unexpected %s while sending", message.purpose, type(exc).__name__)
            return Outcome(row_id, DispatchState.UNCERTAIN)

    if len(messages) == 1:
        return [one(messages[0])]
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(messages))) as pool:
        return list(pool.map(one, messages))


def _give_up_retries(session: Session, model: type[Row]) -> int:
    """Pending rows that have been tried MAX_ATTEMPTS times without going out become failed."""
    done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(model)
        .where(model.state == DispatchState.PENDING, model.attempts >= MAX_ATTEMPTS)
        .values(state=DispatchState.FAILED)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)
