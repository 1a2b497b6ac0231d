"""The team's task list: callback requests from the web form and voicemails from the voice flow.

A callback request holds personal data (a number, perhaps a name and a message): it is stored
encrypted, shown only to the staff of the line's team, and deleted `tasks.retention_days` after
it was done. Voicemail audio stays at Twilio; its recording is deleted there by a counsellor's
button or, at the latest, by the same retention.

Floods are counted in the database (keyed hashes of the number and of the client address on the
stored requests), not in memory: production runs several processes, which must share the count,
and a restart must not reset it. Only stored requests count, because only they cost anything
(an SMS to the counsellor, a call back); a refused submission stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from config.phone import masked_phone
from config.settings import Settings
from foundation import access, audit, crypto, outbox
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import CallbackRequest, TaskStatus, Team, User, Voicemail
from foundation.teams import team_by_slug
from hotline import conversations, recordings, routing
from hotline.routing import Rota

log = logging.getLogger(__name__)

# The preferred time window: a short fixed choice (German, as the form shows it).
WINDOWS = {
    "egal": "jederzeit",
    "morgens": "morgens (8–11 Uhr)",
    "mittags": "mittags (11–14 Uhr)",
    "nachmittags": "nachmittags (14–17 Uhr)",
    "abends": "abends (17–20 Uhr)",
}
MAX_NAME = 60
MAX_MESSAGE = 500
PREFERRED_DAYS = 14  # a preferred day lies within the next two weeks
PER_ADDRESS = (5, timedelta(hours=1))  # stored requests per client address
PER_NUMBER = (3, timedelta(days=1))  # stored requests per phone number (also: SMS to it)
NOTIFY_QUIET = timedelta(minutes=10)  # one SMS to the on-call counsellor per team and period
DONE_SHOWN = timedelta(days=14)  # done tasks stay in the list (to reopen) this long
RETENTION_BATCH = 100
COUNSELLOR_SMS = "Neue Rückrufbitte für die {line}. Details im Webportal."
# To the requester: neutral (a phone may be shared), it names neither the service nor a topic.
CONFIRMATION_SMS = "Vielen Dank, Ihre Rückrufbitte ist eingegangen. Wir melden uns."
PUBLIC_ACTOR = "public:callback-form"
RETENTION_ACTOR = "system:retention"
ACTIONS = ("take", "done", "reopen")


class Flooded(Exception):
    """Too many requests from one client address or for one number; nothing was stored."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope  # "address" or "number"


class NotStaff(Exception):
    """The user sees the task (an admin) but is not staff of its team: no action."""


@dataclass(frozen=True, slots=True)
class NewCallback:
    """A validated request from the form (the phone number already in E.164)."""

    line: str
    phone: str
    time_window: str
    client: str  # the client address (key), only ever stored as a keyed hash
    name: str = ""
    preferred_date: date | None = None
    message: str = ""
    confirm_sms: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """One entry of the task list. Personal fields are None unless the viewer is team staff."""

    kind: str  # "callback" or "voicemail"
    id: int
    line: str
    created_at: datetime
    status: TaskStatus
    taken_by: str | None
    name: str | None = None
    phone: str | None = None  # masked (+49 151 ••• ••67): pages never show a number in full
    time_window: str | None = None
    preferred_date: date | None = None
    message: str | None = None
    duration_seconds: int = 0
    recording: bool = False  # the voicemail's audio is still at Twilio


@dataclass(frozen=True, slots=True)
class TeamTasks:
    open: list[Task]
    done: list[Task]


# --- the public form ------------------------------------------------------------------------


def _count_since(
    session: Session, column: InstrumentedAttribute[Any], value: object, since: datetime
) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CallbackRequest)
            .where(column == value, CallbackRequest.created_at >= since)
        )
        or 0
    )


def create_callback(
    session: Session,
    settings: Settings,
    new: NewCallback,
    rota: Rota,
    now: datetime | None = None,
) -> list[int]:
    """Store the request encrypted, tell the on-call counsellor (`rota` says who; no caller
    data) and, if asked, confirm to the requester. Returns the outbox ids to deliver after the
    commit. Raises Flooded (nothing stored) past the limits per client address and per
    number."""
    now = now or utcnow()
    config = settings.config
    line = config.lines.get(new.line)
    if line is None:
        raise NotFound("no such line", field="line")
    if new.time_window not in WINDOWS:
        raise Invalid("unknown time window", field="time_window")
    team = team_by_slug(session, line.team, config)
    # Serialise requests per team (PostgreSQL; SQLite's write lock does it already), so two
    # at once cannot both pass the flood check.
    session.execute(select(Team.id).where(Team.id == team.id).with_for_update())
    phone_hash = crypto.keyed_hash(settings, "callback-phone", new.phone)
    client_hash = crypto.keyed_hash(settings, "callback-client", new.client)
    for scope, column, value, (limit, period) in (
        ("address", CallbackRequest.client_hash, client_hash, PER_ADDRESS),
        ("number", CallbackRequest.phone_hash, phone_hash, PER_NUMBER),
    ):
        if _count_since(session, column, value, now - period) >= limit:
            raise Flooded(scope)
    recently_told = _count_since(session, CallbackRequest.team_id, team.id, now - NOTIFY_QUIET)
    box = crypto.box(settings)
    request = CallbackRequest(
        line=new.line,
        team_id=team.id,
        name_enc=box.seal(new.name) if new.name else None,
        phone_enc=box.seal(new.phone),
        phone_hash=phone_hash,
        client_hash=client_hash,
        time_window=new.time_window,
        preferred_date=new.preferred_date,
        message_enc=box.seal(new.message) if new.message else None,
        confirm_sms=new.confirm_sms,
        status=TaskStatus.NEW,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        PUBLIC_ACTOR,
        "create",
        "callback_request",
        request.id,
        after={"line": new.line, "team_id": team.id, "time_window": new.time_window},
    )
    messages = []
    if not recently_told:
        counsellor = routing.first_reachable(rota(session, line.team, now))
        if counsellor is not None:
            messages.append(
                outbox.queue(
                    session,
                    settings,
                    to=counsellor.phone,
                    body=COUNSELLOR_SMS.format(line=line.display_name),
                    from_number=line.number,
                    purpose="callback",
                )
            )
        else:
            log.warning(
                "line %s: callback request %d; nobody on call to tell", new.line, request.id
            )
    if new.confirm_sms:
        messages.append(
            outbox.queue(
                session,
                settings,
                to=new.phone,
                body=CONFIRMATION_SMS,
                from_number=config.reminders.sender_number or config.organisation.general_number,
                purpose="callback-confirmation",
            )
        )
    log.info("callback request %d for line %s stored", request.id, new.line)
    return messages


# --- the task list --------------------------------------------------------------------------


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def _request_task(row: CallbackRequest, box: crypto.Box | None, names: dict[int, str]) -> Task:
    """With a `box`, the personal fields decrypted; without, None (the viewer is not staff)."""
    details = box is not None
    return Task(
        kind="callback",
        id=row.id,
        line=row.line,
        created_at=row.created_at,
        status=row.status,
        taken_by=names.get(row.taken_by_id) if row.taken_by_id else None,
        name=_opened(box, row.name_enc),
        phone=_masked(_opened(box, row.phone_enc)),
        time_window=WINDOWS.get(row.time_window, row.time_window) if details else None,
        preferred_date=row.preferred_date if details else None,
        message=_opened(box, row.message_enc),
    )


def _opened(box: crypto.Box | None, value: bytes | None) -> str | None:
    return box.open(value) if box is not None and value is not None else None


def _masked(phone: str | None) -> str | None:
    return masked_phone(phone) if phone else None


def _voicemail_task(row: Voicemail, box: crypto.Box | None, names: dict[int, str]) -> Task:
    return Task(
        kind="voicemail",
        id=row.id,
        line=row.line,
        created_at=row.created_at,
        status=row.status,
        taken_by=names.get(row.handled_by_id) if row.handled_by_id else None,
        duration_seconds=row.duration_seconds,
        recording=row.recording_deleted_at is None,
        phone=_masked(_opened(box, row.caller_phone_enc)),
    )


def newest_first(tasks: Iterable[Task]) -> list[Task]:
    """One list from both kinds: the newest on top, ties broken by kind and id (stable pages)."""
    return sorted(tasks, key=lambda t: (t.created_at, t.kind, t.id), reverse=True)


def team_tasks(
    session: Session, settings: Settings, team_id: int, *, details: bool, now: datetime
) -> TeamTasks:
    """Open and in-progress tasks of a team, and those done in the last DONE_SHOWN. Personal
    data is decrypted only with `details` (the viewer is staff of the team)."""
    since = now - DONE_SHOWN
    requests = list(
        session.scalars(
            select(CallbackRequest).where(
                CallbackRequest.team_id == team_id,
                (CallbackRequest.status != TaskStatus.DONE) | (CallbackRequest.done_at >= since),
            )
        )
    )
    voicemails = list(
        session.scalars(
            select(Voicemail).where(
                Voicemail.team_id == team_id,
                (Voicemail.status != TaskStatus.DONE) | (Voicemail.created_at >= since),
            )
        )
    )
    names = _usernames(
        session, [r.taken_by_id for r in requests] + [v.handled_by_id for v in voicemails]
    )
    box = crypto.box(settings) if details else None
    everything = newest_first(
        [_request_task(r, box, names) for r in requests]
        + [_voicemail_task(v, box, names) for v in voicemails]
    )
    return TeamTasks(
        open=[t for t in everything if t.status is not TaskStatus.DONE],
        done=[t for t in everything if t.status is TaskStatus.DONE],
    )


def open_callbacks(session: Session, team_id: int, limit: int = 3) -> tuple[int, list[Task]]:
    """For the dashboard: how many callback requests are open, and the newest few (without
    personal data: the dashboard may be on a shared screen)."""
    where = (CallbackRequest.team_id == team_id, CallbackRequest.status != TaskStatus.DONE)
    count = session.scalar(select(func.count()).select_from(CallbackRequest).where(*where)) or 0
    rows = session.scalars(
        select(CallbackRequest)
        .where(*where)
        .order_by(CallbackRequest.created_at.desc())
        .limit(limit)
    )
    newest = [_request_task(row, None, {}) for row in rows]
    return count, newest


# --- status -----------------------------------------------------------------------------------


def _snapshot(status: TaskStatus, taken_by: int | None) -> dict[str, object]:
    return {"status": status.value, "taken_by_id": taken_by}


def change_status(
    session: Session,
    kind: str,
    task_id: int,
    action: str,
    *,
    user_id: int,
    actor: str,
    by: Principal,
    now: datetime | None = None,
) -> None:
    """Übernehmen (take: in progress, by me), Erledigt (done), Wieder öffnen (reopen: new, nobody).
    A task `by` may not see is NotFound, like a missing one; one she sees but may not work
    (not staff of its team), NotStaff."""
    now = now or utcnow()
    row: CallbackRequest | Voicemail | None
    if kind == "callback":
        row = session.get(CallbackRequest, task_id, with_for_update=True)
    elif kind == "voicemail":
        row = session.get(Voicemail, task_id, with_for_update=True)
    else:
        raise NotFound("no such kind of task")
    if row is None or not access.may_see_task(by, row.team_id):
        raise NotFound("no such task")
    if not access.may_work_task(by, row.team_id):
        raise NotStaff
    if action not in ACTIONS:
        raise Invalid("unknown action", field="action")
    holder = "taken_by_id" if isinstance(row, CallbackRequest) else "handled_by_id"
    before = _snapshot(row.status, getattr(row, holder))
    if action == "take":
        if row.status is TaskStatus.DONE:
            raise Conflict("the task is done; reopen it first")
        row.status, taken_by = TaskStatus.IN_PROGRESS, user_id
    elif action == "done":
        row.status, taken_by = TaskStatus.DONE, getattr(row, holder) or user_id
    else:
        row.status, taken_by = TaskStatus.NEW, None
    setattr(row, holder, taken_by)
    if isinstance(row, CallbackRequest):
        row.done_at = now if row.status is TaskStatus.DONE else None
        row.updated_at = now
    entity = "callback_request" if kind == "callback" else "voicemail"
    after = _snapshot(row.status, taken_by)
    audit.record(session, actor, action, entity, row.id, before=before, after=after)


# --- voicemail recordings -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingRef:
    voicemail_id: int
    team_id: int
    recording_sid: str
    status: TaskStatus
    deleted: bool


def recording_of(session: Session, voicemail_id: int) -> RecordingRef | None:
    row = session.get(Voicemail, voicemail_id)
    if row is None:
        return None
    return RecordingRef(
        row.id, row.team_id, row.recording_sid, row.status, row.recording_deleted_at is not None
    )


def mark_recording_deleted(
    session: Session, voicemail_id: int, *, actor: str, simulated: bool, now: datetime
) -> None:
    """After Twilio deleted the audio (or, in simulation mode, there was none to delete)."""
    row = session.get(Voicemail, voicemail_id, with_for_update=True)
    if row is None or row.recording_deleted_at is not None:
        return
    row.recording_deleted_at = now
    after: dict[str, object] = {"recording_deleted_at": now.isoformat()}
    if simulated:
        after["simulated"] = True
    audit.record(session, actor, "delete_recording", "voicemail", row.id, after=after)


def delete_recording(db: Database, settings: Settings, voicemail_id: int, *, actor: str) -> None:
    """Delete the audio at Twilio, then note it (two short transactions around the REST call,
    which must not hold a database lock). Raises recordings.RecordingUnavailable."""
    with db.read() as session:
        ref = recording_of(session, voicemail_id)
    if ref is None or ref.deleted:
        return
    if not settings.simulation:
        recordings.delete(settings, ref.recording_sid)
    with db.write() as session:
        mark_recording_deleted(
            session, voicemail_id, actor=actor, simulated=settings.simulation, now=utcnow()
        )


# --- retention ------------------------------------------------------------------------------


def purge_callback_requests(session: Session, cutoff: datetime) -> int:
    """Delete the callback requests done before `cutoff` (their personal data with them)."""
    ids = list(
        session.scalars(
            select(CallbackRequest.id).where(
                CallbackRequest.status == TaskStatus.DONE, CallbackRequest.done_at < cutoff
            )
        )
    )
    for request_id in ids:
        audit.record(session, RETENTION_ACTOR, "delete", "callback_request", request_id)
    if ids:
        session.execute(delete(CallbackRequest).where(CallbackRequest.id.in_(ids)))
    return len(ids)


def forget_voicemail_numbers(session: Session, cutoff: datetime) -> int:
    """Delete the callers' numbers of voicemails done and left before `cutoff`."""
    ids = list(
        session.scalars(
            select(Voicemail.id).where(
                Voicemail.status == TaskStatus.DONE,
                Voicemail.created_at < cutoff,
                Voicemail.caller_phone_enc.is_not(None),
            )
        )
    )
    for voicemail_id in ids:
        audit.record(session, RETENTION_ACTOR, "delete_number", "voicemail", voicemail_id)
    if ids:
        session.execute(
            update(Voicemail).where(Voicemail.id.in_(ids)).values(caller_phone_enc=None)
        )
    return len(ids)


def expired_recordings(session: Session, cutoff: datetime, limit: int) -> list[int]:
    """Done voicemails left before `cutoff` whose audio is still at Twilio."""
    return list(
        session.scalars(
            select(Voicemail.id)
            .where(
                Voicemail.status == TaskStatus.DONE,
                Voicemail.created_at < cutoff,
                Voicemail.recording_deleted_at.is_(None),
            )
            .order_by(Voicemail.id)
            .limit(limit)
        )
    )


def retention_job(db: Database, settings: Settings, now: datetime | None = None) -> None:
    """Hourly: done callback requests older than the retention are deleted; recordings of done
    voicemails older than it are deleted at Twilio; the text relay's idle conversations are
    closed, its bodies (here and at Twilio) and closed conversations' numbers deleted after its
    own retention. Idempotent; a recording or message Twilio could not delete now is tried
    again next hour."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.config.tasks.retention_days)
    with db.write() as session:
        purged = purge_callback_requests(session, cutoff)
        forget_voicemail_numbers(session, cutoff)
    with db.write() as session:
        conversations.purge(session, settings, now)  # the text relay: `[relay] retention_days`
    conversations.delete_provider_copies(db, settings, now)  # and Twilio's copies
    with db.read() as session:
        due = expired_recordings(session, cutoff, RETENTION_BATCH)
    removed = 0
    for voicemail_id in due:
        try:
            delete_recording(db, settings, voicemail_id, actor=RETENTION_ACTOR)
        except recordings.RecordingUnavailable:
            continue
        removed += 1
    if purged or due:
        log.info("retention: %d callback requests deleted, %d recordings deleted", purged, removed)
