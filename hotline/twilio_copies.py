"""The retention of Twilio's copies: every message, call and recording the service sent or
received through Twilio (its id noted in `foundation.copies`) is deleted from Twilio's logs
`[retention] twilio_days` after, or at once when an erasure asks (`due_at`).

A batch per run, each by Twilio's REST DELETE (`hotline.providers.twilio.delete`: a 404 counts
as deleted); no database lock is held during the REST calls. One Twilio could not delete now
(unreachable, an error, a message or call not final yet) waits and is tried again, an hour
later at first, up to a day between tries. The log names counts and kinds only, never an id
with a number or a body; the audit log records how many of each kind went. In simulation mode
nothing is at Twilio: the ids of the simulated webhooks are forgotten without a REST call.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from operator import methodcaller

from config.settings import Settings
from foundation import audit, copies
from foundation.db import Database, checkpoint
from foundation.models import TwilioResource
from hotline.providers import twilio

log = logging.getLogger(__name__)

RETENTION_ACTOR = "system:retention"
BATCH = 200  # copies deleted per round
ROUNDS = 10  # rounds per run: an erasure's copies go within the hour, a backlog over hours
# The REST client's resource list of each kind: `client.messages(sid)`, ...
_LISTS = {
    TwilioResource.MESSAGE: "messages",
    TwilioResource.CALL: "calls",
    TwilioResource.RECORDING: "recordings",
}


def _cutoff(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.config.retention.twilio_days)


def list_calls(db: Database, settings: Settings, now: datetime) -> int:
    """Incoming calls past the retention of Twilio's copies, or about to be rolled up (their
    records, and with them the CallSid, are deleted then), listed for deletion at Twilio."""
    retention = settings.config.retention
    before = now - timedelta(days=min(retention.twilio_days, retention.calls_days))
    total = 0
    for _ in range(ROUNDS * 10):
        with db.write() as session:
            listed = copies.list_calls(session, before, now)
        total += listed
        if not listed:
            break
    return total


def after_erasure(db: Database, settings: Settings, now: datetime) -> Counter[str]:
    """What follows an erasure by staff (page or API), once its transaction is committed: on
    SQLite the write-ahead log is emptied into the file (`foundation.db.checkpoint`), so that
    the deleted pseudonym, number and place linger in neither file (`secure_delete` overwrites
    them in the file; the log kept the old pages, and the file its old copies, until then);
    then Twilio's copies are deleted."""
    checkpoint(db.engine)
    return delete_copies(db, settings, now)


def delete_copies(db: Database, settings: Settings, now: datetime) -> Counter[str]:
    """Delete at Twilio what is due (a bounded number of rounds); returns how many of each kind
    went, and how many wait for another try ("waiting")."""
    done: Counter[str] = Counter()
    for _ in range(ROUNDS):
        with db.read() as session:
            due = copies.due(session, cutoff=_cutoff(settings, now), now=now, limit=BATCH)
        if not due:
            break
        gone, waiting = [], []
        for copy in due:
            if settings.simulation or twilio.delete(
                settings, copy.resource.value, methodcaller(_LISTS[copy.resource], copy.sid)
            ):
                gone.append(copy)
            else:
                waiting.append(copy.id)
        with db.write() as session:
            copies.forget(session, (copy.id for copy in gone))
            copies.postpone(session, waiting, now)
            counts = Counter(copy.resource.value for copy in gone)
            if counts:
                audit.record(
                    session,
                    RETENTION_ACTOR,
                    "delete_at_twilio",
                    "twilio_copy",
                    None,
                    after=dict(sorted(counts.items()))
                    | ({"simulated": True} if settings.simulation else {}),
                )
        done.update(counts)
        done["waiting"] += len(waiting)
        if len(due) < BATCH:
            break
    if done["waiting"]:
        log.warning(
            "retention: %d of Twilio's copies not deleted yet, tried again later", done["waiting"]
        )
    gone_total = sum(n for kind, n in done.items() if kind != "waiting")
    if gone_total:
        log.info(
            "retention: %d of Twilio's copies deleted (%s)",
            gone_total,
            ", ".join(f"{n} {kind}" for kind, n in sorted(done.items()) if kind != "waiting"),
        )
    return done


def retention(db: Database, settings: Settings, now: datetime) -> Counter[str]:
    """The hourly step of the retention job: list the calls, then delete what is due."""
    list_calls(db, settings, now)
    return delete_copies(db, settings, now)
