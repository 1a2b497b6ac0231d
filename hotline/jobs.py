"""The scheduler's jobs of telephony: retention of tasks, recordings and text conversations."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from config.settings import Settings
from foundation.db import Database
from foundation.jobs import Job
from hotline.tasks.retention import retention_job


def jobs(db: Database, settings: Settings) -> list[Job]:
    return [Job("tasks.retention", timedelta(hours=1), partial(retention_job, db, settings))]
