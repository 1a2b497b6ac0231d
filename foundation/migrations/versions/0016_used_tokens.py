"""used_tokens: single-use tokens that have been used (the public callback form's)

Only a SHA-256 of each token; rows are deleted once the token would have expired anyway.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "used_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_used_tokens_used_at", "used_tokens", ["used_at"])


def downgrade() -> None:
    op.drop_table("used_tokens")
