"""Teams by slug: configured teams only, looked up once per session."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, select

from config.model import HotlineConfig
from foundation.db import Database, make_engine, upgrade
from foundation.errors import NotFound
from foundation.models import Team
from foundation.teams import sync_teams, team_by_slug


def _selects(database: Database) -> tuple[list[str], Any]:
    found: list[str] = []

    def record(_c: Any, _cu: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "teams" in statement:
            found.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    return found, record


def test_a_team_is_read_once_per_session(database: Database, config: HotlineConfig) -> None:
    found, record = _selects(database)
    try:
        with database.read() as session:
            first = team_by_slug(session, "islamism", config)
            again = team_by_slug(session, "islamism", config)
            other = team_by_slug(session, "right-wing", config)
        assert again is first
        assert other.slug == "right-wing"
        assert len(found) == 2  # one per team, not one per call
        with database.read() as session:  # a new session reads it again
            assert team_by_slug(session, "islamism", config).id == first.id
        assert len(found) == 3
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_a_rolled_back_team_is_looked_up_again(database: Database, config: HotlineConfig) -> None:
    """A team added in a transaction that rolled back is not taken from the session."""
    more = config.model_copy(update={"teams": {**config.teams, "neu": config.teams["islamism"]}})
    with database.read() as session:
        known = team_by_slug(session, "islamism", config)
        session.add(Team(slug="neu", name="Neu"))
        added = team_by_slug(session, "neu", more)  # flushed: it has an id
        assert added.id is not None
        session.rollback()
        with pytest.raises(NotFound):
            team_by_slug(session, "neu", more)
        assert team_by_slug(session, "islamism", config).id == known.id


def test_an_unknown_team_is_not_found(database: Database, config: HotlineConfig) -> None:
    with database.read() as session, pytest.raises(NotFound) as raised:
        team_by_slug(session, "nobody", config)
    assert raised.value.field == "team"
    assert "islamism" in str(raised.value)


def test_processes_starting_together_mirror_the_teams_once(
    db_url: str, config: HotlineConfig
) -> None:
    """Two processes start at once on a new database: the second mirrors the teams after the
    first has committed them, instead of inserting them again (a scheduler failed to start on
    the teams' unique slug in a two-host test)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's write transaction serialises the two")
    upgrade(db_url)
    first, second = Database(make_engine(db_url)), Database(make_engine(db_url))
    synced, failed = threading.Event(), []

    def start_second() -> None:
        synced.wait(10)
        try:
            with second.write() as session:
                sync_teams(session, config)
        except Exception as error:
            failed.append(type(error).__name__)

    try:
        other = threading.Thread(target=start_second)
        other.start()
        with first.write() as session:
            sync_teams(session, config)
            session.flush()
            synced.set()
            time.sleep(0.5)  # the second reads the teams meanwhile (or waits for this commit)
        other.join(10)
        assert not failed
        with first.read() as session:
            slugs = sorted(session.scalars(select(Team.slug)))
        assert slugs == sorted(config.teams)
    finally:
        first.dispose()
        second.dispose()
