"""Retention: personal data is kept only as long as the work needs it. The hourly job deletes
done callback requests, the callers' numbers and recordings of done voicemails past
`[tasks] retention_days`, runs the text relay's own retention (`[relay] retention_days`),
rolls call records older than `[retention] calls_days` into daily counts before deleting them
(`hotline.reports.roll_up`), and deletes Twilio's copies of everything sent and received after
`[retention] twilio_days` (`hotline.twilio_copies`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit, outbox
from foundation.clock import utcnow
from foundation.db import Database, checkpoint
from foundation.models import CallbackRequest, TaskStatus, Voicemail
from hotline import conversations, recordings, reports, twilio_copies
from hotline.tasks.voicemail_recordings import delete_recording

log = logging.getLogger(__name__)

RETENTION_ACTOR = "system:retention"
RETENTION_BATCH = 100


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


def roll_up_calls(db: Database, settings: Settings, now: datetime) -> int:
    """Call records older than `[retention] calls_days` (whole local days) rolled up into the
    daily aggregates and deleted, a bounded number of days per transaction."""
    config = settings.config
    keep_from = (now - timedelta(days=config.retention.calls_days)).astimezone(
        config.organisation.zone
    )
    total = 0
    for _ in range(RETENTION_BATCH):
        with db.write() as session:
            rolled = reports.roll_up(session, config, keep_from.date())
        if not rolled:
            break
        total += rolled
    if total:
        log.info("retention: %d call records rolled up and deleted", total)
    return total


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
    with db.write() as session:
        twilio_days = timedelta(days=settings.config.retention.twilio_days)
        outboxed = outbox.purge(session, now - twilio_days)
        if outboxed:
            audit.record(
                session, RETENTION_ACTOR, "purge", "outbox", None, after={"messages": outboxed}
            )
    twilio_copies.list_calls(db, settings, now)  # before the roll-up deletes their records
    roll_up_calls(db, settings, now)
    conversations.delete_provider_copies(db, settings, now)  # and Twilio's copies
    twilio_copies.delete_copies(db, settings, now)  # of everything: `[retention] twilio_days`
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
    checkpoint(db.engine)  # SQLite: what was deleted leaves the write-ahead log too
