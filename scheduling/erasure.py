"""Deleting a client, with the same completeness whether the retention does it (the case ended
`case_retention_days` ago) or staff do it now on the client's request (Art. 17 GDPR), and the
retention of appointments that were never linked to a client (docs/retention.md).

What goes, and what stays so that the reports still count (`scheduling.reports`,
`hotline.reports` read those rows):

* the client row, with its responsible counsellors, plan steps and notes (they cascade);
* appointments: the pseudonym becomes a stand-in shared by that client's appointments only
  ("(gelöscht 3f9a0c1b2d4e)": the reports count clients by it), number, consent, place and
  link are deleted, a booked one still ahead is cancelled (with its reminders); times, mode,
  status and the reminders' states stay;
* conversations: number, its hash and every message body are deleted, the conversation is
  closed; times and directions stay;
* voicemails: the caller's number is deleted, the recording (at Twilio) too; an open one is
  marked done; time, line, duration stay;
* callback requests: deleted (as the retention of done ones deletes them);
* call-backs through the line: only the link goes (they hold no number);
* calls whose caller hash is the client's number hash: the hash becomes a stand-in (the
  reports tell first-time from repeat callers by it);
* the outbox's copies of messages to the client's number, and review reminders' reference to
  the client;
* everything of these that Twilio keeps (messages, calls, recordings) is made due for deletion
  there at once (`foundation.copies.expedite`; the hourly `tasks.retention` job, or the
  erasure's own background task, asks Twilio).

The audit log records what went: the kinds, how many of each and their ids, never what they
held. The access log keeps who opened the client when (ids only), for its own retention.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from config.model import Team as TeamConfig
from config.settings import Settings
from foundation import audit, copies, crypto
from foundation.clock import utcnow
from foundation.db import Database, checkpoint
from foundation.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallbackRequest,
    Client,
    ClientStatus,
    Conversation,
    ConversationMessage,
    ConversationState,
    Direction,
    DispatchState,
    NoticeKind,
    OutboundCall,
    OutboxMessage,
    PlanNote,
    PlanStep,
    Reminder,
    ShiftNotice,
    TaskStatus,
    Team,
    TeamMembership,
    Voicemail,
)
from scheduling import appointments

log = logging.getLogger(__name__)

RETENTION_ACTOR = "system:retention"
ERASURE_PURPOSE = "erasure"  # how the Twilio copies made due by an erasure are noted
BATCH = 50  # clients, or pseudonyms, per transaction of the retention


def stand_in() -> str:
    """A pseudonym that stands in for a deleted one: unique, and telling nothing."""
    return f"(gelöscht {secrets.token_hex(6)})"


def _hash_stand_in() -> str:
    return "deleted:" + secrets.token_hex(16)


@dataclass
class Erased:
    """What an erasure deleted: the ids of each kind (counts for the rest)."""

    client_id: int
    team_id: int
    appointments: list[int] = field(default_factory=list)
    conversations: list[int] = field(default_factory=list)
    voicemails: list[int] = field(default_factory=list)
    callback_requests: list[int] = field(default_factory=list)
    outbound_calls: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        """The audit log's entry: kinds, ids and counts."""
        return {
            "team_id": self.team_id,
            "appointments": self.appointments,
            "conversations": self.conversations,
            "voicemails": self.voicemails,
            "callback_requests": self.callback_requests,
            "outbound_calls": self.outbound_calls,
            **dict(sorted(self.counts.items())),
        }


def erase_client(
    session: Session,
    settings: Settings,
    client_id: int,
    *,
    actor: str,
    action: str = "erase",
    now: datetime | None = None,
) -> Erased | None:
    """Delete the client and the client data of everything linked to it (see the module), in
    the caller's transaction, and write the audit entry `action` ("erase" by staff, "delete"
    by the retention). None when there is no such client (deleted meanwhile). Who may do it is
    the caller's question (`scheduling.subject_requests.erase`)."""
    now = now or utcnow()
    client = session.get(Client, client_id, with_for_update=True)
    if client is None:
        return None
    done = Erased(client.id, client.team_id)
    phone = crypto.box(settings).open(client.phone_enc) if client.phone_enc is not None else None
    sids: set[str] = set()
    done.appointments = _appointments(session, settings, client.id, stand_in(), actor, now, sids)
    done.counts["reminders"] = _reminders(sids, session, done.appointments)
    done.conversations, done.counts["messages"] = _conversations(session, client.id, now, sids)
    done.voicemails, calls = _voicemails(session, client.id, now, sids)
    done.callback_requests = _callback_requests(session, client.id)
    done.outbound_calls = _outbound_calls(session, client.id, sids)
    done.counts["calls"] = _calls(session, client.phone_hash, calls, done.voicemails, sids)
    done.counts["outbox"] = _outbox(session, settings, phone, sids) if phone else 0
    done.counts["review_notices"] = _review_notices(session, client.id, sids)
    for name, model in (("plan_steps", PlanStep), ("plan_notes", PlanNote)):
        done.counts[name] = int(
            session.scalar(
                select(func.count()).select_from(model).where(model.client_id == client.id)
            )
            or 0
        )
    done.counts["twilio_copies"] = copies.expedite(
        session, sids, Direction.OUT, ERASURE_PURPOSE, now
    )
    session.delete(client)  # its counsellors, steps and notes cascade
    session.flush()
    audit.record(session, actor, action, "client", done.client_id, after=done.record())
    return done


def _appointments(
    session: Session,
    settings: Settings,
    client_id: int,
    pseudonym: str,
    actor: str,
    now: datetime,
    sids: set[str],
) -> list[int]:
    rows = list(
        session.scalars(
            select(Appointment)
            .where(Appointment.client_id == client_id)
            .order_by(Appointment.id)
            .with_for_update()
        )
    )
    for row in rows:
        if row.status is AppointmentStatus.BOOKED and row.start_at > now:
            appointments.cancel(session, settings, row.id, actor=actor, now=now)
    anonymise(session, [row.id for row in rows], pseudonym, now)
    return [row.id for row in rows]


def anonymise(session: Session, ids: list[int], pseudonym: str, now: datetime) -> None:
    """Appointments without their client data: one stand-in pseudonym for all of them."""
    if ids:
        session.execute(
            update(Appointment)
            .where(Appointment.id.in_(ids))
            .values(
                client_id=None,
                client_pseudonym=pseudonym,
                client_phone_enc=None,
                sms_consent=False,
                location=None,
                video_link=None,
                client_deleted_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )


def _reminders(sids: set[str], session: Session, appointment_ids: list[int]) -> int:
    """The reminders stay (the reports count them, they hold no text); Twilio's copies go."""
    if not appointment_ids:
        return 0
    found = list(
        session.scalars(
            select(Reminder.provider_sid).where(Reminder.appointment_id.in_(appointment_ids))
        )
    )
    sids.update(sid for sid in found if sid)
    return len(found)


def _conversations(
    session: Session, client_id: int, now: datetime, sids: set[str]
) -> tuple[list[int], int]:
    ids = list(
        session.scalars(
            select(Conversation.id)
            .where(Conversation.client_id == client_id)
            .order_by(Conversation.id)
            .with_for_update()
        )
    )
    if not ids:
        return [], 0
    messages = session.execute(
        select(ConversationMessage.received_sid, ConversationMessage.provider_sid).where(
            ConversationMessage.conversation_id.in_(ids)
        )
    ).all()
    sids.update(sid for pair in messages for sid in pair if sid)
    session.execute(
        update(ConversationMessage)
        .where(ConversationMessage.conversation_id.in_(ids))
        .values(
            body_enc=None,
            provider_deleted_at=func.coalesce(ConversationMessage.provider_deleted_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Conversation)
        .where(Conversation.id.in_(ids))
        .values(
            client_id=None,
            client_enc=None,
            client_hash=None,
            state=ConversationState.CLOSED,
            closed_at=func.coalesce(Conversation.closed_at, now),
        )
        .execution_options(synchronize_session="fetch")
    )
    return ids, len(messages)


def _voicemails(
    session: Session, client_id: int, now: datetime, sids: set[str]
) -> tuple[list[int], list[int]]:
    """The voicemails' ids, and the ids of their calls."""
    rows = list(
        session.scalars(
            select(Voicemail)
            .where(Voicemail.client_id == client_id)
            .order_by(Voicemail.id)
            .with_for_update()
        )
    )
    for row in rows:
        if row.recording_deleted_at is None:
            sids.add(row.recording_sid)
            row.recording_deleted_at = now  # deleted at Twilio by the copies' retention
        row.caller_phone_enc = None
        row.client_id = None
        if row.status is not TaskStatus.DONE:
            row.status, row.done_at = TaskStatus.DONE, now
    return [row.id for row in rows], [row.call_id for row in rows if row.call_id is not None]


def _callback_requests(session: Session, client_id: int) -> list[int]:
    ids = list(
        session.scalars(
            select(CallbackRequest.id)
            .where(CallbackRequest.client_id == client_id)
            .order_by(CallbackRequest.id)
        )
    )
    if ids:
        session.execute(
            delete(CallbackRequest)
            .where(CallbackRequest.id.in_(ids))
            .execution_options(synchronize_session="fetch")
        )
    return ids


def _outbound_calls(session: Session, client_id: int, sids: set[str]) -> list[int]:
    rows = session.execute(
        select(OutboundCall.id, OutboundCall.call_sid)
        .where(OutboundCall.client_id == client_id)
        .order_by(OutboundCall.id)
    ).all()
    sids.update(sid for _, sid in rows if sid)
    ids = [row_id for row_id, _ in rows]
    if ids:
        session.execute(
            update(OutboundCall)
            .where(OutboundCall.id.in_(ids))
            .values(client_id=None)
            .execution_options(synchronize_session="fetch")
        )
    return ids


def _calls(
    session: Session,
    phone_hash: str | None,
    call_ids: list[int],
    voicemail_ids: list[int],
    sids: set[str],
) -> int:
    """The client's calls: those of its voicemails, and those whose caller hash is its number's
    (the same keyed hash): the hash becomes one stand-in, Twilio's record goes. Its voicemails,
    and those of its number, keep the same stand-in instead of their call's hash."""
    stand_in = _hash_stand_in()
    voicemails: list[ColumnElement[bool]] = (
        [Voicemail.id.in_(voicemail_ids)] if voicemail_ids else []
    )
    if phone_hash:
        voicemails.append(Voicemail.caller_hash == phone_hash)
    if voicemails:
        session.execute(
            update(Voicemail)
            .where(or_(*voicemails), Voicemail.caller_hash.is_not(None))
            .values(caller_hash=stand_in)
            .execution_options(synchronize_session="fetch")
        )
    wanted: list[ColumnElement[bool]] = [Call.id.in_(call_ids)] if call_ids else []
    if phone_hash:
        wanted.append(Call.caller_hash == phone_hash)
    if not wanted:
        return 0
    rows = session.execute(select(Call.id, Call.call_sid).where(or_(*wanted))).all()
    sids.update(sid for _, sid in rows)
    if rows:
        session.execute(
            update(Call)
            .where(Call.id.in_([row_id for row_id, _ in rows]), Call.caller_hash.is_not(None))
            .values(caller_hash=stand_in)
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def _outbox(session: Session, settings: Settings, phone: str, sids: set[str]) -> int:
    """The outbox's copies of messages to the client's number (a callback confirmation, a
    simulated reminder): found by opening each (the outbox keeps `[retention] twilio_days`)."""
    box = crypto.box(settings)
    doomed = []
    for row_id, to_enc, sid in session.execute(
        select(OutboxMessage.id, OutboxMessage.to_enc, OutboxMessage.provider_sid)
    ):
        if box.open(to_enc) == phone:
            doomed.append(row_id)
            if sid:
                sids.add(sid)
    if doomed:
        session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(doomed))
            .execution_options(synchronize_session=False)
        )
    return len(doomed)


def _review_notices(session: Session, client_id: int, sids: set[str]) -> int:
    """Review reminders name the client by its id: a pending one is cancelled, every one loses
    the id (a sent one stays: the reports count notices sent)."""
    found = 0
    for notice in session.scalars(
        select(ShiftNotice).where(ShiftNotice.kind == NoticeKind.REVIEW).with_for_update()
    ):
        if (notice.payload or {}).get("client_id") != client_id:
            continue
        found += 1
        notice.payload = {k: v for k, v in notice.payload.items() if k != "client_id"}
        if notice.state is DispatchState.PENDING:
            notice.state = DispatchState.CANCELLED
        if notice.provider_sid:
            sids.add(notice.provider_sid)
    return found


# --- the retention ------------------------------------------------------------------------------


def _team_config(settings: Settings, slug: str) -> TeamConfig:
    return settings.config.teams.get(slug) or TeamConfig(name=slug)


def due_clients(session: Session, settings: Settings, now: datetime, limit: int) -> list[int]:
    """Clients whose case ended longer ago than their team's `case_retention_days`."""
    found: list[int] = []
    for team in session.scalars(select(Team).order_by(Team.id)):
        days = _team_config(settings, team.slug).case_retention_days
        found += session.scalars(
            select(Client.id)
            .where(
                Client.team_id == team.id,
                Client.status == ClientStatus.ENDED,
                Client.ended_at < now - timedelta(days=days),
            )
            .order_by(Client.id)
            .limit(limit - len(found))
        )
        if len(found) >= limit:
            break
    return found


def _periods(session: Session, settings: Settings) -> dict[int, int]:
    """Each counsellor's retention of appointments without a client: the longest of her
    teams' (the appointment is one of theirs)."""
    slugs = dict(session.execute(select(Team.id, Team.slug)).all())
    periods: dict[int, int] = defaultdict(int)
    for counsellor_id, team_id in session.execute(
        select(TeamMembership.counsellor_id, TeamMembership.team_id)
    ):
        days = _team_config(settings, slugs[team_id]).appointment_retention_days
        periods[counsellor_id] = max(periods[counsellor_id], days)
    return periods


def due_pseudonyms(
    session: Session, settings: Settings, now: datetime, limit: int
) -> list[tuple[str, list[int]]]:
    """Pseudonyms of appointments without a client record whose last appointment ended longer
    ago than the retention of its counsellors' teams (the longest), with those appointments'
    ids; up to `limit`."""
    periods = _periods(session, settings)
    default = int(TeamConfig.model_fields["appointment_retention_days"].default)
    shortest = min([*periods.values(), default])
    unlinked = (Appointment.client_id.is_(None), Appointment.client_deleted_at.is_(None))
    due: list[tuple[str, list[int]]] = []
    after = ""
    while len(due) < limit:
        # Pseudonyms past even the shortest retention, a page at a time (keyset).
        page = list(
            session.scalars(
                select(Appointment.client_pseudonym)
                .where(*unlinked, Appointment.client_pseudonym > after)
                .group_by(Appointment.client_pseudonym)
                .having(func.max(Appointment.end_at) < now - timedelta(days=shortest))
                .order_by(Appointment.client_pseudonym)
                .limit(limit * 4)
            )
        )
        if not page:
            break
        after = page[-1]
        groups: dict[str, list[tuple[int, int, datetime]]] = defaultdict(list)
        for row_id, pseudonym, counsellor_id, end_at in session.execute(
            select(
                Appointment.id,
                Appointment.client_pseudonym,
                Appointment.counsellor_id,
                Appointment.end_at,
            ).where(*unlinked, Appointment.client_pseudonym.in_(page))
        ):
            groups[pseudonym].append((row_id, counsellor_id, end_at))
        for pseudonym in page:
            rows = groups[pseudonym]
            days = max(periods.get(counsellor_id, default) for _, counsellor_id, _ in rows)
            if max(end_at for _, _, end_at in rows) < now - timedelta(days=days):
                due.append((pseudonym, sorted(row_id for row_id, _, _ in rows)))
    return due[:limit]


@dataclass(frozen=True, slots=True)
class Swept:
    clients: int
    appointments: int


def retention_job(db: Database, settings: Settings, now: datetime | None = None) -> Swept:
    """Hourly: clients whose case ended longer ago than their team's retention are deleted (one
    transaction each); appointments without a client record lose their client data once the
    last of their pseudonym is that far past. Then SQLite's log is emptied (what was deleted
    leaves the file too)."""
    now = now or utcnow()
    clients = 0
    for _ in range(100):
        with db.read() as session:
            due = due_clients(session, settings, now, BATCH)
        for client_id in due:
            with db.write() as session:
                if erase_client(
                    session, settings, client_id, actor=RETENTION_ACTOR, action="delete", now=now
                ):
                    clients += 1
        if len(due) < BATCH:
            break
    aged = 0
    for _ in range(100):
        with db.write() as session:
            groups = due_pseudonyms(session, settings, now, BATCH)
            for _pseudonym, ids in groups:
                anonymise(session, ids, stand_in(), now)
                audit.record(
                    session,
                    RETENTION_ACTOR,
                    "delete_client_data",
                    "appointment",
                    None,
                    after={"appointments": ids},
                )
                aged += len(ids)
        if len(groups) < BATCH:
            break
    if clients or aged:
        log.info(
            "retention: %d clients deleted, %d appointments without their client data",
            clients,
            aged,
        )
        checkpoint(db.engine)
    return Swept(clients, aged)
