"""access_log: who opened which record of client data, when

One row per record shown with its content (appointments, callback requests, voicemails and
their audio, conversations, call-backs): the principal, the kind and id of the record, the
time; never content. Deleted after `[access_log] retention_days`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("user_id", sa.Integer()),
        sa.Column("api_key_id", sa.Integer()),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_kind_record_id", "access_log", ["kind", "record_id"])


def downgrade() -> None:
    op.drop_table("access_log")
