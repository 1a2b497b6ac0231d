"""Teams by slug: configured teams only, looked up once per session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from config.model import HotlineConfig
from foundation.db import Database
from foundation.errors import NotFound
from foundation.models import Team
from foundation.teams import team_by_slug


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
