"""The scheduler: APScheduler decides when to look; the database says what is due.

Every job is idempotent and reads its work from the database (`scheduling.dispatch`), so a
job may run late, twice, or in two processes at once without sending anything twice, and a
restart picks up whatever came due meanwhile. It runs inside `hotline serve` (a background
thread) and alone as `hotline scheduler` (for a separate process, or several); which jobs it
runs is composed in `app.compose` (the jobs of `scheduling.jobs` and `hotline.jobs`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from foundation.clock import utcnow
from foundation.jobs import Job

log = logging.getLogger(__name__)
# APScheduler logs two INFO lines per run of every job: with dispatchers every 2 seconds that is
# a line a second in the operator's log, saying nothing. Failures still show (WARNING, ERROR).
EXECUTOR_LOG = "apscheduler.executors.default"


class Scheduler:
    """APScheduler in a background thread, running `jobs` at their intervals.

    A job never overlaps itself (`max_instances=1`); runs missed while the process was busy or
    stopped are folded into one (`coalesce`); the first run of every job is immediate."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = list(jobs)
        if logging.getLogger(EXECUTOR_LOG).level == logging.NOTSET:  # unless set on purpose
            logging.getLogger(EXECUTOR_LOG).setLevel(logging.WARNING)
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(self._jobs)))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        for job in self._jobs:
            self._scheduler.add_job(
                self._runner(job),
                "interval",
                seconds=job.every.total_seconds(),
                id=job.id,
                name=job.id,
                next_run_time=utcnow(),
            )

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            try:
                job.run()
            except Exception as exc:  # logged without arguments: they may hold numbers
                log.error("scheduler job %s failed: %s", job.id, type(exc).__name__)

        return run

    @property
    def job_ids(self) -> list[str]:
        return [job.id for job in self._jobs]

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started: %s", ", ".join(self.job_ids))

    def wake(self, job_id: str) -> None:
        """Run a job now (for instance after a booking made something due soon)."""
        if self._scheduler.running:
            self._scheduler.modify_job(job_id, next_run_time=utcnow())

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop; with `wait`, jobs under way finish first (a claimed batch is sent and recorded)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)


def run_forever(jobs: Sequence[Job]) -> None:
    """`hotline scheduler`: run until SIGINT or SIGTERM, then finish the jobs under way."""
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    scheduler = Scheduler(jobs)
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("scheduler stopped")
