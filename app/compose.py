"""The whole service put together from settings: the jobs of every package for the scheduler,
and the way out (`hotline.providers`) they send through."""

from __future__ import annotations

from config.settings import Settings
from foundation import access_log, heartbeats
from foundation.db import Database
from foundation.jobs import Job
from foundation.outgoing import Provider
from hotline import jobs as hotline_jobs
from scheduling import jobs as scheduling_jobs


def jobs(db: Database, settings: Settings, provider: Provider) -> list[Job]:
    """Every recurring job of the service, each noting its runs for /readyz and /metrics
    (`foundation.heartbeats`)."""
    every = [
        *scheduling_jobs.jobs(db, settings, provider),
        *hotline_jobs.jobs(db, settings),
        *access_log.jobs(db, settings),
    ]
    return heartbeats.with_heartbeats(db, every)
