"""calls: who on call was skipped as busy in another call, and the index that finds the calls
under way

`busy_skipped` (JSON list of counsellor ids, NULL: nobody was skipped) on calls: the counsellors
on call whom the call did not ring because they were in another conversation through a line
(hotline.calls.busy). `answered_at` gets an index: "who is in a call now" reads the calls
answered within the last few hours.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("busy_skipped", sa.JSON()))
    op.create_index("ix_calls_answered_at", "calls", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_answered_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("busy_skipped")
