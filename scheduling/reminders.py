"""Reminder rows of an appointment, kept in step with it.

The rows are the scheduler's to-do list (`scheduling.dispatch` sends what is due, exactly once),
so they are written in the same transaction as the booking that implies them: a booking that
commits has its reminders, one that rolls back has none. `plan` says which reminders an
appointment wants (a pure function); `sync_reminders` makes the rows agree with it:

* booked: one row per (recipient, offset, start) whose moment is still ahead. A row belongs to
  one appointment time (`appointment_start`): a moved appointment gets rows for its new start,
  and the pending rows of the old start are cancelled, so "exactly once" holds per time and
  reminder (moved back, it finds its old rows again). A row that may already have gone out
  (sent, sending, uncertain) is never touched: a reminder is sent at most once. A row that
  certainly did not go out (cancelled, missed, failed) is pending again if its moment is ahead.
* cancelled, done, no-show, or a reminder no longer wanted (no phone, no consent): pending
  rows are cancelled.

The rows are read `FOR UPDATE` on PostgreSQL: a dispatcher that has claimed one holds its
lock until the claim commits, so this waits and then sees it `sending` (and leaves it alone)
instead of overwriting the claim; rows locked here are skipped by the dispatchers' claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.models import Appointment, AppointmentStatus, DispatchState, Recipient, Reminder

Key = tuple[Recipient, int]  # (recipient, offset in minutes)

# States in which a message may have left: the row keeps its state whatever happens.
MAYBE_SENT = frozenset({DispatchState.SENT, DispatchState.SENDING, DispatchState.UNCERTAIN})
# States in which the message certainly did not leave: a moved appointment may revive the row.
NOT_SENT = frozenset({DispatchState.CANCELLED, DispatchState.MISSED, DispatchState.FAILED})


@dataclass(frozen=True, slots=True)
class Wanted:
    """What an appointment asks of its reminders."""

    start: datetime
    booked: bool
    client_reachable: bool  # a phone number and consent to SMS


def wanted(appointment: Appointment) -> Wanted:
    return Wanted(
        start=appointment.start_at,
        booked=appointment.status is AppointmentStatus.BOOKED,
        client_reachable=appointment.client_phone_enc is not None and appointment.sms_consent,
    )


def plan(config: HotlineConfig, want: Wanted) -> dict[Key, datetime]:
    """The reminders an appointment should have and when each is due. The client is reminded
    only with a phone number and consent; nothing is reminded of an appointment not booked."""
    if not want.booked:
        return {}
    offsets = [(Recipient.COUNSELLOR, m) for m in config.reminders.counsellor_offsets_minutes]
    if want.client_reachable:
        offsets += [(Recipient.CLIENT, m) for m in config.reminders.client_offsets_minutes]
    return {(who, m): want.start - timedelta(minutes=m) for who, m in offsets}


def _revive(row: Reminder, due: datetime) -> None:
    row.state = DispatchState.PENDING
    row.due_at = due
    row.attempts = 0
    row.next_attempt_at = None
    row.lease_until = None
    row.sent_at = None
    row.provider_sid = None


def sync_reminders(
    session: Session, config: HotlineConfig, appointment: Appointment, now: datetime
) -> list[Reminder]:
    """Make the appointment's reminder rows agree with its state (see the module docstring),
    in the caller's transaction. Returns the rows that are pending afterwards."""
    start = appointment.start_at
    targets = {
        (recipient, offset, start): due
        for (recipient, offset), due in plan(config, wanted(appointment)).items()
    }
    query = (
        select(Reminder)
        .where(Reminder.appointment_id == appointment.id)
        .order_by(Reminder.id)  # one lock order for every transaction
        .with_for_update()
        .execution_options(populate_existing=True)  # the state as it is once locked
    )
    rows = {
        (row.recipient, row.offset_minutes, row.appointment_start): row
        for row in session.scalars(query)
    }
    for key, row in rows.items():
        if row.state in MAYBE_SENT:
            continue
        due = targets.get(key)
        if due is None or due <= now:
            if row.state is DispatchState.PENDING:
                row.state = DispatchState.CANCELLED
            continue
        if row.state in NOT_SENT:
            _revive(row, due)
    for key, due in targets.items():
        if key not in rows and due > now:
            recipient, offset, _ = key
            rows[key] = Reminder(
                appointment_id=appointment.id,
                recipient=recipient,
                offset_minutes=offset,
                appointment_start=start,
                due_at=due,
                state=DispatchState.PENDING,
                attempts=0,
            )
            session.add(rows[key])
    session.flush()
    pending = [row for row in rows.values() if row.state is DispatchState.PENDING]
    return sorted(pending, key=lambda row: (row.due_at, row.recipient.value))
