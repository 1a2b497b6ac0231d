"""A voicemail's recording: the audio stays at Twilio (`hotline.recordings` fetches and deletes
it there); here is which recording a voicemail has and the note that it was deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import TaskStatus, Voicemail
from hotline import recordings


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
