"""Scheduler heartbeats: when each scheduler job last started a run, kept in the database, so
that every web process can tell (in /readyz and /metrics) whether some scheduler does its work,
wherever the schedulers run.

A write after every run would be a write a second (the dispatchers run every 2 s); instead each
scheduler process notes its runs in memory (`Heartbeats.wrap`) and its own light job
`scheduler.heartbeat` writes them every 15 seconds, in one small transaction. A row keeps the
newest run of any scheduler: with two schedulers, a job is late only when neither ran it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from foundation.clock import utcnow
from foundation.db import Database
from foundation.jobs import Job
from foundation.models import SchedulerHeartbeat

HEARTBEAT_JOB = "scheduler.heartbeat"
EVERY = timedelta(seconds=15)


@dataclass(frozen=True, slots=True)
class Beat:
    """A job's row: how often it runs, and when one of its runs last started."""

    job: str
    every: timedelta
    last_run_at: datetime


class Heartbeats:
    """One scheduler process's runs, noted in memory and written by `job()`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()  # the jobs run in the scheduler's worker threads
        self._runs: dict[str, datetime] = {}
        self._every: dict[str, timedelta] = {HEARTBEAT_JOB: EVERY}

    def wrap(self, job: Job) -> Job:
        """`job`, noting when each of its runs starts. Not when it ends: a run that takes
        long (a retention deleting at Twilio) is no sign of trouble while the next one starts
        on time; a job that hangs is, as the scheduler then starts it no more (a job never
        overlaps itself). A run that fails counts too: its failure is logged by the job."""
        self._every[job.id] = job.every

        def run() -> object:
            with self._lock:
                self._runs[job.id] = utcnow()
            return job.run()

        run.__wrapped__ = job.run  # type: ignore[attr-defined]  # what inspect.unwrap finds
        return Job(job.id, job.every, run)

    def job(self) -> Job:
        return Job(HEARTBEAT_JOB, EVERY, self.beat)

    def beat(self) -> None:
        """Write the runs noted so far (and this one), and forget the rows of jobs this
        scheduler does not have (renamed or removed in this version)."""
        with self._lock:
            self._runs[HEARTBEAT_JOB] = utcnow()
            runs = dict(self._runs)
        with self._db.write() as session:
            record(session, runs, self._every)


def record(session: Session, runs: dict[str, datetime], every: dict[str, timedelta]) -> None:
    """Upsert one row per job in `runs`; a row never moves back in time (another scheduler
    may have run the job later). Rows of jobs not in `every` are deleted."""
    session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.job.not_in(list(every))))
    if not runs:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SchedulerHeartbeat)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["job"],
            set_={
                "last_run_at": statement.excluded.last_run_at,
                "every_seconds": statement.excluded.every_seconds,
            },
            where=SchedulerHeartbeat.last_run_at < statement.excluded.last_run_at,
        ),
        [
            {"job": job, "every_seconds": round(every[job].total_seconds()), "last_run_at": at}
            for job, at in sorted(runs.items())
        ],
    )


def read(session: Session) -> list[Beat]:
    rows = session.execute(
        select(
            SchedulerHeartbeat.job, SchedulerHeartbeat.every_seconds, SchedulerHeartbeat.last_run_at
        ).order_by(SchedulerHeartbeat.job)
    )
    return [Beat(job, timedelta(seconds=every), at) for job, every, at in rows]


def late(beats: Sequence[Beat], now: datetime, allowance: timedelta) -> dict[str, int]:
    """The jobs whose last run started longer ago than their interval plus `allowance`, with
    the seconds since."""
    return {
        beat.job: round((now - beat.last_run_at).total_seconds())
        for beat in beats
        if now - beat.last_run_at > beat.every + allowance
    }


def with_heartbeats(db: Database, jobs: Sequence[Job]) -> list[Job]:
    """`jobs`, each noting its runs, and the job that writes them."""
    heartbeats = Heartbeats(db)
    return [*(heartbeats.wrap(job) for job in jobs), heartbeats.job()]
