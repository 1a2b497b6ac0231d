"""What /metrics shows: the HTTP figures and the events of this process (counters and
histograms, summed over processes by Prometheus), and the state of the service read from the
database at each scrape (`foundation.gauges`), the same in every process.

The choice, and every metric, is explained in docs/operations.md ("Metrics"). Labels are line
slugs, outcomes, states, channels and job names: never a number, a name or an id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from foundation import gauges
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Channel, DispatchState
from hotline.calls import OUTCOMES

log = logging.getLogger(__name__)

# From the call's start to the counsellor's pressed 1: the greeting, then the ring (20 s a tier
# by default), then the whisper.
ANSWER_BUCKETS = (5, 10, 15, 20, 25, 30, 40, 50, 60, 90, 120, 180, 300)
UNKNOWN_LINE = "unknown"  # a number that is no configured line
NOTICE_CHANNELS = ("sms", "email")


class Metrics:
    """The service's own registry (not the global one: every app, and every test, has its own).
    With `db`, the figures of the database too; `lines`: the configured line slugs, whose
    series exist from the start (a rate needs its zero)."""

    def __init__(self, db: Database | None = None, lines: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.lines = tuple(lines)
        self.requests = Counter(
            "hotline_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotline_http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.answer = Histogram(
            "hotline_call_answer_seconds",
            "Seconds from a call's start to a counsellor taking it (pressing 1), by line",
            ["line"],
            buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )
        self.fallback = Counter(
            "hotline_twilio_fallback",
            "Requests to Twilio's fallback URL /twilio/fallback (the primary handler failed), "
            "by line",
            ["line"],
            registry=self.registry,
        )
        for line in self.lines:
            self.answer.labels(line)
            self.fallback.labels(line)
        if db is not None:
            self.registry.register(DatabaseCollector(db, self.lines))

    def answered(self, line: str, seconds: float) -> None:
        self.answer.labels(self._label(line)).observe(max(0.0, seconds))

    def fallback_requested(self, line: str | None) -> None:
        self.fallback.labels(self._label(line)).inc()

    def _label(self, line: str | None) -> str:
        """Only configured slugs become labels (a series for every value ever sent is a
        memory leak)."""
        return line if line in self.lines else UNKNOWN_LINE


class DatabaseCollector(Collector):
    """The figures of `foundation.gauges`, read at every scrape (in the scrape's thread: the
    /metrics route runs it off the event loop). A database that does not answer makes
    `hotline_database_up` 0, not the scrape fail."""

    def __init__(self, db: Database, lines: Iterable[str]) -> None:
        self._db = db
        self._lines = tuple(lines)

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # nothing read at registration (the schema may not be there yet)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        try:
            with self._db.read() as session:
                figures = gauges.read(session, now)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            yield GaugeMetricFamily("hotline_database_up", DATABASE_UP, value=0)
            return
        yield GaugeMetricFamily("hotline_database_up", DATABASE_UP, value=1)
        yield from self._families(figures)

    def _families(self, figures: gauges.Figures) -> Iterator[GaugeMetricFamily]:
        calls = _family("hotline_calls_24h", CALLS, ["line", "outcome"])
        lines = sorted({*self._lines, *(line for line, _ in figures.calls)})
        outcomes = sorted({*OUTCOMES, gauges.NO_OUTCOME, *(o for _, o in figures.calls)})
        for line in lines:
            for outcome in outcomes:
                calls.add_metric([line, outcome], figures.calls.get((line, outcome), 0))
        yield calls

        reminders = _family("hotline_reminders", REMINDERS, ["state"])
        for state in DispatchState:
            reminders.add_metric([state.value], figures.reminders.get(state.value, 0))
        yield reminders

        notices = _family("hotline_notices", NOTICES, ["state", "channel"])
        channels = sorted({*NOTICE_CHANNELS, *(c for _, c in figures.notices)})
        for state in DispatchState:
            for channel in channels:
                notices.add_metric(
                    [state.value, channel], figures.notices.get((state.value, channel), 0)
                )
        yield notices

        yield GaugeMetricFamily("hotline_reminder_lag_seconds", LAG, value=figures.reminder_lag)
        yield GaugeMetricFamily("hotline_notice_lag_seconds", NOTICE_LAG, value=figures.notice_lag)

        depth = _family("hotline_outbox_depth", OUTBOX, ["channel"])
        for channel in Channel:
            waiting = sum(n for (c, _), n in figures.outbox_depth.items() if c == channel.value)
            depth.add_metric([channel.value], waiting)
        yield depth

        calendars = _family("hotline_busy_calendars", CALENDARS, ["state"])
        for fetched, n in figures.calendars.items():
            calendars.add_metric([fetched], n)
        yield calendars

        ages = _family("hotline_scheduler_last_run_age_seconds", AGE, ["job"])
        for beat in figures.beats:
            ages.add_metric([beat.job], max(0.0, (figures.now - beat.last_run_at).total_seconds()))
        yield ages


def _family(name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


DATABASE_UP = "1 if the database answered this scrape's queries, else 0"
CALLS = "Calls started in the last 24 hours, by line and outcome (open: no outcome yet)"
REMINDERS = (
    "Appointment reminders by state: pending, sending and uncertain however old; "
    "sent, missed, cancelled and failed those due in the last 24 hours"
)
NOTICES = "Shift notices by state and channel (counted like hotline_reminders)"
LAG = "Seconds the oldest due reminder that is still pending has waited (0: none is due)"
NOTICE_LAG = LAG.replace("reminder", "shift notice")
OUTBOX = "Outbox messages not handed to the provider yet (queued or sending), by channel"
CALENDARS = (
    "Counsellors' external calendars (busy times) by their last fetch: ok, failing, unfetched"
)
AGE = "Seconds since a scheduler process last started a run of the job"
