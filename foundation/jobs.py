"""A recurring job of the scheduler (`scheduling.scheduler`): what to run, and how often.

Jobs are composed where the service is put together (`app.compose`), each bound to what it
needs (database, settings, the way out), so the scheduler itself knows no feature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    every: timedelta
    run: Callable[[], object]
