"""Benchmark: a team's yearly report over five years of history.

    python bench/reports.py [--calls N] [--runs N] [--database-url URL [--keep SCHEMA]] [--explain]

Builds a temporary SQLite database (or a fresh schema of the PostgreSQL database of
--database-url, dropped at the end), migrated to head (so the indexes and the tallies are the
migrations' own), with five years (2021–2025, Europe/Berlin) of history for three lines: two of team
"islamism" ("islamism" and a second line "islamism-relatives" added to the shipped
configuration) and "right-wing". Default 500,000 calls with every outcome (accepted at the
primary or backup tier, fallback, voicemail, hung up, outside hours, a few in progress), a
pool of repeat callers and withheld numbers, relatives, the caller's language (none for the
first tenth, from before languages were kept); a voicemail for every voicemail call,
callback requests, call-backs through the line, appointments of the teams' counsellors with
two reminders each (sent, missed, failed, uncertain) and cancellations by SMS (audit entries),
text conversations with messages both ways, a daily primary and backup shift per team with
stand-ins, gaps and shift notices. Everything is bulk-inserted with Core `insert()`
executemany; PostgreSQL gets `VACUUM ANALYZE` afterwards (as autovacuum would), SQLite none.

Then, each timed `--runs` times after a warm-up (median and p95, nearest rank):

* report: `web.report_data.build` for team "islamism" and the year 2025 (compared with 2024),
  in one read session, as the API and the page run it;
* count:  the baseline, `SELECT COUNT(*)` over the same rows: the calls of 2025 of the team's
          two lines (`line IN (...) AND started_at >= ? AND started_at < ?`).

Target: the yearly report in under 300 ms on PostgreSQL. `--explain` prints the plans of the
report's statements (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) with their
times. Besides the wall clock, the report's CPU time (this process's, and the PostgreSQL
backend's when the server runs on this host): on a shared machine the better guide. See
bench/README.md ("reports") for figures.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.model import SHIPPED, HotlineConfig
from config.settings import Settings
from foundation import db
from foundation import reports as r
from foundation.models import (
    Appointment,
    AuditEntry,
    Call,
    CallbackRequest,
    Conversation,
    ConversationMessage,
    Counsellor,
    OutboundCall,
    Reminder,
    Shift,
    ShiftNotice,
    StandIn,
    TeamMembership,
    Voicemail,
)
from foundation.teams import sync_teams, team_by_slug
from hotline import reports as calls
from scheduling.replies import ACTOR as CLIENT_SMS
from scheduling.replies import REPLY_ACTION
from web import report_data

FIRST_YEAR, YEARS = 2021, 5
TEAM = "islamism"
LINES = {"islamism": "islamism", "islamism-relatives": "islamism", "right-wing": "right-wing"}
# Of the calls: accepted, fallback, voicemail, hung up, outside hours (roughly a helpline's).
OUTCOMES = (("accepted", 0.62), ("fallback", 0.08), ("voicemail", 0.10), ("hung_up", 0.12))
CLOSED = 0.08
# Calls come in by day more than by night (weights of the local hours 0..23).
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1]
# The languages callers choose (weights), per line's team: the line's first most often.
LANGUAGES = {
    "islamism": (("de", 0.78), ("tr", 0.12), ("ar", 0.06), ("en", 0.04)),
    "right-wing": (("de", 0.9), ("ru", 0.06), ("en", 0.04)),
}
COUNSELLORS = 6  # per team
BATCH = 20_000  # rows per executemany


def bench_config() -> HotlineConfig:
    """The shipped configuration with a third line (team islamism's second)."""
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    second = dict(data["lines"]["islamism"])
    second |= {"number": "0711-279-4557", "display_name": "Angehörigen-Leitung"}
    data["lines"]["islamism-relatives"] = second
    return HotlineConfig.model_validate(data)


@contextmanager
def database(base_url: str | None, workdir: Path, keep: str | None = None) -> Iterator[db.Database]:
    """A migrated database: a SQLite file in `workdir`, or a scratch schema of `base_url`
    (with `keep`: the schema of that name, created if missing, never dropped)."""
    with ExitStack() as stack:
        url = f"sqlite:///{workdir / 'reports.sqlite3'}"
        if base_url is not None and keep:
            url = db.kept_schema(base_url, keep)
        elif base_url is not None:
            url = stack.enter_context(db.scratch_schema(base_url, "bench_reports_"))
        db.upgrade(url)
        database = db.Database(db.make_engine(url))
        stack.callback(database.dispose)
        yield database


def _bulk(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany on the session's connection (not the ORM's bulk path, which also
    handles the ORM's defaults and events): rows in batches. (On PostgreSQL, psycopg's
    pipelined executemany: twice as fast here as multi-row VALUES pages with RETURNING.)"""
    connection, statement = session.connection(), insert(model.__table__)
    for i in range(0, len(rows), BATCH):
        connection.execute(statement, rows[i : i + BATCH])


class History:
    """Generates the rows (deterministic: one seeded random source)."""

    def __init__(self, config: HotlineConfig, calls: int) -> None:
        self.config, self.calls, self.rng = config, calls, random.Random(17)
        self.spoken = random.Random(19)  # the languages: the rest is the history of before
        self.zone = config.organisation.zone
        self.first = date(FIRST_YEAR, 1, 1)
        self.days = (date(FIRST_YEAR + YEARS, 1, 1) - self.first).days
        self.now = datetime(FIRST_YEAR + YEARS, 1, 1, tzinfo=UTC)

    def instant(self) -> datetime:
        """A random local moment of the five years (weighted by hour), as UTC."""
        day = self.first + timedelta(days=self.rng.randrange(self.days))
        hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone)
        return (moment + timedelta(seconds=self.rng.randrange(3600))).astimezone(UTC)

    def call_rows(self) -> list[dict[str, Any]]:
        rng, rows = self.rng, []
        lines = list(LINES)
        pool = max(50, self.calls // 8)  # distinct callers per line; most call more than once
        outcomes = [name for name, _ in OUTCOMES]
        weights = [share for _, share in OUTCOMES]
        # In the order they came in, as the service writes them (the indexes grow at the end).
        moments = sorted(self.instant() for _ in range(self.calls))
        for i, at in enumerate(moments):
            line = lines[i % 3]
            withheld = rng.random() < 0.15
            caller = None if withheld else f"{i % 3}{int(rng.paretovariate(1.2) * 7) % pool:063d}"
            closed = rng.random() < CLOSED
            outcome = rng.choice(("voicemail", "hung_up")) if closed else None
            outcome = outcome or rng.choices(outcomes, weights)[0]
            in_progress = i % 20_000 == 7
            accepted = outcome == "accepted" and not in_progress
            ring = rng.randint(3, 25) if accepted else (40 if outcome == "fallback" else None)
            talk = int(rng.lognormvariate(6.5, 0.8)) if accepted else None
            spoken = LANGUAGES[LINES[line]]
            language = self.spoken.choices([c for c, _ in spoken], [w for _, w in spoken])[0]
            rows.append(
                {
                    "id": i + 1,
                    "call_sid": f"CA{i:032x}",
                    "line": line,
                    "team_id": None,
                    "state": "in-progress" if in_progress else "completed",
                    "outcome": None if in_progress else outcome,
                    "accepted_by_id": None,
                    "caller_hash": caller,
                    "from_relative": line == "islamism-relatives" or rng.random() < 0.05,
                    "fallback_used": outcome == "fallback",
                    "started_at": at,
                    "answered_at": at + timedelta(seconds=ring) if accepted and ring else None,
                    "ended_at": at + timedelta(seconds=(ring or 30) + (talk or 0)),
                    "ring_seconds": ring,
                    "talk_seconds": talk,
                    "closed_reason": "hours" if closed else None,
                    "language": None if i < self.calls // 10 else language,  # older: unknown
                    "accepted_tier": (
                        ("primary" if rng.random() < 0.8 else "backup") if accepted else None
                    ),
                }
            )
        return rows

    def write(self, database: db.Database) -> dict[str, int]:
        rng, config, now = self.rng, self.config, self.now
        sizes: dict[str, int] = {}
        with database.write() as session:
            sync_teams(session, config)
            teams = {slug: team_by_slug(session, slug, config).id for slug in config.teams}
            counsellors: dict[str, list[int]] = {}
            for n, slug in enumerate(("islamism", "right-wing")):
                people = [
                    {
                        "name": f"Beraterin {slug} {i}",
                        "phone": f"+4915199{n}{i:05d}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(COUNSELLORS)
                ]
                ids = [
                    session.execute(
                        insert(Counsellor).values(**p).returning(Counsellor.id)
                    ).scalar_one()
                    for p in people
                ]
                _bulk(
                    session,
                    TeamMembership,
                    [{"team_id": teams[slug], "counsellor_id": c} for c in ids],
                )
                counsellors[slug] = ids
            calls = self.call_rows()
            _bulk(session, Call, calls)
            sizes["calls"] = len(calls)
            sizes |= self._tasks(session, calls, teams, counsellors)
            sizes |= self._appointments(session, counsellors)
            sizes |= self._relay(session, teams)
            sizes |= self._rota(session, teams, counsellors)
        del rng
        return sizes

    def _tasks(
        self, session: Any, calls: list[dict[str, Any]], teams: dict[str, int], staff: Any
    ) -> dict[str, int]:
        rng, now = self.rng, self.now
        voicemails: list[dict[str, Any]] = []
        for call in calls:
            if call["outcome"] != "voicemail" or call["closed_reason"]:
                continue
            done = rng.random() < 0.95
            at = call["started_at"] + timedelta(seconds=45)
            voicemails.append(
                {
                    "id": len(voicemails) + 1,
                    "call_id": call["id"],
                    "caller_hash": call["caller_hash"],
                    "line": call["line"],
                    "team_id": teams[LINES[call["line"]]],
                    "recording_sid": f"RE{call['id']:032x}",
                    "duration_seconds": rng.randint(5, 180),
                    "status": "done" if done else "new",
                    "created_at": at,
                    "done_at": at + timedelta(minutes=rng.randint(5, 3000)) if done else None,
                }
            )
        _bulk(session, Voicemail, voicemails)
        requests = []
        for i in range(len(calls) // 25):
            line = rng.choice(list(LINES))
            at, done = self.instant(), rng.random() < 0.9
            requests.append(
                {
                    "id": i + 1,
                    "line": line,
                    "team_id": teams[LINES[line]],
                    "phone_enc": b"x",
                    "phone_hash": f"p{rng.randrange(len(calls) // 30 + 5):063d}",
                    "client_hash": f"c{i:063d}",
                    "time_window": "morgens",
                    "confirm_sms": False,
                    "status": "done" if done else "new",
                    "created_at": at,
                    "updated_at": at,
                    "done_at": at + timedelta(minutes=rng.randint(10, 5000)) if done else None,
                }
            )
        _bulk(session, CallbackRequest, requests)
        targets = [("voicemail", v) for v in voicemails[::3]] + [("callback", q) for q in requests]
        backs = []
        for kind, target in targets:
            made = rng.random() < 0.95
            backs.append(
                {
                    "kind": kind,
                    "target_id": target["id"],
                    "line": target["line"],
                    "counsellor_id": rng.choice(staff[LINES[target["line"]]]),
                    "actor": "bench",
                    "status": "completed" if made else "not_placed",
                    "client_status": "completed" if made and rng.random() < 0.7 else None,
                    "created_at": target["created_at"] + timedelta(hours=2),
                    "updated_at": now,
                }
            )
        _bulk(session, OutboundCall, backs)
        return {"voicemails": len(voicemails), "callback_requests": len(requests),
                "call_backs": len(backs)}  # fmt: skip

    def _appointments(self, session: Any, staff: dict[str, list[int]]) -> dict[str, int]:
        """Per counsellor about three appointments a week, at distinct hours (never overlap)."""
        rng, now = self.rng, self.now
        appointments: list[dict[str, Any]] = []
        reminders: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        for ids in staff.values():
            for counsellor in ids:
                for week in range(self.days // 7):
                    for slot in range(3):
                        day = self.first + timedelta(days=7 * week + 2 * slot)
                        start = datetime(day.year, day.month, day.day, 10 + slot, tzinfo=self.zone)
                        start = start.astimezone(UTC)
                        status = rng.choices(
                            ("done", "no_show", "cancelled", "booked"), (0.75, 0.1, 0.12, 0.03)
                        )[0]
                        aid = len(appointments) + 1
                        appointments.append(
                            {
                                "id": aid,
                                "counsellor_id": counsellor,
                                "client_pseudonym": f"Klient {rng.randrange(2000)}",
                                "sms_consent": True,
                                "start_at": start,
                                "end_at": start + timedelta(hours=1),
                                "mode": "phone",
                                "status": status,
                                "sequence": 0,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
                        if status == "cancelled" and rng.random() < 0.5:
                            audits.append(
                                {"at": start, "actor": CLIENT_SMS, "action": REPLY_ACTION,
                                 "entity": "appointment", "entity_id": aid}
                            )  # fmt: skip
                        for recipient, minutes in (("client", 1440), ("counsellor", 60)):
                            state = rng.choices(
                                ("sent", "missed", "failed", "uncertain"), (0.94, 0.03, 0.02, 0.01)
                            )[0]
                            due = start - timedelta(minutes=minutes)
                            reminders.append(
                                {
                                    "appointment_id": aid,
                                    "recipient": recipient,
                                    "offset_minutes": minutes,
                                    "appointment_start": start,
                                    "due_at": due,
                                    "state": state,
                                    "attempts": 1,
                                    "sent_at": due if state == "sent" else None,
                                }
                            )
        _bulk(session, Appointment, appointments)
        _bulk(session, Reminder, reminders)
        _bulk(session, AuditEntry, audits)
        return {"appointments": len(appointments), "reminders": len(reminders)}

    def _relay(self, session: Any, teams: dict[str, int]) -> dict[str, int]:
        rng = self.rng
        conversations, messages = [], []
        for i in range(self.calls // 25):
            line = rng.choice(list(LINES))
            at = self.instant()
            conversations.append(
                {
                    "id": i + 1,
                    "line": line,
                    "team_id": teams[LINES[line]],
                    "code": f"K{i % 1000}",
                    "channel": rng.choice(("sms", "whatsapp")),
                    "client_hash": f"k{rng.randrange(self.calls // 40 + 5):063d}",
                    "state": "closed",
                    "created_at": at,
                    "last_activity_at": at + timedelta(hours=1),
                    "closed_at": at + timedelta(days=2),
                }
            )
            moment = at
            for n in range(rng.randint(1, 8)):
                direction = "in" if n % 2 == 0 else "out"
                messages.append(
                    {
                        "conversation_id": i + 1,
                        "direction": direction,
                        "body_enc": None,
                        "status": "delivered",
                        "created_at": moment,
                    }
                )
                moment += timedelta(seconds=rng.randint(30, 7200))
        _bulk(session, Conversation, conversations)
        _bulk(session, ConversationMessage, messages)
        return {"conversations": len(conversations), "messages": len(messages)}

    def _rota(
        self, session: Any, teams: dict[str, int], staff: dict[str, list[int]]
    ) -> dict[str, int]:
        """A daily 24-hour shift per tier from 09:00 local; every 50th day without a primary
        (a gap); every 10th covered by a stand-in for its first 8 hours; two notices a shift."""
        rng, now = self.rng, self.now
        shifts, stand_ins, notices = [], [], []
        for slug, ids in staff.items():
            for d in range(self.days):
                day = self.first + timedelta(days=d)
                start = datetime(day.year, day.month, day.day, 9, tzinfo=self.zone)
                start = start.astimezone(UTC)
                end = (start.astimezone(self.zone) + timedelta(days=1)).astimezone(UTC)
                for tier, who in (("primary", ids[d % len(ids)]), ("backup", ids[d % 5])):
                    if tier == "primary" and d % 50 == 0:
                        continue
                    shifts.append(
                        {"team_id": teams[slug], "counsellor_id": who, "tier": tier,
                         "start_at": start, "end_at": end, "created_at": now, "updated_at": now}
                    )  # fmt: skip
                    for kind, before in (("upcoming", 15), ("handoff", 1)):
                        due = start - timedelta(hours=before)
                        notices.append(
                            {"dedupe_key": f"{kind}:{slug}:{tier}:{d}", "counsellor_id": who,
                             "team_id": teams[slug], "kind": kind, "channel": "sms",
                             "due_at": due, "payload": {}, "state": "sent", "attempts": 1,
                             "sent_at": due, "created_at": due}
                        )  # fmt: skip
                if d % 10 == 3:
                    absent = ids[d % len(ids)]
                    stand_ins.append(
                        {"team_id": teams[slug], "absent_id": absent,
                         "substitute_id": ids[(d + 1) % len(ids)], "start_at": start,
                         "end_at": start + timedelta(hours=8), "created_at": now}
                    )  # fmt: skip
        _bulk(session, Shift, shifts)
        _bulk(session, StandIn, stand_ins)
        _bulk(session, ShiftNotice, notices)
        del rng
        return {"shifts": len(shifts), "stand_ins": len(stand_ins), "notices": len(notices)}


def nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def timed(runs: int, work: Callable[[], Any]) -> tuple[float, float]:
    """Median and p95 in ms of `runs` calls after one warm-up."""
    work()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), nearest_rank(samples, 0.95)


def _ticks(pid: int) -> float | None:
    """CPU seconds (user + system) of a local process so far, None if not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_timed(
    runs: int, data: db.Database, work: Callable[[Session], Any]
) -> tuple[float, float | None]:
    """Median CPU ms of `runs` reports after one warm-up: this process's, and the database
    server's backend's (PostgreSQL on this host: /proc; None elsewhere). On a shared machine
    these are the better guide: waiting for a core is not in them."""
    postgres = data.engine.dialect.name == "postgresql"
    ours, theirs = [], []
    for i in range(runs + 1):
        with data.read() as session:
            pid = session.scalar(text("SELECT pg_backend_pid()")) if postgres else None
            server = _ticks(pid) if pid else None
            began = time.process_time()
            work(session)
            spent = time.process_time() - began
            after = _ticks(pid) if pid else None
        if i:
            ours.append(spent * 1000)
            if server is not None and after is not None:
                theirs.append((after - server) * 1000)
    return statistics.median(ours), statistics.median(theirs) if theirs else None


@contextmanager
def statements(database: db.Database) -> Iterator[list[tuple[str, Any, float]]]:
    """Records the report's statements (SQL, parameters, ms)."""
    found: list[tuple[str, Any, float]] = []

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        conn.info["bench_began"] = time.perf_counter()

    def after(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        found.append((sql, params, (time.perf_counter() - conn.info["bench_began"]) * 1000))

    event.listen(database.engine, "before_cursor_execute", before)
    event.listen(database.engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(database.engine, "before_cursor_execute", before)
        event.remove(database.engine, "after_cursor_execute", after)


def explain(database: db.Database, config: HotlineConfig, period: r.Period) -> None:
    """The report's slowest statements with their plans."""
    with statements(database) as found, database.read() as session:
        report_data.build(session, config, TEAM, period)
    postgres = database.engine.dialect.name == "postgresql"
    print(f"  {len(found)} statements, {sum(ms for *_, ms in found):.1f} ms in the database")
    for sql, params, ms in sorted(found, key=lambda f: -f[2])[:6]:
        print(f"\n  --- {ms:.1f} ms: {' '.join(sql.split())[:160]}")
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        with database.read() as session:
            calls.tune(session)  # as the report runs them
            plan = session.connection().exec_driver_sql(prefix + sql, params).all()
        for row in plan:
            print("     ", row[-1] if not postgres else row[0])


def run(
    base_url: str | None, calls: int, runs: int, show_plans: bool, keep: str | None = None
) -> dict[str, Any]:
    config = bench_config()
    with tempfile.TemporaryDirectory() as tmp, database(base_url, Path(tmp), keep) as data:
        backend = "PostgreSQL" if base_url else "SQLite"
        began = time.perf_counter()
        with data.read() as session:
            have = int(session.scalar(select(func.count()).select_from(Call)) or 0)
        sizes = History(config, calls).write(data) if not have else {"calls (kept)": have}
        if base_url and not have:
            # As autovacuum would (it vacuums tables that only grow, too): the visibility map
            # lets the reports' covering index answer without the table.
            with data.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        built = time.perf_counter() - began
        print(f"{backend}: built in {built:.1f} s: " + ", ".join(f"{n:,} {k}" for k, n in
              sizes.items()), flush=True)  # fmt: skip
        Settings(config=config, database_url=str(data.engine.url))  # the configuration is valid
        period = r.of_kind("year", date(FIRST_YEAR + YEARS - 1, 6, 1), config.organisation.timezone)
        team_lines = [slug for slug, line in config.lines.items() if line.team == TEAM]

        def report() -> r.Report:
            with data.read() as session:
                return report_data.build(session, config, TEAM, period)

        def count() -> int:
            with data.read() as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(Call)
                        .where(
                            Call.line.in_(team_lines),
                            Call.started_at >= period.start,
                            Call.started_at < period.end,
                        )
                    )
                    or 0
                )

        rows = count()
        shown = report()
        total = sum(line.calls.total.now.value or 0 for line in shown.lines)
        print(f"  {period.first}..{period.last}: {rows:,} calls of the team's lines "
              f"({total:,} ended, in the report)")  # fmt: skip
        report_ms = timed(runs, report)
        count_ms = timed(runs, count)
        print(f"  report {report_ms[0]:.1f} / {report_ms[1]:.1f} ms (median / p95), "
              f"count {count_ms[0]:.2f} / {count_ms[1]:.2f} ms, "
              f"ratio {report_ms[0] / count_ms[0]:.1f}", flush=True)  # fmt: skip
        ours, server = cpu_timed(
            runs, data, lambda session: report_data.build(session, config, TEAM, period)
        )
        print(f"  report CPU {ours:.0f} ms here (median)"
              + (f", {server:.0f} ms in the database's backend" if server is not None else ""),
              flush=True)  # fmt: skip
        if show_plans:
            explain(data, config, period)
        return {"backend": backend, "built": built, "rows": rows, "report": report_ms,
                "count": count_ms, "cpu": (ours, server)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500_000, help="calls in all (500,000)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (15)")
    parser.add_argument("--database-url", help="PostgreSQL (a scratch schema); default SQLite")
    parser.add_argument(
        "--explain", action="store_true", help="print the slowest statements' plans"
    )
    parser.add_argument(
        "--keep",
        metavar="SCHEMA",
        help="PostgreSQL: build into this schema once and keep it (later runs reuse its data)",
    )
    args = parser.parse_args()
    if args.keep and not args.database_url:
        parser.error("--keep needs --database-url")
    run(args.database_url, args.calls, args.runs, args.explain, args.keep)


if __name__ == "__main__":
    main()
