"""The scheduler's jobs of scheduling: shift notices, appointment reminders, busy times,
open shifts that can no longer be taken."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from config.settings import Settings
from foundation.db import Database
from foundation.jobs import Job
from foundation.outgoing import Provider
from scheduling import erasure, reminder_sending
from scheduling.busy import refreshing
from scheduling.clients import reviews
from scheduling.notices import jobs as notice_jobs
from scheduling.offers import expiring


def jobs(db: Database, settings: Settings, provider: Provider) -> list[Job]:
    return [
        Job("notices.plan", timedelta(seconds=60), partial(notice_jobs.plan_job, db, settings)),
        Job(
            "notices.dispatch",
            timedelta(seconds=2),
            partial(notice_jobs.dispatch_job, db, settings, provider),
        ),
        Job(
            "reminders.dispatch",
            timedelta(seconds=2),
            partial(reminder_sending.dispatch_job, db, settings, provider),
        ),
        Job("busy.fetch", timedelta(minutes=15), partial(refreshing.fetch_job, db, settings)),
        Job("clients.reviews", reviews.EVERY, partial(reviews.plan_job, db, settings)),
        Job("offers.expire", timedelta(seconds=60), partial(expiring.expire_job, db, settings)),
        Job("clients.retention", timedelta(hours=1), partial(erasure.retention_job, db, settings)),
    ]
