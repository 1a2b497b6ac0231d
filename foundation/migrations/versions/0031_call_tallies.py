"""call tallies: what the reports count of the calls, kept by triggers

`call_tallies` (per line, local day, caller and language: the calls, what became of them, the
ended ones per local hour) and `call_tally_seconds` (per line, local month, ring or talk and
second: how many accepted calls), `tally_offsets` (the UTC offsets of Europe/Berlin from 1970
to 2100), and the triggers on `calls` that keep both right
(`foundation.call_tallies`); then every call so far is tallied. A yearly report reads these
instead of two years of calls (docs/reports.md#how-the-figures-are-kept).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The tallies' columns and SQL as of this migration (version 1: a later change to what is
# tallied comes with a migration of its own that installs its own).
from foundation import call_tallies

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: new tables, and triggers that tally the writes of old processes too.
# On PostgreSQL creating the triggers locks `calls` against writes until the backfill commits
# (about 5 s per 100,000 calls, docs/operations.md#upgrades).
ONLINE_SAFE = True


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "call_tallies",
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        *(_count(name) for name in call_tallies.COUNT_COLUMNS),
        sa.PrimaryKeyConstraint("line", "day", "caller", "language", name="pk_call_tallies"),
    )
    op.create_index("ix_call_tallies_caller_line_day", "call_tallies", ["caller", "line", "day"])
    # What the report reads, in the index on PostgreSQL (foundation.call_tallies.REPORTED).
    op.create_index(
        "ix_call_tallies_line_day",
        "call_tallies",
        ["line", "day"],
        postgresql_include=list(call_tallies.REPORTED),
    )
    op.create_table(
        "call_tally_seconds",
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        _count("n_calls"),
        sa.PrimaryKeyConstraint("line", "month", "kind", "seconds", name="pk_call_tally_seconds"),
    )
    op.create_table(
        "tally_offsets",
        sa.Column("starts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("utc_offset", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("starts", name="pk_tally_offsets"),
    )
    connection = op.get_bind()
    call_tallies.install(connection)
    call_tallies.rebuild(connection)


def downgrade() -> None:
    call_tallies.drop(op.get_bind())
    op.drop_table("tally_offsets")
    op.drop_table("call_tally_seconds")
    op.drop_index("ix_call_tallies_line_day", table_name="call_tallies")
    op.drop_index("ix_call_tallies_caller_line_day", table_name="call_tallies")
    op.drop_table("call_tallies")
