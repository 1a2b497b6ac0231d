"""A task's status changes: Übernehmen (take), Erledigt (done), Wieder öffnen (reopen), by the
staff of its team, audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from foundation import access, audit
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import CallbackRequest, TaskStatus, Voicemail

ACTIONS = ("take", "done", "reopen")


class NotStaff(Exception):
    """The user sees the task (an admin) but is not staff of its team: no action."""


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
    `kind` is "callback" (a callback request) or "voicemail". A task `by` may not see is
    NotFound, like a missing one; one she sees but may not work (not staff of its team),
    NotStaff."""
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
    row.done_at = now if row.status is TaskStatus.DONE else None
    if isinstance(row, CallbackRequest):
        row.updated_at = now
    entity = "callback_request" if kind == "callback" else "voicemail"
    after = _snapshot(row.status, taken_by)
    audit.record(session, actor, action, entity, row.id, before=before, after=after)
