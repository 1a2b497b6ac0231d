"""feeds: a revision counter on shifts (the feed fingerprint), the day busy times were expanded for

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.add_column("shifts", sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("external_calendars", sa.Column("busy_day", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("external_calendars") as batch:
        batch.drop_column("busy_day")
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("revision")
