"""The service's state in numbers, read from the database at every scrape of /metrics
(`web.metrics`): every process shows the same figures, and a restart loses none.

/metrics is scraped every 15 s by every process's Prometheus job, so each query is bounded by
an index and by what it counts: calls of the last 24 hours (`ix_calls_started_at`); reminders
and notices still under way (few) and those finished in the last 24 hours (`ix_…_state_due_at`);
the oldest due one (one index probe); the outbox messages not yet handed over
(`ix_outbox_messages_status`); the external calendars and the heartbeats (a row each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from foundation import heartbeats, outbox
from foundation.models import (
    Call,
    DispatchState,
    ExternalCalendar,
    OutboxMessage,
    Reminder,
    ShiftNotice,
)

WINDOW = timedelta(hours=24)
STATEMENT_TIMEOUT_MS = 2000
# Counted however old: a row under way, or one a person must decide about.
UNDER_WAY = (DispatchState.PENDING, DispatchState.SENDING, DispatchState.UNCERTAIN)
# Counted over the window only: they pile up for ever.
FINISHED = (
    DispatchState.SENT,
    DispatchState.MISSED,
    DispatchState.CANCELLED,
    DispatchState.FAILED,
)
NOT_HANDED_OVER = (outbox.QUEUED, outbox.SENDING)
NO_OUTCOME = "open"  # a call without an outcome yet: ringing, talking, or its end not reported


@dataclass(frozen=True, slots=True)
class Figures:
    now: datetime  # when they were read
    calls: dict[tuple[str, str], int]  # (line, outcome): calls started within the window
    reminders: dict[str, int]  # state
    notices: dict[tuple[str, str], int]  # (state, channel)
    reminder_lag: float  # seconds since the oldest due reminder not sent yet came due (or 0)
    notice_lag: float
    outbox_depth: dict[tuple[str, str], int]  # (channel, status): not handed over yet
    calendars: dict[str, int]  # ok, failing, unfetched
    beats: list[heartbeats.Beat]


def read(session: Session, now: datetime) -> Figures:
    if session.get_bind().dialect.name == "postgresql":
        # A scrape waits no longer than this, whatever holds a lock (a migration, say).
        session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    return Figures(
        now=now,
        calls=_calls(session, now - WINDOW),
        reminders={key[0]: n for key, n in _by_state(session, Reminder, now).items()},
        notices={
            (key[0], key[1]): n
            for key, n in _by_state(session, ShiftNotice, now, ShiftNotice.channel).items()
        },
        reminder_lag=_lag(session, Reminder, now),
        notice_lag=_lag(session, ShiftNotice, now),
        outbox_depth=_outbox_depth(session),
        calendars=_calendars(session),
        beats=heartbeats.read(session),
    )


def _calls(session: Session, since: datetime) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(Call.line, Call.outcome, func.count())
        .where(Call.started_at >= since)
        .group_by(Call.line, Call.outcome)
    )
    counted: dict[tuple[str, str], int] = {}
    for line, outcome, n in rows:
        key = (line, outcome or NO_OUTCOME)
        counted[key] = counted.get(key, 0) + n
    return counted


def _by_state(
    session: Session, model: type[Reminder] | type[ShiftNotice], now: datetime, *extra: Any
) -> dict[tuple[str, ...], int]:
    """Rows under way however old, and rows finished that were due within the window."""
    columns: list[Any] = [model.state, *extra]
    counted: dict[tuple[str, ...], int] = {}
    for states, since in ((UNDER_WAY, None), (FINISHED, now - WINDOW)):
        query = select(*columns, func.count()).where(model.state.in_(states))
        if since is not None:
            query = query.where(model.due_at >= since, model.due_at <= now)
        for *key, n in session.execute(query.group_by(*columns)):
            counted[tuple(str(part) for part in key)] = n
    return counted


def _lag(session: Session, model: type[Reminder] | type[ShiftNotice], now: datetime) -> float:
    """How long the oldest row that is due and still pending has waited (a retry waiting out
    its backoff included: it is late all the same)."""
    oldest = session.scalar(
        select(func.min(model.due_at)).where(
            model.state == DispatchState.PENDING, model.due_at <= now
        )
    )
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def _outbox_depth(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count())
        .where(OutboxMessage.status.in_(NOT_HANDED_OVER))
        .group_by(OutboxMessage.channel, OutboxMessage.status)
    )
    return {(channel, status): n for channel, status, n in rows}


def _calendars(session: Session) -> dict[str, int]:
    """Registered calendars by how their last fetch went (a failure is recorded on the row:
    `scheduling.busy.refreshing`)."""
    failing = ExternalCalendar.failures > 0
    total, unfetched, failed = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((ExternalCalendar.last_fetched_at.is_(None), 1))), 0),
            func.coalesce(func.sum(case((failing, 1))), 0),
        )
    ).one()
    return {"ok": total - unfetched - failed, "failing": failed, "unfetched": unfetched}
