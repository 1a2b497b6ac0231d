"""The scheduler's jobs of shift notices: planning, and sending through `scheduling.dispatch`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Reminder, ShiftNotice
from foundation.outgoing import Outgoing, Provider
from scheduling import dispatch
from scheduling.notices.planning import PlanResult, plan
from scheduling.notices.rendering import render


class NoticeQueue:
    """Shift notices for `scheduling.dispatch`."""

    name = "shift notices"
    model: type[Reminder] | type[ShiftNotice] = ShiftNotice

    def grace(self, settings: Settings) -> timedelta:
        return timedelta(minutes=settings.config.notices.grace_minutes)

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        return render(session, settings, row, utcnow())


NOTICES = NoticeQueue()


def plan_job(db: Database, settings: Settings) -> PlanResult:
    with db.write() as session:
        return plan(session, settings, utcnow())


def dispatch_job(db: Database, settings: Settings, provider: Provider) -> dispatch.Round:
    return dispatch.dispatch(db, settings, NOTICES, send=provider.send)
