"""Reminder rows of an appointment, kept in step with it.

The rows are the scheduler's to-do list (`scheduling.dispatch` sends what is due, exactly once),
so they are written in the same transaction as the booking that implies them: a booking that
commits has its reminders, one that rolls back has none. `plan` says which reminders an
appointment wants (a pure function); `sync_reminders` makes the rows agree with it:

* booked: one row per (recipient, offset) whose moment is still ahead; a moved appointment
  moves its pending rows. A row that may already have gone out (sent, sending, uncertain)
  is never touched: a reminder is sent at most once. A row that certainly did not go out
  (cancelled, missed, failed) is pending again if its new moment is ahead.
* cancelled, done, no-show, or a reminder no longer wanted (no phone, no consent): pending
  rows are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from hotline.models import Appointment, AppointmentStatus, Recipient, Reminder, ReminderState

Key = tuple[Recipient, int]  # (recipient, offset in minutes)

# States in which a message may have left: the row keeps its state whatever happens.
MAYBE_SENT = frozenset({ReminderState.SENT, ReminderState.SENDING, ReminderState.UNCERTAIN})
# States in which the message certainly did not leave: a moved appointment may revive the row.
NOT_SENT = frozenset({ReminderState.CANCELLED, ReminderState.MISSED, ReminderState.FAILED})


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
    row.state = ReminderState.PENDING
    row.due_at = due
    row.attempts = 0
    row.lease_until = None
    row.sent_at = None
    row.provider_sid = None


def sync_reminders(
    session: Session, config: HotlineConfig, appointment: Appointment, now: datetime
) -> list[Reminder]:
    """Make the appointment's reminder rows agree with its state (see the module docstring),
    in the caller's transaction. Returns the rows that are pending afterwards."""
    targets = plan(config, wanted(appointment))
    rows = {
        (row.recipient, row.offset_minutes): row
        for row in session.scalars(
            select(Reminder).where(Reminder.appointment_id == appointment.id)
        )
    }
    for key, row in rows.items():
        if row.state in MAYBE_SENT:
            continue
        due = targets.get(key)
        if due is None or due <= now:
            if row.state is ReminderState.PENDING:
                row.state = ReminderState.CANCELLED
            continue
        if row.state is ReminderState.PENDING:
            row.due_at = due
        elif row.state in NOT_SENT:
            _revive(row, due)
    for key, due in targets.items():
        if key not in rows and due > now:
            recipient, offset = key
            rows[key] = Reminder(
                appointment_id=appointment.id,
                recipient=recipient,
                offset_minutes=offset,
                due_at=due,
                state=ReminderState.PENDING,
                attempts=0,
            )
            session.add(rows[key])
    session.flush()
    pending = [row for row in rows.values() if row.state is ReminderState.PENDING]
    return sorted(pending, key=lambda row: (row.due_at, row.recipient.value))
