"""The scheduler wrapper: jobs run at once and then at their interval, quietly."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from config.settings import Settings
from foundation.db import Database
from foundation.jobs import Job
from scheduling.scheduler import EXECUTOR_LOG, Scheduler


def test_jobs_run_without_a_log_line_per_run(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    runs = threading.Semaphore(0)
    failing = threading.Event()

    def tick() -> None:
        runs.release()

    def broken() -> None:
        failing.set()
        raise RuntimeError("+4917612345678")  # what an exception may carry is never logged

    logging.getLogger(EXECUTOR_LOG).setLevel(logging.NOTSET)  # as in a fresh process
    caplog.set_level(logging.INFO)
    scheduler = Scheduler(
        [Job("tick", timedelta(seconds=0.05), tick), Job("broken", timedelta(hours=1), broken)],
    )
    scheduler.start()
    try:
        for _ in range(3):  # the first run at once, then at the interval
            assert runs.acquire(timeout=10)
        assert failing.wait(timeout=10)
    finally:
        scheduler.shutdown()
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "executed successfully" in m or "Running job" in m]
    assert "scheduler job broken failed: RuntimeError" in messages
    assert not [m for m in messages if "+49176" in m]
