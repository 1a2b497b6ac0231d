"""Benchmark: "who is on call at t" stays flat however many years of shifts the table holds.

    python bench/oncall.py [--years N] [--queries Q] [--database-url URL]

Builds a 1-year and an N-year database (temporary SQLite files, or fresh schemas in the
PostgreSQL database of --database-url, dropped at the end) with daily 24-hour shifts, primary
and backup, for every configured team; prints the query plans; then times three ways at the
same random instants:

* ours:      `scheduling.shifts.on_call`, as the service runs it (team, shifts starting in
             (t - MAX_SHIFT, t + MAX_SHIFT), stand-ins, people, next change);
* unbounded: the same `on_call`, with the lower bound on start_at cut out of its shift query;
* naive:     the baseline, `team_id = ? AND start_at <= t AND end_at > t` (no lower bound, so
             only the team_id prefix of the index narrows it: every earlier shift of the team is
             read), then `scheduling.rota.on_call` over the rows.

See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import functools
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import Select, event, insert, select, text
from sqlalchemy.orm import Session

from config.model import HotlineConfig, load_config
from foundation.db import Database, make_engine, scratch_schema
from foundation.models import Base, Counsellor, Shift, Team, Tier
from foundation.teams import sync_teams
from scheduling import rota, shifts
from scheduling.rota import ShiftSpan

INDEX = "ix_shifts_team_id_start_at"
EPOCH = datetime(2020, 1, 1, 8, 0, tzinfo=UTC)  # first handoff; shifts run 08:00 to 08:00 UTC
COUNSELLORS_PER_TEAM = 4
WARMUP = 50

Query = Callable[[Session, str, datetime], object]


# --- building the database -------------------------------------------------------------------


@contextmanager
def database(base_url: str | None, workdir: Path, name: str) -> Iterator[Database]:
    """An empty database: a SQLite file in workdir, or a new schema of the PostgreSQL database."""
    if base_url is None:
        db = Database(make_engine(f"sqlite:///{workdir / name}.sqlite3"))
        try:
            yield db
        finally:
            db.dispose()
        return
    with scratch_schema(base_url, f"bench_{name}_") as url:
        db = Database(make_engine(url))
        try:
            yield db
        finally:
            db.dispose()


def populate(db: Database, config: HotlineConfig, years: int) -> tuple[datetime, datetime, int]:
    """Teams, counsellors and `years` of daily shifts per team; returns the covered range and
    the number of shift rows."""
    Base.metadata.create_all(db.engine)
    with db.write() as session:
        sync_teams(session, config)
    days = round(years * 365.25)
    rows: list[dict[str, Any]] = []
    with db.write() as session:
        for team in session.scalars(select(Team).order_by(Team.id)):
            members = [
                Counsellor(
                    name=f"{team.slug} {i}", phone=f"+4930{team.id:03d}{i:04d}", teams=[team]
                )
                for i in range(COUNSELLORS_PER_TEAM)
            ]
            session.add_all(members)
            session.flush()
            ids = [c.id for c in members]
            for day in range(days):
                start = EPOCH + timedelta(days=day)
                for tier, offset in ((Tier.PRIMARY, 0), (Tier.BACKUP, 1)):
                    rows.append(
                        {
                            "team_id": team.id,
                            "counsellor_id": ids[(day + offset) % len(ids)],
                            "tier": tier,
                            "start_at": start,
                            "end_at": start + timedelta(days=1),
                            "created_at": EPOCH,
                            "updated_at": EPOCH,
                        }
                    )
        session.execute(insert(Shift), rows)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:  # table statistics, as autovacuum would gather
            connection.execute(text("ANALYZE"))
    return EPOCH, EPOCH + timedelta(days=days), len(rows)


# --- three ways to answer ------------------------------------------------------------------


def ours(config: HotlineConfig) -> Query:
    def query(session: Session, slug: str, at: datetime) -> object:
        return shifts.on_call(session, config, slug, at)

    return query


def unbounded(config: HotlineConfig, db: Database) -> Query:
    """The real `shifts.on_call`, with the lower bound on start_at cut out of the shift query
    it sends and nothing else changed: the same work, so the difference is what the bound
    saves. The cut is made at the cursor: while this way asks, `shifts.start_at > :bound` is
    sent as `(shifts.start_at > :bound OR 1 = 1)` (no bound a planner can use, the parameters
    as they were), by a cached string replacement that costs next to nothing."""
    cutting = False

    def rewrite(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> tuple[str, Any]:
        return (_without_lower_bound(sql) if cutting else sql), parameters

    event.listen(db.engine, "before_cursor_execute", rewrite, retval=True)

    def query(session: Session, slug: str, at: datetime) -> object:
        nonlocal cutting
        cutting = True
        try:
            return shifts.on_call(session, config, slug, at)
        finally:
            cutting = False

    return query


# SQLite's placeholder, or psycopg's with the cast SQLAlchemy adds.
LOWER_BOUND = re.compile(r"shifts\.start_at > (\?|%\(\w+\)s(?:::TIMESTAMP WITH TIME ZONE)?)")


@functools.lru_cache(maxsize=64)
def _without_lower_bound(sql: str) -> str:
    return LOWER_BOUND.sub(r"(shifts.start_at > \1 OR 1 = 1)", sql)


def naive_statement(team_id: int, at: datetime) -> Select[int, Tier, datetime, datetime]:
    return select(Shift.counsellor_id, Shift.tier, Shift.start_at, Shift.end_at).where(
        Shift.team_id == team_id, Shift.start_at <= at, Shift.end_at > at
    )


def naive(team_ids: dict[str, int]) -> Query:
    """Only the covering rows, by team_id = ? AND start_at <= t AND end_at > t, then the pure
    rota: less work than on_call (no team row, stand-ins, names or next change), but a scan
    over every earlier shift of the team."""

    def query(session: Session, slug: str, at: datetime) -> object:
        rows = session.execute(naive_statement(team_ids[slug], at))
        return rota.on_call([ShiftSpan(c, t, s, e) for c, t, s, e in rows], [], at)

    return query


# --- measuring -------------------------------------------------------------------------------


def instants(start: datetime, end: datetime, count: int, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    return [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count)]


def measure(
    db: Database, queries: dict[str, Query], slugs: list[str], moments: list[datetime]
) -> dict[str, list[float]]:
    """Latency in ms of each way at each instant (random team). The ways take turns instant by
    instant, in a rotating order, so drift and caching hit all alike; each keeps one read
    session, as a request does for its few queries."""
    rng = random.Random(1)
    teams = [rng.choice(slugs) for _ in moments]
    names = list(queries)
    timings: dict[str, list[float]] = {name: [] for name in names}
    with ExitStack() as stack:
        sessions = {name: stack.enter_context(db.read()) for name in names}
        for name in names:  # compile and cache the statements, warm the pages
            for slug, at in zip(teams[:WARMUP], moments[:WARMUP], strict=False):
                queries[name](sessions[name], slug, at)
        for i, (slug, at) in enumerate(zip(teams, moments, strict=True)):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                began = time.perf_counter()
                queries[name](sessions[name], slug, at)
                timings[name].append((time.perf_counter() - began) * 1000)
    return timings


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and 99th percentile (nearest rank)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def check_answers(db: Database, queries: dict[str, Query], slugs: list[str], end: datetime) -> None:
    """All ways give the same people in the same order: they answer the same question."""
    with db.read() as session:
        for slug in slugs:
            for at in instants(end - timedelta(days=60), end, 10, seed=7):
                answers = {name: query(session, slug, at) for name, query in queries.items()}
                got = {name: _ids(answer) for name, answer in answers.items()}
                assert len(set(got.values())) == 1, (slug, at, got)


def _ids(answer: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(answer, shifts.OnCallNow):
        return tuple(c.id for c in answer.primary), tuple(c.id for c in answer.backup)
    assert isinstance(answer, rota.OnCall)
    return answer.primary, answer.backup


# --- query plans -----------------------------------------------------------------------------


@contextmanager
def capture(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with parameters) sent to the database meanwhile."""
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def shift_query(db: Database, query: Query, at: datetime) -> tuple[str, Any]:
    """The SQL (and parameters) by which `query` reads the shifts table."""
    with capture(db) as seen, db.read() as session:
        query(session, "islamism", at)
    [found] = [(sql, params) for sql, params in seen if "FROM shifts" in sql]
    return found


def explain(db: Database, sql: str, parameters: Any) -> list[str]:
    """SQLite: EXPLAIN QUERY PLAN. PostgreSQL: EXPLAIN, run (ANALYZE) to show rows and pages."""
    sqlite = db.engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) "
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + sql, parameters).all()
    return [str(row[-1] if sqlite else row[0]) for row in rows]


def generic_plan(db: Database, sql: str, parameters: dict[str, Any]) -> list[str]:
    """PostgreSQL: the plan of the statement prepared with $n parameters, as psycopg prepares a
    statement after a few runs and PostgreSQL may then reuse one plan for every instant."""
    names = list(parameters)
    prepared = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", sql)
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = psycopg.ClientCursor(cast("psycopg.Connection[Any]", raw))
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE bench_generic AS {prepared}")
        values = ", ".join(["%s"] * len(names))
        cursor.execute(f"EXPLAIN EXECUTE bench_generic({values})", [parameters[n] for n in names])
        plan = [str(row[0]) for row in cursor.fetchall()]
        cursor.execute("DEALLOCATE bench_generic")
        connection.rollback()
    return plan


def bounded_scan(plan: list[str]) -> bool:
    """The plan range-scans INDEX with both a lower and an upper bound on start_at."""
    squeezed = [line.replace(" ", "") for line in plan]
    return any(INDEX in line for line in plan) and any(
        ("INDEX" in line or "IndexCond" in line) and "start_at>" in line and "start_at<" in line
        for line in squeezed
    )


def print_plans(db: Database, queries: dict[str, Query], at: datetime) -> bool:
    """Print how each way reads the shifts table at `at`; True if ours range-scans INDEX."""
    bounded = True
    for name, query in queries.items():
        sql, parameters = shift_query(db, query, at)
        plan = explain(db, sql, parameters)
        print(f"  plan of {name}:")
        print("\n".join(f"    {line}" for line in plan))
        if name == "ours":
            bounded = bounded_scan(plan)
            if db.engine.dialect.name == "postgresql":
                plan = generic_plan(db, sql, parameters)
                print("  generic plan of ours (prepared, any instant):")
                print("\n".join(f"    {line}" for line in plan))
                bounded = bounded and bounded_scan(plan)
    return bounded


# --- main ------------------------------------------------------------------------------------


def run(db: Database, config: HotlineConfig, years: int, count: int) -> dict[str, list[float]]:
    began = time.perf_counter()
    start, end, rows = populate(db, config, years)
    print(
        f"\n{db.engine.dialect.name}, {years} year(s): {rows} shifts "
        f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}, built in {time.perf_counter() - began:.1f} s"
    )
    with db.read() as session:
        team_ids = dict(session.execute(select(Team.slug, Team.id)).all())
    queries = {"ours": ours(config), "unbounded": unbounded(config, db), "naive": naive(team_ids)}
    check_answers(db, queries, list(team_ids), end)
    late = end - timedelta(days=10)  # late in the range: the most for a scan to skip
    print(f"  shift queries at {late:%Y-%m-%d %H:%M}Z:")
    if not print_plans(db, queries, late):
        print(f"  WARNING: our query does not range-scan {INDEX} on start_at")
    began = time.perf_counter()
    timings = measure(db, queries, list(team_ids), instants(start, end, count, seed=years))
    print(f"  timed {count} instants x {len(queries)} ways in {time.perf_counter() - began:.1f} s")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--years", type=int, default=5, help="years of shifts (default 5)")
    parser.add_argument("--queries", type=int, default=2000, help="timed instants (default 2000)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL; fresh schemas are made in it and dropped (default: SQLite file)",
    )
    args = parser.parse_args(argv)
    if args.years < 1 or args.queries < 1:
        parser.error("--years and --queries must be at least 1")
    config = load_config(None)
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for years in sorted({1, args.years}):
            with database(args.database_url, Path(workdir), f"y{years}") as db:
                results[years] = run(db, config, years, args.queries)
    print("\nlatency per on-call question, ms: median / p99")
    print(f"{'years':>5}  {'ours':>15}  {'unbounded':>15}  {'naive':>15}  ratio to ours (median)")
    for years, timings in results.items():
        medians = {name: summary(samples)[0] for name, samples in timings.items()}
        cells = "  ".join(
            f"{median:6.3f} / {summary(timings[name])[1]:6.3f}" for name, median in medians.items()
        )
        ratios = ", ".join(
            f"{name} {medians[name] / medians['ours']:.2f}" for name in medians if name != "ours"
        )
        print(f"{years:>5}  {cells}  {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
