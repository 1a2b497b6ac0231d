"""reports: why a call found the line closed, the tier that accepted it, and the daily roll-up

`calls.closed_reason` ("hours", "holiday"), `calls.accepted_tier` (primary, backup),
`voicemails.done_at` (the time until done), two indexes the reports read by (line and start;
caller hash, line and start), and the roll-up that keeps counts after call records pass their
retention (`[retention] calls_days`): `call_days` (per local day, line, outcome category, tier,
relatives flag), `call_day_hours` (per local hour) and `call_day_seconds` (ring and talk
seconds as a histogram).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True

# What the reports read of a call besides line and start (foundation.models, frozen here).
_REPORTED = (
    "outcome",
    "closed_reason",
    "caller_hash",
    "ring_seconds",
    "talk_seconds",
    "accepted_tier",
    "from_relative",
)
_ROLL_UPS = ("call_days", "call_months", "call_day_hours", "call_day_seconds")


def _day_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("closed_reason", sa.String(16)))
        batch.add_column(
            sa.Column(
                "accepted_tier",
                sa.Enum(
                    "primary",
                    "backup",
                    name="tier",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
            )
        )
        # Covering on PostgreSQL: the reports' scans read the index only (SQLite ignores it).
        batch.create_index(
            op.f("ix_calls_line_started_at"),
            ["line", "started_at"],
            postgresql_include=list(_REPORTED),
        )
        batch.create_index(
            op.f("ix_calls_caller_hash_line_started_at"), ["caller_hash", "line", "started_at"]
        )
    with op.batch_alter_table("voicemails") as batch:
        batch.add_column(sa.Column("done_at", sa.DateTime(timezone=True)))
    op.create_table(
        "call_days",
        *_day_columns(),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("relative", sa.Boolean(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("callers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_days")),
    )
    op.create_table(
        "call_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("callers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_months")),
    )
    op.create_table(
        "call_day_hours",
        *_day_columns(),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("callers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_day_hours")),
    )
    op.create_table(
        "call_day_seconds",
        *_day_columns(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_day_seconds")),
    )
    for table in _ROLL_UPS:
        column = "month" if table == "call_months" else "day"
        op.create_index(op.f(f"ix_{table}_line_{column}"), table, ["line", column])


def downgrade() -> None:
    for table in _ROLL_UPS:
        op.drop_table(table)
    with op.batch_alter_table("voicemails") as batch:
        batch.drop_column("done_at")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(op.f("ix_calls_caller_hash_line_started_at"))
        batch.drop_index(op.f("ix_calls_line_started_at"))
        batch.drop_column("accepted_tier")
        batch.drop_column("closed_reason")
