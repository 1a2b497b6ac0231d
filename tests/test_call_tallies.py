"""The calls' tallies the database keeps for the reports (`foundation.call_tallies`, issue 17):
triggers keep them equal to tallying the calls afresh through every change (insert, the call's
progress, an erasure's new hash, a bulk update, deletion); days and hours are local across the
DST changes; a report from them equals a report from the detail; the retention leaves nothing
of a deleted call in them; the migration tallies the calls already there; another zone
rebuilds them."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, text, update

from config.model import SHIPPED, HotlineConfig
from foundation import call_tallies
from foundation import reports as r
from foundation.db import Database, make_engine, upgrade
from foundation.models import Call, CallTally, CallTallySecond
from hotline import reports as h
from tests.test_report_exact import OCTOBER, random_calls

BERLIN = ZoneInfo("Europe/Berlin")


def kept(session: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    tallies = sorted(tuple(row) for row in session.execute(select(CallTally.__table__)))
    seconds = sorted(tuple(row) for row in session.execute(select(CallTallySecond.__table__)))
    return tallies, seconds


def afresh(session: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The tallies of the calls as they are, counted again (in the transaction, rolled back)."""
    nested = session.begin_nested()
    call_tallies.rebuild(session.connection())
    found = kept(session)
    nested.rollback()
    return found


def test_triggers_keep_the_tallies_equal_to_counting_the_calls_again(database: Database) -> None:
    calls = random_calls(7, 400)
    with database.write() as session:
        session.add_all(calls[:200])
    with database.write() as session:  # one at a time, as calls come in
        for call in calls[200:]:
            session.add(call)
            session.flush()
    with database.write() as session:
        assert kept(session)[0], "the inserts were tallied"
        assert kept(session) == afresh(session)
        # The progress of calls, as the webhooks write it; a change the tallies do not depend on
        session.execute(
            update(Call).where(Call.id % 4 == 0).values(outcome="accepted", talk_seconds=61)
        )
        session.execute(update(Call).where(Call.id % 5 == 0).values(state="completed"))
        session.execute(  # an erasure: the caller's hash replaced
            update(Call).where(Call.caller_hash == "c1").values(caller_hash="erased")
        )
        session.execute(update(Call).where(Call.id % 6 == 0).values(closed_reason="holiday"))
        session.execute(update(Call).where(Call.id % 7 == 0).values(language=None))
        session.execute(delete(Call).where(Call.id % 9 == 0))
    with database.read() as session:
        tallies, seconds = kept(session)
        assert (tallies, seconds) == afresh(session)
        assert all(row[4] > 0 for row in tallies), "no emptied rows are left"
        assert all(row[-1] > 0 for row in seconds)
        assert "c1" not in {row[2] for row in tallies}
        total = session.scalar(select(text("sum(n_calls)")).select_from(CallTally))
        assert total == session.scalar(select(text("count(*)")).select_from(Call))


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        (datetime(2026, 3, 29, 0, 59, 59, 900_000, tzinfo=UTC), (date(2026, 3, 29), 1)),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), (date(2026, 3, 29), 3)),  # spring forward
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), (date(2026, 10, 25), 2)),  # 02:30 CEST
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), (date(2026, 10, 25), 2)),  # 02:30 CET
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), (date(2026, 10, 25), 23)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), (date(2026, 10, 26), 0)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), (date(2027, 1, 1), 0)),
    ],
)
def test_days_and_hours_are_the_local_wall_clock(
    database: Database, utc: datetime, local: tuple[date, int]
) -> None:
    assert (utc.astimezone(BERLIN).date(), utc.astimezone(BERLIN).hour) == local
    with database.write() as session:
        session.add(Call(call_sid="CA1", line="islamism", outcome="hung_up", started_at=utc))
    with database.read() as session:
        (row,) = session.execute(select(CallTally.__table__)).mappings()
    day, hour = local
    assert row["day"] == (day - date(1970, 1, 1)).days
    assert [row[name] for name in call_tallies.HOURS] == [int(h == hour) for h in range(24)]
    assert (row["n_calls"], row["n_counted"], row["n_hung_up"]) == (1, 1, 1)


def _figures(database: Database, config: HotlineConfig, period: r.Period) -> Any:
    with database.read() as session:
        return h.line_figures(session, config, "islamism", period, 5)


@pytest.mark.parametrize("period", [OCTOBER, r.between(date(2026, 9, 20), date(2026, 10, 28))])
def test_a_report_from_the_tallies_equals_one_from_the_calls(
    database: Database, config: HotlineConfig, period: r.Period
) -> None:
    rng = random.Random(3)
    calls = [*random_calls(11, 500), *random_calls(12, 300)]
    for call in calls:  # more callers above k, so that fewer cells are hidden
        if call.caller_hash is not None:
            call.caller_hash = f"{call.caller_hash}-{rng.randrange(40)}"
    with database.write() as session:
        session.add_all(calls)
    with database.write() as session:
        session.execute(update(Call).where(Call.id % 3 == 0).values(outcome="fallback"))
    tallied = _figures(database, config, period)
    with database.write() as session:  # tallies of another zone: the report reads the calls
        assert call_tallies.keep_zone(session.connection(), "UTC")
    detail = _figures(database, config, period)
    with database.write() as session:
        assert call_tallies.keep_zone(session.connection(), "Europe/Berlin")
        assert not call_tallies.keep_zone(session.connection(), "Europe/Berlin")
    assert detail == tallied
    assert _figures(database, config, period) == tallied
    assert tallied[0][0].calls.total.now.value


def test_the_retention_leaves_nothing_of_a_deleted_call_in_the_tallies(
    database: Database, config: HotlineConfig
) -> None:
    old = datetime(2026, 1, 10, 12, tzinfo=UTC)
    with database.write() as session:
        session.add_all(
            Call(
                call_sid=f"CA{i}",
                line="islamism",
                outcome="accepted",
                caller_hash=f"gone{i}",
                started_at=old + timedelta(hours=i),
                ring_seconds=5,
                talk_seconds=100 + i,
            )
            for i in range(5)
        )
        session.add(
            Call(call_sid="CA9", line="islamism", outcome="accepted", caller_hash="kept",
                 started_at=datetime(2026, 6, 1, 12, tzinfo=UTC), talk_seconds=7)
        )  # fmt: skip
    with database.write() as session:
        assert h.roll_up(session, config, date(2026, 3, 1)) == 5
    with database.read() as session:
        tallies, seconds = kept(session)
    assert [row[2] for row in tallies] == ["kept"]
    assert [(row[2], row[3]) for row in seconds] == [(call_tallies.TALK, 7)]


def test_the_migration_tallies_the_calls_already_there(db_url: str) -> None:
    upgrade(db_url, "0030")
    engine = make_engine(db_url)
    start = datetime(2026, 10, 24, 20, tzinfo=UTC)
    rows = [
        {
            "sid": f"CA{i}",
            "line": "islamism" if i % 3 else "right-wing",
            "outcome": ("accepted", "voicemail", None)[i % 3],
            "hash": f"h{i % 7}" if i % 5 else None,
            "at": (start + timedelta(minutes=37 * i)).replace(tzinfo=None),
            "talk": 30 + i if i % 3 == 0 else None,
        }
        for i in range(60)
    ]
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO calls (call_sid, line, state, outcome, caller_hash,"
                    " from_relative, fallback_used, started_at, talk_seconds)"
                    " VALUES (:sid, :line, 'completed', :outcome, :hash, :no, :no, :at, :talk)"
                ),
                [row | {"no": False} for row in rows],
            )
        upgrade(db_url)
        with engine.connect() as connection:
            tallies = connection.execute(select(CallTally.__table__)).mappings().all()
            seconds = connection.execute(select(CallTallySecond.__table__)).mappings().all()
    finally:
        engine.dispose()
    assert sum(row["n_calls"] for row in tallies) == 60
    assert sum(row["n_counted"] for row in tallies) == 40
    assert sum(row["n_accepted"] for row in tallies) == 20
    by_day = Counter[date]()
    for row in rows:
        by_day[row["at"].replace(tzinfo=UTC).astimezone(BERLIN).date()] += 1
    found = Counter[date]()
    for row in tallies:
        found[date(1970, 1, 1) + timedelta(days=row["day"])] += row["n_calls"]
    assert found == by_day
    assert sorted(row["seconds"] for row in seconds if row["kind"] == call_tallies.TALK) == [
        30 + i for i in range(0, 60, 3)
    ]


def test_hotline_db_upgrade_tallies_again_for_another_zone(
    tmp_path: Path, env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    assert main(["db", "upgrade"]) == 0
    assert "tallies" not in capsys.readouterr().out  # Europe/Berlin: as they were
    engine = make_engine(env)
    try:
        with (
            engine.begin() as connection
        ):  # 23:30 UTC in winter: the 15th in London, the 16th in Berlin
            connection.execute(
                insert(Call).values(
                    call_sid="CA1",
                    line="islamism",
                    outcome="hung_up",
                    started_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC),
                )
            )
        shipped = SHIPPED.read_text(encoding="utf-8")
        path = tmp_path / "hotline.toml"
        path.write_text(shipped.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/London"'))
        monkeypatch.setenv("HOTLINE_CONFIG", str(path))
        assert main(["db", "upgrade"]) == 0
        assert "tallies are now kept in Europe/London" in capsys.readouterr().out
        assert main(["db", "upgrade"]) == 0
        assert "tallies" not in capsys.readouterr().out
        with engine.connect() as connection:
            (day,) = connection.execute(select(CallTally.day)).scalars()
            assert call_tallies.zone_of(connection) == "Europe/London"
    finally:
        engine.dispose()
    assert date(1970, 1, 1) + timedelta(days=day) == date(2026, 1, 15)
