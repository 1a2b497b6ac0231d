"""scheduler heartbeats, and the outbox by status (operational metrics)

`scheduler_heartbeats`: when each scheduler job last started a run (one row per job, the
newest run of any scheduler process), read by /readyz and /metrics. An index on
`outbox_messages.status` lets the metrics count the messages not yet handed over without
reading the whole outbox. Both only add: processes of the previous version keep serving.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "scheduler_heartbeats",
        sa.Column("job", sa.String(60), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_scheduler_heartbeats")),
    )
    op.create_index(op.f("ix_outbox_messages_status"), "outbox_messages", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_messages_status"), table_name="outbox_messages")
    op.drop_table("scheduler_heartbeats")
