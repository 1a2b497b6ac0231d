"""The scheduler's `busy.fetch` job: every registered calendar fetched about every 15 minutes
(less often after failures) and its busy times stored; a failure is recorded on the
calendar's row and changes nothing else."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select

from config.settings import Settings
from foundation import crypto
from foundation.clock import utcnow
from foundation.db import Database
from foundation.i18n import N_
from foundation.models import BusyInterval, ExternalCalendar
from scheduling.busy.errors import FetchError
from scheduling.busy.fetching import Limits, fetch
from scheduling.busy.parsing import busy_spans
from scheduling.feeds.events import uid_host, window

log = logging.getLogger(__name__)
REFETCH = timedelta(minutes=14)  # the job runs every 15 minutes
MAX_BACKOFF = timedelta(hours=24)


def due(calendar: ExternalCalendar, now: datetime) -> bool:
    """Fetched every 15 minutes; after failures less often (doubling, at most daily)."""
    if calendar.last_fetched_at is None:
        return True
    wait: timedelta = min(REFETCH * 2 ** min(calendar.failures, 7), MAX_BACKOFF)
    return now - calendar.last_fetched_at >= wait


def limits_of(settings: Settings) -> Limits:
    feeds_config = settings.config.feeds
    return Limits(
        timeout=float(feeds_config.external_timeout_seconds),
        max_bytes=feeds_config.external_max_bytes,
        allow_private=feeds_config.external_allow_private and not settings.production,
    )


def refresh(db: Database, settings: Settings, calendar_id: int, now: datetime | None = None) -> str:
    """Fetch one calendar and store its busy times; returns "ok", "unchanged" or "error". Never
    raises: a failure is recorded on the calendar's row (and logged without the URL)."""
    now = now or utcnow()
    sealer = crypto.box(settings)
    with db.read() as session:
        calendar = session.get(ExternalCalendar, calendar_id)
        if calendar is None:
            return "error"
        url_enc, etag, modified = calendar.url_enc, calendar.etag, calendar.last_modified
        busy_day = calendar.busy_day
    span = window(now, settings.config.organisation.zone, settings.config.feeds)
    start = max(span.start, now - timedelta(days=1))
    if busy_day != span.today:  # the stored intervals end where yesterday's window ended
        etag = modified = None
    try:
        fetched = fetch(sealer.open(url_enc), etag, modified, limits_of(settings))
        spans = None
        if fetched.status == 200:
            host = uid_host(settings)
            spans = busy_spans(
                fetched.body, start, span.end, settings.config.organisation.zone, host
            )
    except (FetchError, crypto.DecryptionError) as exc:
        message = str(exc) if isinstance(exc, FetchError) else N_("Die Adresse ist nicht lesbar.")
        _record_failure(db, calendar_id, message, now)
        log.warning("external calendar %d: %s", calendar_id, type(exc.__cause__ or exc).__name__)
        return "error"
    except Exception as exc:
        _record_failure(db, calendar_id, N_("Der Kalender konnte nicht gelesen werden."), now)
        log.error("external calendar %d failed (%s)", calendar_id, type(exc).__name__)
        return "error"
    with db.write() as session:
        # Locked: two schedulers storing one calendar's intervals at once would double them.
        calendar = session.get(
            ExternalCalendar, calendar_id, with_for_update=True, populate_existing=True
        )
        if calendar is None:
            return "error"
        calendar.last_fetched_at = calendar.last_success_at = now
        calendar.last_error, calendar.failures = None, 0
        if spans is None:
            return "unchanged"
        calendar.etag, calendar.last_modified = fetched.etag, fetched.last_modified
        calendar.busy_count, calendar.busy_day = len(spans), span.today
        session.execute(delete(BusyInterval).where(BusyInterval.calendar_id == calendar_id))
        if spans:
            session.execute(
                insert(BusyInterval),
                [{"calendar_id": calendar_id, "start_at": s, "end_at": e} for s, e in spans],
            )
    return "ok"


def _record_failure(db: Database, calendar_id: int, message: str, now: datetime) -> None:
    with db.write() as session:
        calendar = session.get(ExternalCalendar, calendar_id)
        if calendar is not None:
            calendar.last_fetched_at = now
            calendar.last_error = message[:500]
            calendar.failures = calendar.failures + 1


def fetch_job(db: Database, settings: Settings) -> int:
    """The scheduler job `busy.fetch`: refresh every calendar that is due; returns how many
    were tried. Busy times that have passed are dropped at the next good fetch."""
    now = utcnow()
    with db.read() as session:
        ids = [c.id for c in session.scalars(select(ExternalCalendar)) if due(c, now)]
    for calendar_id in ids:
        refresh(db, settings, calendar_id, now)
    return len(ids)
