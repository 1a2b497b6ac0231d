"""The team's task list: callback requests and voicemails as one list, newest first, with the
personal fields only for the team's staff (the caller's language among them, when it is not the
line's first); and the dashboard's count of open callback requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.languages import GERMAN
from config.model import HotlineConfig
from config.phone import masked_phone
from config.settings import Settings
from foundation import crypto
from foundation.models import Call, CallbackRequest, TaskStatus, User, Voicemail
from hotline.tasks.callback_requests import WINDOWS

DONE_SHOWN = timedelta(days=14)  # done tasks stay in the list (to reopen) this long


@dataclass(frozen=True, slots=True)
class Task:
    """One entry of the task list. Personal fields are None unless the viewer is team staff."""

    kind: str  # "callback" (a callback request) or "voicemail"
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
    # The caller's language (ISO 639-1) when it is not the line's first: call back in it.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TeamTasks:
    open: list[Task]
    done: list[Task]


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def other_language(config: HotlineConfig, line: str, code: str | None) -> str | None:
    """`code` unless it is the line's first language (German for a line no longer
    configured): what the task list names, so that the call-back is in the caller's language."""
    first = config.lines[line].languages[0] if line in config.lines else GERMAN
    return code if code and code != first else None


def _callback_request_task(
    row: CallbackRequest, box: crypto.Box | None, names: dict[int, str], language: str | None
) -> Task:
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
        language=language if details else None,
    )


def _opened(box: crypto.Box | None, value: bytes | None) -> str | None:
    return box.open(value) if box is not None and value is not None else None


def _masked(phone: str | None) -> str | None:
    return masked_phone(phone) if phone else None


def _voicemail_task(
    row: Voicemail, box: crypto.Box | None, names: dict[int, str], language: str | None
) -> Task:
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
        language=language if box is not None else None,
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
    # A voicemail's language is its call's (None once the roll-up has deleted the call).
    voicemails = session.execute(
        select(Voicemail, Call.language)
        .outerjoin(Call, Call.id == Voicemail.call_id)
        .where(
            Voicemail.team_id == team_id,
            (Voicemail.status != TaskStatus.DONE) | (Voicemail.created_at >= since),
        )
    ).all()
    names = _usernames(
        session, [r.taken_by_id for r in requests] + [v.handled_by_id for v, _ in voicemails]
    )
    box = crypto.box(settings) if details else None
    config = settings.config
    everything = newest_first(
        [
            _callback_request_task(r, box, names, other_language(config, r.line, r.language))
            for r in requests
        ]
        + [
            _voicemail_task(v, box, names, other_language(config, v.line, code))
            for v, code in voicemails
        ]
    )
    return TeamTasks(
        open=[t for t in everything if t.status is not TaskStatus.DONE],
        done=[t for t in everything if t.status is TaskStatus.DONE],
    )


def open_callback_requests(
    session: Session, team_id: int, limit: int = 3
) -> tuple[int, list[Task]]:
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
    newest = [_callback_request_task(row, None, {}, None) for row in rows]
    return count, newest
