"""The operational metrics on /metrics, and /readyz judging the schedulers, on every database.

Each figure is seen to change when the thing it counts happens: calls through the signed
webhooks, Twilio's fallback URL, a reminder that is due and not sent, the outbox, a calendar
whose fetch fails, the schedulers' heartbeats.
"""

from __future__ import annotations

import inspect
from datetime import UTC, timedelta

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from app import compose
from app.simulator import Behaviour
from config.model import HotlineConfig, Scheduler
from config.settings import Settings
from foundation import heartbeats
from foundation.db import Database
from foundation.jobs import Job
from foundation.models import (
    Appointment,
    AppointmentMode,
    DispatchState,
    ExternalCalendar,
    OutboxMessage,
    Recipient,
    Reminder,
    ShiftNotice,
)
from hotline import providers
from tests.conftest import berlin
from tests.helpers import post_signed
from tests.test_voice import ISLAMISM, WEDNESDAY_NOON, Rota, simulator
from tests.test_voice import rota as rota

NOON = WEDNESDAY_NOON.astimezone(UTC)
AGE = "hotline_scheduler_last_run_age_seconds"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    text = client.get("/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_calls_fallbacks_reminders_outbox_and_calendars_show_on_metrics(
    client: TestClient, settings: Settings, database: Database, rota: Rota
) -> None:
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        before = scrape(client)
        assert value(before, "hotline_database_up") == 1
        assert value(before, "hotline_calls_24h", line="islamism", outcome="accepted") == 0
        assert value(before, "hotline_call_answer_seconds_count", line="islamism") == 0
        assert value(before, "hotline_twilio_fallback_total", line="islamism") == 0
        assert value(before, "hotline_reminder_lag_seconds") == 0
        assert value(before, "hotline_outbox_depth", channel="sms") == 0

        sim = simulator(client, settings)
        sim.call(ISLAMISM)  # the primary presses 1
        nobody = Behaviour(default="no-answer", fallback="no-answer", voicemail_seconds=20)
        sim.call(ISLAMISM, behaviour=nobody)
        fallback_url = f"{settings.public_url}/twilio/fallback"
        params = {"CallSid": "CA" + "7" * 32, "To": ISLAMISM, "From": "anonymous"}
        assert post_signed(client, settings, fallback_url, params).status_code == 200
        _due_reminder(database, rota.primary_id)
        _queued_sms_and_failing_calendar(database, rota.primary_id)
        after = scrape(client)

    assert value(after, "hotline_calls_24h", line="islamism", outcome="accepted") == 1
    assert value(after, "hotline_calls_24h", line="islamism", outcome="voicemail") == 1
    assert value(after, "hotline_calls_24h", line="right-wing", outcome="accepted") == 0
    assert value(after, "hotline_call_answer_seconds_count", line="islamism") == 1
    assert value(after, "hotline_twilio_fallback_total", line="islamism") == 1
    assert value(after, "hotline_reminders", state="pending") == 1
    assert value(after, "hotline_reminder_lag_seconds") == 300
    with database.read() as session:  # putting the rota on call queued shift notices
        notices = session.scalar(select(func.count()).select_from(ShiftNotice))
    assert notices
    assert sum(v for (name, _), v in after.items() if name == "hotline_notices") == notices
    assert value(after, "hotline_outbox_depth", channel="sms") == 1
    assert value(after, "hotline_busy_calendars", state="failing") == 1
    assert value(after, "hotline_busy_calendars", state="ok") == 0
    # Nothing personal in a label: no number, no name.
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert not any("+49" in label or "Test" in label for label in labels), labels

    with database.write() as session:  # the scheduler sends it
        session.execute(update(Reminder).values(state=DispatchState.SENT, sent_at=NOON))
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        sent = scrape(client)
    assert value(sent, "hotline_reminder_lag_seconds") == 0
    assert value(sent, "hotline_reminders", state="sent") == 1
    assert value(sent, "hotline_reminders", state="pending") == 0


def _due_reminder(database: Database, counsellor_id: int) -> None:
    """A reminder that came due five minutes ago and has not been sent."""
    start = berlin(2026, 12, 2, 12, 25)
    with database.write() as session:
        appointment = Appointment(
            counsellor_id=counsellor_id,
            client_pseudonym="K-1",
            start_at=start,
            end_at=start + timedelta(minutes=50),
            mode=AppointmentMode.PHONE,
        )
        session.add(appointment)
        session.flush()
        session.add(
            Reminder(
                appointment_id=appointment.id,
                recipient=Recipient.COUNSELLOR,
                offset_minutes=30,
                appointment_start=start,
                due_at=NOON - timedelta(minutes=5),
            )
        )


def _queued_sms_and_failing_calendar(database: Database, counsellor_id: int) -> None:
    with database.write() as session:
        session.add(
            OutboxMessage(
                channel="sms",
                purpose="test",
                from_number=ISLAMISM,
                to_enc=b"x",
                body_enc=b"x",
                simulated=False,
                status="queued",
            )
        )
        session.add(
            ExternalCalendar(
                counsellor_id=counsellor_id,
                label="Privat",
                url_enc=b"x",
                host="cal.example",
                last_fetched_at=NOON,
                last_error="Der Kalender konnte nicht gelesen werden.",
                failures=1,
            )
        )


def test_readyz_reports_a_scheduler_that_never_ran_or_stopped(
    client: TestClient, database: Database, config: HotlineConfig
) -> None:
    started = client.app.state.started_at  # type: ignore[attr-defined]
    allowance = config.scheduler.stale_after_seconds
    assert client.get("/readyz").json() == {"status": "ok"}  # a scheduler may be starting
    with time_machine.travel(started + timedelta(seconds=allowance + 1), tick=False):
        never = client.get("/readyz")
        assert (never.status_code, never.json()) == (503, {"status": "scheduler never ran"})
        # The check a load balancer in front of the webhooks makes: the database only.
        assert client.get("/readyz?skip=scheduler").status_code == 200

        runs: list[int] = []
        jobs = heartbeats.with_heartbeats(
            database, [Job("reminders.dispatch", timedelta(seconds=2), lambda: runs.append(1))]
        )
        for job in jobs:  # what the scheduler does: its jobs, then the heartbeat
            job.run()
        assert runs == [1]
        assert client.get("/readyz").json() == {"status": "ok"}
        ages = scrape(client)
        assert value(ages, AGE, job="reminders.dispatch") == 0
        assert value(ages, AGE, job="scheduler.heartbeat") == 0

    later = started + timedelta(seconds=2 * allowance + 20)
    with time_machine.travel(later, tick=False):
        stale = client.get("/readyz")
        assert stale.status_code == 503
        assert stale.json()["status"] == "scheduler late"
        assert set(stale.json()["late"]) == {"reminders.dispatch", "scheduler.heartbeat"}
        age = value(
            scrape(client), "hotline_scheduler_last_run_age_seconds", job="reminders.dispatch"
        )
        assert age == allowance + 19
        # Another scheduler's older run never moves a heartbeat back (and a scheduler
        # forgets the rows of the jobs it does not have: here, the heartbeat's).
        with database.write() as session:
            heartbeats.record(
                session,
                {"reminders.dispatch": started},
                {"reminders.dispatch": timedelta(seconds=2)},
            )
        with database.read() as session:
            (beat,) = heartbeats.read(session)
        assert beat.last_run_at == started + timedelta(seconds=allowance + 1)
        jobs[-1].run()  # the heartbeat job of a scheduler that runs again
        jobs[0].run()
        jobs[-1].run()
        assert client.get("/readyz").json() == {"status": "ok"}


def test_every_composed_job_beats(database: Database, settings: Settings) -> None:
    everything = compose.jobs(database, settings, providers.for_settings(database, settings))
    assert everything[-1].id == heartbeats.HEARTBEAT_JOB
    assert all(inspect.unwrap(job.run) is not job.run for job in everything[:-1])


def test_the_allowance_is_off_or_longer_than_the_heartbeats() -> None:
    assert Scheduler(stale_after_seconds=0).stale_after_seconds == 0
    with pytest.raises(ValueError, match="at least 30"):
        Scheduler(stale_after_seconds=10)
