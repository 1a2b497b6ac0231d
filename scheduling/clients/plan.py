"""A client's exit plan: its steps (goals) with a status, their notes, the notes of sessions,
and the date of its next review.

Titles and notes are encrypted at rest (`foundation.crypto`, covered by `hotline rekey`); the
audit log records which step changed and its status, never the text. Steps keep an order
(`position`); a new one goes last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit, crypto
from foundation.access import Principal
from foundation.clock import served, utcnow
from foundation.errors import Invalid, NotFound
from foundation.models import (
    Appointment,
    Client,
    PlanNote,
    PlanStep,
    PlanStepStatus,
)
from scheduling.clients import records

TITLE_LENGTH = 200
NOTE_LENGTH = 10_000
POSITIONS = 1000  # steps of one plan at most
# Control characters other than tab and line breaks (a note keeps its lines).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class StepView:
    id: int
    title: str
    notes: str
    status: PlanStepStatus
    position: int
    status_changed_at: datetime


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int
    text: str
    author: str
    at: datetime
    step_id: int | None
    appointment_id: int | None


@dataclass(frozen=True, slots=True)
class StepEdit:
    """What to change of a step: None leaves a field as it is."""

    title: str | None = None
    notes: str | None = None
    status: PlanStepStatus | None = None
    position: int | None = None


# --- validation (pure) --------------------------------------------------------------------------


def check_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not title:
        raise Invalid("a step needs a title", field="title")
    if len(title) > TITLE_LENGTH:
        raise Invalid(f"a title has at most {TITLE_LENGTH} characters", field="title")
    if _CONTROL.search(raw):
        raise Invalid("the title contains control characters", field="title")
    return title


def check_text(raw: str, field: str, *, required: bool) -> str:
    text = raw.replace("\r\n", "\n").strip()
    if required and not text:
        raise Invalid("the note is empty", field=field)
    if len(text) > NOTE_LENGTH:
        raise Invalid(f"a note has at most {NOTE_LENGTH} characters", field=field)
    if _CONTROL.search(text):
        raise Invalid("the note contains control characters", field=field)
    return text


def _seal(settings: Settings, text: str) -> bytes:
    return crypto.box(settings).seal(text)


def _step_snapshot(step: PlanStep) -> dict[str, object]:
    return {
        "client_id": step.client_id,
        "status": step.status.value,
        "position": step.position,
        "notes": step.notes_enc is not None,
    }


# --- reading ------------------------------------------------------------------------------------


def steps(session: Session, settings: Settings, client_id: int) -> list[StepView]:
    box = crypto.box(settings)
    rows = session.scalars(
        select(PlanStep)
        .where(PlanStep.client_id == client_id)
        .order_by(PlanStep.position, PlanStep.id)
    )
    return [
        StepView(
            row.id,
            box.open(row.title_enc),
            box.open(row.notes_enc) if row.notes_enc is not None else "",
            row.status,
            row.position,
            row.status_changed_at,
        )
        for row in rows
    ]


def notes(session: Session, settings: Settings, client_id: int) -> list[NoteView]:
    """The plan's notes, newest first."""
    box = crypto.box(settings)
    rows = session.scalars(
        select(PlanNote)
        .where(PlanNote.client_id == client_id)
        .order_by(PlanNote.at.desc(), PlanNote.id.desc())
    )
    return [
        NoteView(
            row.id,
            box.open(row.text_enc),
            row.author,
            row.at,
            row.step_id,
            row.appointment_id,
        )
        for row in rows
    ]


def _step(session: Session, client: Client, step_id: int) -> PlanStep:
    step = session.get(PlanStep, step_id, with_for_update=True) if step_id > 0 else None
    if step is None or step.client_id != client.id:
        raise NotFound(f"no step {step_id} in this client's plan")
    return step


def step_of(session: Session, settings: Settings, client_id: int, step_id: int) -> StepView:
    found = next((s for s in steps(session, settings, client_id) if s.id == step_id), None)
    if found is None:
        raise NotFound(f"no step {step_id} in this client's plan")
    return found


# --- use cases ----------------------------------------------------------------------------------


def add_step(
    session: Session,
    settings: Settings,
    client_id: int,
    title: str,
    notes_text: str = "",
    *,
    status: PlanStepStatus = PlanStepStatus.OPEN,
    by: Principal,
    now: datetime | None = None,
) -> PlanStep:
    client = records.changeable(session, client_id, by)
    clean = check_title(title)
    body = check_text(notes_text, "notes", required=False)
    count, last = session.execute(
        select(func.count(PlanStep.id), func.max(PlanStep.position)).where(
            PlanStep.client_id == client.id
        )
    ).one()
    if count >= POSITIONS:
        raise Invalid(f"a plan has at most {POSITIONS} steps", field="title")
    at = now or utcnow()
    step = PlanStep(
        client_id=client.id,
        title_enc=_seal(settings, clean),
        notes_enc=_seal(settings, body) if body else None,
        status=status,
        position=(last or 0) + 1,
        status_changed_at=at,
        created_at=at,
        updated_at=at,
    )
    session.add(step)
    session.flush()
    audit.record(session, by.actor, "create", "plan_step", step.id, after=_step_snapshot(step))
    return step


def change_step(
    session: Session,
    settings: Settings,
    client_id: int,
    step_id: int,
    edit: StepEdit,
    *,
    by: Principal,
    now: datetime | None = None,
) -> PlanStep:
    client = records.changeable(session, client_id, by)
    step = _step(session, client, step_id)
    title = check_title(edit.title) if edit.title is not None else None
    body = check_text(edit.notes, "notes", required=False) if edit.notes is not None else None
    if edit.position is not None and not 1 <= edit.position <= POSITIONS:
        raise Invalid(f"a position is 1 to {POSITIONS}", field="position")
    before = _step_snapshot(step)
    text_changed = False
    if title is not None:
        step.title_enc = _seal(settings, title)
        text_changed = True
    if body is not None:
        step.notes_enc = _seal(settings, body) if body else None
        text_changed = True
    if edit.status is not None and edit.status is not step.status:
        step.status = edit.status
        step.status_changed_at = now or utcnow()
    if edit.position is not None:
        step.position = edit.position
    session.flush()
    after = _step_snapshot(step)
    if after != before or text_changed:
        audit.record(
            session,
            by.actor,
            "update",
            "plan_step",
            step.id,
            before=before,
            after={**after, "text_changed": text_changed},
        )
    return step


def delete_step(session: Session, client_id: int, step_id: int, *, by: Principal) -> None:
    """Delete a step and its notes (a step given up is better marked `dropped`)."""
    client = records.changeable(session, client_id, by)
    step = _step(session, client, step_id)
    before = _step_snapshot(step)
    session.execute(delete(PlanNote).where(PlanNote.step_id == step.id))
    session.delete(step)
    session.flush()
    audit.record(session, by.actor, "delete", "plan_step", step_id, before=before)


def add_note(
    session: Session,
    settings: Settings,
    client_id: int,
    text: str,
    *,
    step_id: int | None = None,
    appointment_id: int | None = None,
    by: Principal,
    author: str,
    now: datetime | None = None,
) -> PlanNote:
    """A note of a session (perhaps naming its appointment, which must be the client's) or of
    one step. `author`: the name shown with it."""
    client = records.changeable(session, client_id, by)
    body = check_text(text, "text", required=True)
    if step_id is not None:
        _step(session, client, step_id)
    if appointment_id is not None:
        appointment = session.get(Appointment, appointment_id) if appointment_id > 0 else None
        if appointment is None or appointment.client_id != client.id:
            raise NotFound(
                f"no appointment {appointment_id} of this client", field="appointment_id"
            )
    note = PlanNote(
        client_id=client.id,
        step_id=step_id,
        appointment_id=appointment_id,
        text_enc=_seal(settings, body),
        author=author[:120],
        author_user_id=by.user_id,
        at=now or utcnow(),
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        by.actor,
        "create",
        "plan_note",
        note.id,
        after={"client_id": client.id, "step_id": step_id, "appointment_id": appointment_id},
    )
    return note


def set_review(
    session: Session, client_id: int, review_on: date | None, *, by: Principal
) -> Client:
    """The plan's next review date (a local day), or none."""
    client = records.changeable(session, client_id, by)
    if review_on is not None and not served(review_on):
        raise Invalid(
            "the review date lies outside the days the service plans for", field="review_on"
        )
    if client.review_on == review_on:
        return client
    before = client.review_on.isoformat() if client.review_on else None
    client.review_on = review_on
    session.flush()
    audit.record(
        session,
        by.actor,
        "review",
        "client",
        client.id,
        before={"review_on": before},
        after={"review_on": review_on.isoformat() if review_on else None},
    )
    return client
