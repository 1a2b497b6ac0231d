"""The access log: who opened which record of client data, and when; never what it holds.

A page or API route that shows a record's client content (an appointment's pseudonym, what a
callback request or a voicemail left, a conversation's messages, a call-back's client) calls
`opened` with the records it showed, after it has read them. Admins read the log on the page
"Zugriffe"; the scheduler deletes entries past `[access_log] retention_days`.

One row per record shown, written in one statement: "who saw appointment 42" is then an
indexed lookup, and a page of 50 tasks costs one insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.i18n import N_
from foundation.jobs import Job
from foundation.models import AccessLogEntry

# The records whose openings are logged, and what the log page calls them.
# The kinds of record, named for the access log page (marked for its catalogues: web.i18n).
KINDS = {
    "appointment": N_("Termin"),
    "callback_request": N_("Rückrufbitte"),
    "voicemail": N_("Sprachnachricht"),
    "voicemail_audio": N_("Sprachnachricht (Aufnahme angehört)"),
    "conversation": N_("Unterhaltung"),
    "outbound_call": N_("Rückruf über die Leitung"),
    "client": N_("Klient/in (Fallakte)"),
    "client_export": N_("Klient/in: Auskunft (alle Daten exportiert)"),
}
PAGE_SIZE = 200


def opened(
    session: Session,
    who: Principal,
    kind: str,
    record_ids: Iterable[int],
    now: datetime | None = None,
) -> int:
    """Log that `who` was shown these records of `kind`; returns how many rows."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of record {kind!r}")
    at = now or utcnow()
    rows = [
        {
            "at": at,
            "actor": who.actor[:120],
            "user_id": who.user_id,
            "api_key_id": who.api_key_id,
            "kind": kind,
            "record_id": record_id,
        }
        for record_id in dict.fromkeys(record_ids)
    ]
    if rows and not who.system:
        session.execute(insert(AccessLogEntry), rows)
    return len(rows) if not who.system else 0


def log_opened(db: Database, who: Principal, kind: str, record_ids: Iterable[int]) -> None:
    """`opened` in a transaction of its own (for pages that read in a read-only one)."""
    ids = list(record_ids)
    if ids and not who.system:
        with db.write() as session:
            opened(session, who, kind, ids)


def entries(
    session: Session, *, kind: str | None = None, record_id: int | None = None
) -> list[AccessLogEntry]:
    """The latest entries, newest first; narrowed to a kind of record and one record."""
    query = select(AccessLogEntry).order_by(AccessLogEntry.id.desc()).limit(PAGE_SIZE)
    if kind is not None:
        query = query.where(AccessLogEntry.kind == kind)
    if record_id is not None:
        query = query.where(AccessLogEntry.record_id == record_id)
    return list(session.scalars(query))


def purge(session: Session, cutoff: datetime) -> int:
    """Delete the entries of openings before `cutoff`; returns how many."""
    result = session.execute(delete(AccessLogEntry).where(AccessLogEntry.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def retention_job(db: Database, settings: Settings, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(days=settings.config.access_log.retention_days)
    with db.write() as session:
        return purge(session, cutoff)


def jobs(db: Database, settings: Settings) -> list[Job]:
    return [Job("access_log.retention", timedelta(hours=1), partial(retention_job, db, settings))]
