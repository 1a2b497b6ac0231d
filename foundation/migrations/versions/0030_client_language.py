"""client language: the language of a client record

`clients.language` (ISO 639-1, NOT NULL with the default "de": every existing client is
German, as her appointments were before 0027). An appointment booked for the client takes it
unless the booking names another (docs/clients.md#language).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: a column with a constant server default, which processes of the release before
# neither read nor write (their new clients are German) (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    # A plain string default, not text(): with an SQL expression alembic recreates the table on
    # SQLite (0027 says why that fails); a constant is a plain ALTER TABLE ADD COLUMN there.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="de"))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("language")
