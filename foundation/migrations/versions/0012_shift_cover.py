"""feeds: who works a shift changed (stand-ins and absences), apart from the shift's own edits

`cover_revision` and `cover_changed_at` on shifts, bumped by scheduling.cover whenever a
stand-in or an absence that may change who works the shift is created or deleted (or its
substitute is deactivated). Existing shifts start at 0 and NULL: their feed events keep the
SEQUENCE they had.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(
            sa.Column("cover_revision", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("cover_changed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("cover_changed_at")
        batch.drop_column("cover_revision")
