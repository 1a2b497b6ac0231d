"""Benchmark: 10,000 appointment reminders due in the same minute, sent by `hotline scheduler`.

    python bench/reminders.py [--database-url URL] [--reminders N] [--processes 2,1]

For each entry of --processes (default: two processes, then one as the baseline) in turn:
a fresh schema of the PostgreSQL database (migrated with `hotline db upgrade`'s code, dropped
afterwards) gets 100 counsellors and N appointments (default 10,000), each with a client who
agreed to SMS (a number of its own) and one client reminder. That many `hotline scheduler`
processes are started against it (real processes, the shipped configuration, Twilio
credentials, `HOTLINE_TWILIO_API_URL` pointing at the tests' Twilio-compatible fake
(`tests/fake_twilio.py`) on loopback in this process: threaded, keep-alive, a listen backlog of
1024, it answers 201 with a fresh `SM…` sid and records each message). Once every process has
logged "scheduler started", all N reminders are made due at that moment; the benchmark waits
until none is pending or sending, stops the processes (SIGTERM) and prints:

* seconds until all are sent (from the due moment to the last `sent_at`) and messages per second;
* duplicates: messages the fake received beyond one per addressee (must be 0), and whether
  the provider ids recorded in the database are exactly the ones the fake handed out;
* lateness (`sent_at - due_at`) p50 / p99 / max, nearest-rank;
* and, after all runs, the throughput ratio of each run against the last one (the baseline).

Needs PostgreSQL: --database-url, or HOTLINE_TEST_DATABASE_URL. See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

from config.model import load_config
from config.settings import Settings
from foundation import crypto, db
from foundation.models import Appointment, Counsellor, DispatchState, Reminder
from foundation.teams import sync_teams

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' Twilio fake

from tests.fake_twilio import running as fake_twilio  # noqa: E402
from tests.helpers import booked_with_reminder  # noqa: E402

SID, TOKEN = "AC" + "b" * 32, "bench-reminders-token"
COUNSELLORS = 100
TIMEOUT_SECONDS = 900.0


# --- the database -----------------------------------------------------------------------------


def populate(database: db.Database, settings: Settings, count: int, far: datetime) -> None:
    """COUNSELLORS counsellors; `count` appointments of 30 minutes, an hour apart per
    counsellor (booked appointments of one counsellor must not overlap), each with a client
    of its own who agreed to SMS and one client reminder, due at `far` for now."""
    box = crypto.box(settings)
    with database.write() as session:
        sync_teams(session, settings.config)
        session.execute(
            insert(Counsellor),
            [
                {"id": i + 1, "name": f"Beraterin {i + 1}", "phone": f"+49151{i:08d}"}
                for i in range(COUNSELLORS)
            ],
        )
        appointments, reminders = [], []
        for i in range(count):
            slot = i // COUNSELLORS
            appointment, reminder = booked_with_reminder(
                box,
                appointment_id=i + 1,
                counsellor_id=i % COUNSELLORS + 1,
                phone=f"+49176{i:08d}",
                start=far + timedelta(days=1, hours=slot),
                due=far,
                offset_minutes=24 * 60 + 60 * slot,
            )
            appointments.append(appointment)
            reminders.append(reminder)
        session.execute(insert(Appointment), appointments)
        session.execute(insert(Reminder), reminders)


def remaining(database: db.Database) -> int:
    with database.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(Reminder.state.in_([DispatchState.PENDING, DispatchState.SENDING]))
            )
            or 0
        )


# --- the processes ----------------------------------------------------------------------------


@contextmanager
def schedulers(count: int, env: dict[str, str], workdir: Path) -> Iterator[list[Path]]:
    """`count` `hotline scheduler` processes; their logs; SIGTERM (then SIGKILL) afterwards."""
    logs = [workdir / f"scheduler-{i}.log" for i in range(count)]
    processes = []
    try:
        for log in logs:
            with log.open("wb") as sink:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "hotline", "scheduler"],
                        cwd=ROOT,
                        env=env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 60
        while not all("scheduler started" in log.read_text() for log in logs):
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise SystemExit(f"a scheduler exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise SystemExit("the schedulers did not start within 60 s")
            time.sleep(0.05)
        yield logs
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Result:
    processes: int
    reminders: int
    seconds: float
    duplicates: int
    sids_match: bool
    states: dict[str, int]
    p50: float
    p99: float
    worst: float

    @property
    def rate(self) -> float:
        return self.reminders / self.seconds


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run(base_url: str, processes: int, count: int) -> Result:
    config = load_config(None)
    with (
        db.scratch_schema(base_url, "bench_reminders_") as url,
        fake_twilio(SID, TOKEN, keep_alive=True) as fake,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = Settings(config=config, database_url=url)
        db.upgrade(url)
        database = db.Database(db.make_engine(url))
        try:
            began = time.perf_counter()
            populate(database, settings, count, datetime.now(UTC) + timedelta(days=30))
            print(f"  {count} reminders written in {time.perf_counter() - began:.1f} s", flush=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
            env |= {
                "HOTLINE_DATABASE_URL": url,
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "HOTLINE_TWILIO_API_URL": fake.url,
            }
            with schedulers(processes, env, Path(tmp)) as logs:
                with database.write() as session:  # all due now, in the same minute
                    due = datetime.now(UTC)
                    session.execute(update(Reminder).values(due_at=due))
                deadline = time.monotonic() + TIMEOUT_SECONDS
                while remaining(database):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"not done after {TIMEOUT_SECONDS:g} s")
                    time.sleep(0.1)
                time.sleep(2.5)  # one more polling interval: anything sent twice shows now
                # (APScheduler's "skipped: maximum number of running instances" warnings only
                # say that a dispatch ran longer than the 2-second polling interval.)
                errors = [line for log in logs for line in log.read_text().splitlines()
                          if " ERROR " in line or " WARNING " in line]  # fmt: skip
                errors = [line for line in errors if "maximum number of running" not in line]
            with database.read() as session:
                rows = session.execute(
                    select(Reminder.state, Reminder.due_at, Reminder.sent_at, Reminder.provider_sid)
                ).all()
        finally:
            database.dispose()
        states: dict[str, int] = {}
        for row in rows:
            states[row.state.value] = states.get(row.state.value, 0) + 1
        late = sorted((r.sent_at - r.due_at).total_seconds() for r in rows if r.sent_at)
        last = max(r.sent_at for r in rows if r.sent_at)
        addressees = [message["To"] for message in fake.messages]
        if errors:
            print(f"  {len(errors)} warnings/errors in the scheduler logs, e.g. {errors[0]}")
        return Result(
            processes=processes,
            reminders=count,
            seconds=(last - due).total_seconds(),
            duplicates=len(addressees) - len(set(addressees)),
            sids_match={m["Sid"] for m in fake.messages} == {r.provider_sid for r in rows},
            states=states,
            p50=nearest_rank(late, 0.50),
            p99=nearest_rank(late, 0.99),
            worst=late[-1],
        )


def report(result: Result) -> None:
    print(
        f"  {result.processes} process(es): all {result.reminders} sent after "
        f"{result.seconds:.2f} s, {result.rate:.0f} messages/s; duplicates {result.duplicates}; "
        f"provider ids recorded = handed out: {result.sids_match}; states {result.states}\n"
        f"  lateness p50 {result.p50:.2f} s, p99 {result.p99:.2f} s, max {result.worst:.2f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HOTLINE_TEST_DATABASE_URL"),
        help="PostgreSQL URL; a fresh schema per run is made in it and dropped "
        "(default: HOTLINE_TEST_DATABASE_URL)",
    )
    parser.add_argument("--reminders", type=int, default=10_000, help="reminders due (10000)")
    parser.add_argument(
        "--processes", default="2,1", help="scheduler processes per run; the last is the baseline"
    )
    args = parser.parse_args(argv)
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("needs a PostgreSQL --database-url (or HOTLINE_TEST_DATABASE_URL)")
    runs = [int(n) for n in args.processes.split(",")]
    if args.reminders < 1 or not runs or min(runs) < 1:
        parser.error("--reminders and --processes must be positive")
    results = []
    for processes in runs:
        print(f"run: {processes} scheduler process(es), {args.reminders} reminders", flush=True)
        result = run(args.database_url, processes, args.reminders)
        report(result)
        results.append(result)
    baseline = results[-1]
    print("\nthroughput against the baseline (the last run):")
    for result in results:
        print(f"  {result.processes} process(es): {result.rate / baseline.rate:.2f}x")
    failed = any(r.duplicates or not r.sids_match or set(r.states) != {"sent"} for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
