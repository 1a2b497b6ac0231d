"""Teams live in the configuration file; the database mirrors them so rows can refer to them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation.db import one_at_a_time
from foundation.errors import NotFound
from foundation.models import Team


def sync_teams(session: Session, config: HotlineConfig) -> None:
    """Create teams that are new in the configuration and follow renames. Never deletes:
    shifts and calls keep referring to a team that was taken out of the file. On PostgreSQL
    one process at a time (an advisory lock until the transaction ends): two processes started
    together on a new database both found no teams, and the second failed on inserting them
    (SQLite's write transaction serialises them already)."""
    one_at_a_time(session.connection())
    existing = {team.slug: team for team in session.scalars(select(Team))}
    for slug, team_config in config.teams.items():
        team = existing.get(slug)
        if team is None:
            session.add(Team(slug=slug, name=team_config.name))
        elif team.name != team_config.name:
            team.name = team_config.name


_TEAM_IDS = "foundation.teams:ids"  # session.info: slug -> id of the teams already looked up


def team_by_slug(session: Session, slug: str, config: HotlineConfig) -> Team:
    """A team that is configured now (a team removed from the file is unknown). Looked up once
    per session: later calls take it from the session's identity map by id (a report asked
    for its team four times; `Session.get` reads the database again only if the row is no
    longer in the map, e.g. after a rollback)."""
    team = None
    if slug in config.teams:
        ids: dict[str, int] = session.info.setdefault(_TEAM_IDS, {})
        if slug in ids:
            team = session.get(Team, ids[slug])
        if team is None or team.slug != slug:
            team = session.scalar(select(Team).where(Team.slug == slug))
            if team is not None:
                ids[slug] = team.id
    if team is None:
        known = ", ".join(sorted(config.teams))
        raise NotFound(f"unknown team {slug!r} (known: {known})", field="team")
    return team
