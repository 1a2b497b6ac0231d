"""The schema, the migrations, the engine settings and the on-call query, on every database."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import delete, inspect, select, text
from sqlalchemy.exc import StatementError

from config.model import HotlineConfig
from foundation.db import (
    Database,
    SchemaTooNew,
    alembic_config,
    checkpoint,
    make_engine,
    upgrade,
)
from foundation.errors import Conflict
from foundation.models import Base, Counsellor, Shift, Tier
from scheduling import shifts
from scheduling.shifts import NewShift, create_shift
from tests.conftest import add_counsellor, berlin, utc


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
            assert context.get_current_revision() == head
    finally:
        engine.dispose()
    # Upgrading an up-to-date database is a no-op.
    upgrade(db_url)


def test_migration_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_sqlite_runs_in_wal_mode_with_busy_timeout(database: Database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_instants_come_back_as_utc_across_dst(database: Database, config: HotlineConfig) -> None:
    autumn = berlin(2026, 10, 25, 2, 30)  # the first 02:30 (summer time) of the fall-back night
    # The second 02:30 (winter time), one real hour later. (Adding an hour to `autumn` itself
    # would be wall-clock arithmetic in Python and give 03:30, two real hours later.)
    second = berlin(2026, 10, 25, 2, 30).replace(fold=1)
    with database.write() as session:
        person = add_counsellor(session, config, "islamism")
        create_shift(
            session,
            config,
            NewShift("islamism", person.id, Tier.PRIMARY, autumn, second),
            actor="tests",
        )
    with database.read() as session:
        row = session.scalars(select(Shift)).one()
    assert row.start_at.tzinfo is UTC
    assert row.start_at == utc(2026, 10, 25, 0, 30)
    assert row.end_at == utc(2026, 10, 25, 1, 30)


def test_naive_datetimes_are_refused_by_the_column_type(
    database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism")
        team_id = person.teams[0].id
    with pytest.raises(StatementError, match="naive"), database.write() as session:
        session.add(
            Shift(
                team_id=team_id,
                counsellor_id=person.id,
                tier=Tier.PRIMARY,
                start_at=datetime(2026, 12, 1, 9),  # noqa: DTZ001 - the point of the test
                end_at=datetime(2026, 12, 2, 9),  # noqa: DTZ001
            )
        )


def test_on_call_query_uses_the_team_start_index(database: Database) -> None:
    """The covering-shift query is a bounded range scan of ix_shifts_team_id_start_at."""
    dialect = database.engine.dialect.name
    at = utc(2026, 12, 1, 12)
    query = (
        select(Shift.counsellor_id)
        .where(
            Shift.team_id == 1,
            Shift.start_at < at,
            Shift.start_at > at - shifts.MAX_SHIFT,
            Shift.end_at > at,
        )
        .compile(database.engine, compile_kwargs={"literal_binds": True})
    )
    with database.engine.connect() as connection:
        if dialect == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
            )
            assert "ix_shifts_team_id_start_at" in plan, plan
            assert "start_at>? AND start_at<?" in plan.replace("(", " ").replace(")", " "), plan
        else:
            # An empty table makes a sequential scan cheapest; ask whether the index *can* serve.
            connection.execute(text("SET enable_seqscan = off"))
            plan = " ".join(row[0] for row in connection.execute(text(f"EXPLAIN {query}")))
            assert "ix_shifts_team_id_start_at" in plan, plan
            assert "start_at >" in plan, plan
            assert "start_at <" in plan, plan


def test_indexes_exist(database: Database) -> None:
    names = {index["name"] for index in inspect(database.engine).get_indexes("shifts")}
    assert {"ix_shifts_team_id_start_at", "ix_shifts_counsellor_id_start_at"} <= names


def test_concurrent_overlapping_shifts_admit_exactly_one(
    database: Database, config: HotlineConfig
) -> None:
    """Two requests booking the same counsellor at the same time: one wins, one gets a
    Conflict, never two rows (the counsellor row lock serialises them)."""
    with database.write() as session:
        person_id = add_counsellor(session, config, "islamism").id
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(offset_hours: int) -> None:
        barrier.wait()
        start = berlin(2026, 12, 1, 9) + timedelta(hours=offset_hours)
        try:
            with database.write() as session:
                create_shift(
                    session,
                    config,
                    NewShift("islamism", person_id, Tier.PRIMARY, start, start + timedelta(days=1)),
                    actor="tests",
                )
            result = "ok"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=book, args=(hour,)) for hour in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    with database.read() as session:
        assert len(session.scalars(select(Shift)).all()) == 1


def test_engine_for_postgres_pings_before_use() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    engine.dispose()


def _head(db_url: str) -> tuple[str, ...]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_ten_processes_migrating_at_once_end_with_one_schema(db_url: str) -> None:
    """Ten processes start together on an empty database: the advisory lock lets one migrate,
    the others find the schema up to date; all succeed."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    code = "import sys; from foundation.db import upgrade; upgrade(sys.argv[1])"
    started = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(10)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in started]
    assert [p.returncode for p in started] == [0] * 10, outputs
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert _head(db_url) == (head,)


def test_a_schema_newer_than_the_code_is_refused_with_a_clear_message(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaTooNew, match=r"revision 9999, newer than this code"):
        upgrade(db_url)
    assert _head(db_url) == ("9999",)  # nothing was changed
    for name in ("HOTLINE_CONFIG", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    from app.cli import main

    assert main(["db", "upgrade"]) == 2
    assert "refusing to start: the database schema is at revision 9999" in capsys.readouterr().err


def test_sqlite_overwrites_what_is_deleted(database: Database, db_url: str) -> None:
    """`secure_delete`: a deleted text is in neither the database file nor its write-ahead log
    once the log is checkpointed (the retention job does that after deleting)."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    secret = "Geheimnis-" + "x" * 40  # longer than any page header noise
    with database.write() as session:
        person = Counsellor(name=secret, phone="+491701234567")
        session.add(person)
        session.flush()
        person_id = person.id
    checkpoint(database.engine)
    path = Path(db_url.removeprefix("sqlite:///"))
    assert secret.encode() in path.read_bytes()  # it was there
    with database.write() as session:
        session.execute(delete(Counsellor).where(Counsellor.id == person_id))
    checkpoint(database.engine)
    for name in (path, path.with_name(path.name + "-wal")):
        if name.exists():
            assert secret.encode() not in name.read_bytes(), name.name
