"""Every migration says whether processes of the release before it keep working while it runs
(`ONLINE_SAFE`, docs/operations.md#upgrades), and one that says so changes the schema only by
adding: no table or column dropped or renamed, no column made NOT NULL, no NOT NULL column
without a default added to an existing table (an older process's INSERT would fail on it).

What a migration means for old code beyond its schema (a scope old processes ignore) is the
author's call; this is the part that can be checked."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from foundation.db import alembic_config

Columns = dict[str, dict[str, tuple[bool, object]]]  # table → column → (nullable, default)


def columns(context: MigrationContext) -> Columns:
    found = inspect(context.connection)
    return {
        table: {c["name"]: (c["nullable"], c.get("default")) for c in found.get_columns(table)}
        for table in found.get_table_names()
    }


def contractions(before: Columns, after: Columns) -> list[str]:
    """What in the step from `before` to `after` breaks a process that knows only `before`."""
    found = []
    for table, old in before.items():
        if table not in after:
            found.append(f"table {table} dropped")
            continue
        for name, (nullable, _) in old.items():
            if name not in after[table]:
                found.append(f"{table}.{name} dropped")
            elif nullable and not after[table][name][0]:
                found.append(f"{table}.{name} made NOT NULL")
        for name, (nullable, default) in after[table].items():
            if name not in old and not nullable and default is None:
                found.append(f"{table}.{name} added NOT NULL without a default")
    return found


def test_online_safe_migrations_only_add(tmp_path: Path) -> None:
    """All migrations in one upgrade on SQLite, the schema read after each (in its transaction)."""
    config = alembic_config(f"sqlite:///{tmp_path / 'steps.sqlite3'}")
    script = ScriptDirectory.from_config(config)
    undecided = [
        s.revision
        for s in script.walk_revisions()
        if not isinstance(getattr(s.module, "ONLINE_SAFE", None), bool)
    ]
    assert not undecided, f"set ONLINE_SAFE to True or False in migration {undecided}"
    schemas: list[tuple[str, Columns]] = [("", {})]

    def after(*, ctx: MigrationContext, step: MigrationInfo, **_: Any) -> None:
        schemas.append((step.up_revision_id or "", columns(ctx)))

    config.attributes["on_version_apply"] = [after]
    command.upgrade(config, "head")

    flagged = {
        revision: problems
        for (_, before), (revision, schema) in itertools.pairwise(schemas)
        if (problems := contractions(before, schema))
    }
    assert len(schemas) == len(list(script.walk_revisions())) + 1
    assert "0011" in flagged  # the check finds a contraction where there is one
    wrong = {
        revision: problems
        for revision, problems in flagged.items()
        if script.get_revision(revision).module.ONLINE_SAFE
    }
    assert not wrong, f"marked ONLINE_SAFE, but: {wrong}"
