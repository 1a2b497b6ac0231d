"""Benchmark: a counsellor's calendar feed, rendered in full and answered 304.

    python bench/feeds.py [--runs N] [--database-url URL]

Builds a temporary SQLite database (or a fresh schema of the PostgreSQL database of
--database-url, dropped at the end): one counsellor with two years of daily 24-hour shifts
(one year back, one ahead) and 2,000 one-hour appointments over the same two years, and every
30 days a two-day absence of hers, the first day of it covered by a colleague's stand-in (so
the feed cuts shifts into her own, cancelled and uncovered parts, as `scheduling.rota.worked`
does for the router). Then, each timed N times (median and p95):

* full:      `scheduling.feeds.serving.answer` without conditional headers and with an empty
             body cache: token lookup, fingerprint, loading the rows, rendering (what a first
             poll costs);
* 304:       `scheduling.feeds.serving.answer` with the current ETag in If-None-Match (what most
             polls cost);
* http:      the same two through the whole ASGI app (Starlette, middleware), in process;
* render:    `scheduling.feeds.rendering.render` alone over the loaded events, against
* icalendar: the same events built as `icalendar` objects in a plain loop (VTIMEZONE added by
             `add_missing_timezones`) and serialised, the baseline.

Targets: full render under 100 ms, 304 under 5 ms. See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import icalendar
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from config.model import load_config
from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database, make_engine, scratch_schema
from foundation.models import AbsenceKind, Appointment, Base, Shift
from foundation.teams import sync_teams
from scheduling import absences, standins
from scheduling.counsellors import NewCounsellor, create_counsellor
from scheduling.feeds import queries, rendering, serving
from scheduling.feeds import tokens as feed_tokens
from scheduling.feeds.events import AppointmentEvent, Calendar, Duty, Owner, ShiftEvent, window
from web import feed as web_feed
from web.app import create_app

APPOINTMENTS = 2000
DAYS = 730


@contextmanager
def database(base_url: str | None, workdir: Path) -> Iterator[Database]:
    if base_url is None:
        db = Database(make_engine(f"sqlite:///{workdir / 'feeds.sqlite3'}"))
        try:
            yield db
        finally:
            db.dispose()
        return
    with scratch_schema(base_url, "bench_feeds_") as url:
        db = Database(make_engine(url))
        try:
            yield db
        finally:
            db.dispose()


def build(db: Database, settings: Settings) -> tuple[int, str]:
    """The counsellor, her shifts and appointments; returns (counsellor id, feed token)."""
    Base.metadata.create_all(db.engine)
    zone = settings.config.organisation.zone
    today = utcnow().astimezone(zone).date()
    first = today - timedelta(days=DAYS // 2)
    with db.write() as session:
        sync_teams(session, settings.config)
        person = create_counsellor(
            session,
            settings.config,
            NewCounsellor("Anna Berger", "+4915199990000", None, ("islamism",)),
            actor="bench",
        )
        team_id = person.teams[0].id
        now = utcnow()
        handoffs = [
            datetime(d.year, d.month, d.day, 9, tzinfo=zone).astimezone(UTC)
            for d in (first + timedelta(days=i) for i in range(DAYS + 1))
        ]
        session.execute(
            insert(Shift),
            [
                {
                    "team_id": team_id,
                    "counsellor_id": person.id,
                    "tier": "primary" if i % 3 else "backup",
                    "start_at": start,
                    "end_at": end,
                    "created_at": now,
                    "updated_at": now,
                }
                for i, (start, end) in enumerate(itertools.pairwise(handoffs))
            ],
        )
        slots = [
            datetime(d.year, d.month, d.day, hour, tzinfo=zone).astimezone(UTC)
            for d in (first + timedelta(days=i) for i in range(DAYS))
            for hour in (10, 13, 15)
        ]
        step = len(slots) / APPOINTMENTS
        session.execute(
            insert(Appointment),
            [
                {
                    "counsellor_id": person.id,
                    "client_pseudonym": f"Klient {i}",
                    "sms_consent": False,
                    "start_at": slots[int(i * step)],
                    "end_at": slots[int(i * step)] + timedelta(hours=1),
                    "mode": ("phone", "in_person", "video")[i % 3],
                    "status": "cancelled" if i % 50 == 0 else "booked",
                    "sequence": i % 4,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(APPOINTMENTS)
            ],
        )
        colleague = create_counsellor(
            session,
            settings.config,
            NewCounsellor("Ben Kraus", "+4915199990001", None, ("islamism",)),
            actor="bench",
        )
        for day in range(3, DAYS, 30):
            away_from = handoffs[day] + timedelta(hours=3)
            absences.create_absence(
                session,
                absences.NewAbsence(
                    person.id, AbsenceKind.HOLIDAY, away_from, away_from + timedelta(days=2)
                ),
                actor="bench",
            )
            standins.create_stand_in(
                session,
                settings.config,
                standins.NewStandIn(
                    "islamism", person.id, colleague.id, away_from, away_from + timedelta(days=1)
                ),
                actor="bench",
            )
        _, plain = feed_tokens.issue(session, counsellor_id=person.id, actor="bench")
    return person.id, plain


def icalendar_loop(
    calendar: Calendar,
    shifts: list[ShiftEvent],
    appointments: list[AppointmentEvent],
) -> bytes:
    """The baseline: the same events as icalendar objects, built one by one."""
    zone = calendar.zone
    cal = icalendar.Calendar()
    cal.add("prodid", rendering.PRODID)
    cal.add("version", "2.0")
    cal.add("name", calendar.name)
    cal.add("x-wr-calname", calendar.name)
    for shift in shifts:
        event = icalendar.Event()
        event.add("uid", f"{rendering.shift_uid(shift)}@{calendar.uid_host}")
        event.add("dtstamp", shift.updated)
        event.add("last-modified", shift.updated)
        event.add("sequence", rendering.sequence_of(shift.updated))
        event.add("dtstart", shift.start.astimezone(zone))
        event.add("dtend", shift.end.astimezone(zone))
        event.add("summary", rendering.shift_summary(shift))
        event.add("status", "CANCELLED" if shift.duty is Duty.CANCELLED else "CONFIRMED")
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    for appointment in appointments:
        event = icalendar.Event()
        event.add("uid", f"appointment-{appointment.id}@{calendar.uid_host}")
        event.add("dtstamp", appointment.updated)
        event.add("last-modified", appointment.updated)
        event.add("sequence", appointment.sequence)
        event.add("dtstart", appointment.start.astimezone(zone))
        event.add("dtend", appointment.end.astimezone(zone))
        event.add("summary", rendering.appointment_summary(appointment))
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return f"{statistics.median(times):8.2f} ms median, {p95:8.2f} ms p95"


async def asgi_get(app: Any, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """GET through the ASGI app in process; returns (status, body bytes)."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    size = sum(len(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")
    return status, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    config = load_config(None)
    with tempfile.TemporaryDirectory() as workdir, database(args.database_url, Path(workdir)) as db:
        settings = Settings(config=config, database_url=str(db.engine.url))
        started = time.perf_counter()
        counsellor_id, plain = build(db, settings)
        print(f"built in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})")
        owner = Owner(counsellor_id)

        def full() -> serving.Answer:
            return serving.answer(db, settings, serving.Bodies(), plain, None, None)

        first = full()
        assert first.status == 200
        assert first.body is not None
        body = first.body
        etag = first.etag

        def not_modified() -> serving.Answer:
            return serving.answer(db, settings, serving.Bodies(), plain, etag, None)

        assert not_modified().status == 304
        with db.read() as session:
            span = window(utcnow(), config.organisation.zone, config.feeds)
            calendar = queries.calendar_for(session, settings, owner)
            shifts = queries.load_shifts(session, owner, span)
            appointments = queries.load_appointments(session, counsellor_id, span, pseudonyms=False)
        events = len(shifts) + len(appointments)
        cancelled = sum(shift.duty is Duty.CANCELLED for shift in shifts)
        baseline = icalendar_loop(calendar, shifts, appointments)
        print(
            f"feed: {len(body):,} bytes, {events:,} events in the window "
            f"({len(shifts)} shifts and parts of shifts, {cancelled} of them cancelled, "
            f"{len(appointments)} appointments); "
            f"icalendar's: {len(baseline):,} bytes"
        )
        runs = args.runs
        results = {
            "full (answer)": timed(full, runs),
            "304 (answer)": timed(not_modified, runs),
            "render only": timed(
                lambda: rendering.render(calendar, span, shifts, appointments), runs
            ),
            "icalendar loop": timed(
                lambda: icalendar_loop(calendar, shifts, appointments), max(5, runs // 3)
            ),
        }
        app = create_app(settings, database=db)
        path = f"/feeds/{plain}.ics"

        async def over_asgi(headers: dict[str, str]) -> None:
            app.state.feeds = web_feed.FeedState()  # no body cache, no rate limit carry-over
            status, _ = await asgi_get(app, path, headers)
            assert status in (200, 304), status

        results["full (ASGI app)"] = timed(lambda: anyio.run(over_asgi, {}), runs)
        results["304 (ASGI app)"] = timed(
            lambda: anyio.run(over_asgi, {"if-none-match": etag}), runs
        )
        for name, times in results.items():
            print(f"{name:<16} {summary(times)}")
        ratio = statistics.median(results["icalendar loop"]) / statistics.median(
            results["render only"]
        )
        print(f"icalendar loop / render only: {ratio:.1f}x")
        full_ms = statistics.median(results["full (answer)"])
        nm_ms = statistics.median(results["304 (answer)"])
        print(
            f"targets: full render < 100 ms: {'met' if full_ms < 100 else 'MISSED'} "
            f"({full_ms:.1f}); 304 < 5 ms: {'met' if nm_ms < 5 else 'MISSED'} ({nm_ms:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
