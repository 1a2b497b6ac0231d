"""languages: what counsellors speak, and the language of a call, an appointment's client and a
callback request

`counsellors.languages` (a JSON list of ISO 639-1 codes, every existing counsellor ["de"]),
`calls.language` (nullable: calls before this are of no known language), `appointments.
client_language` and `callback_requests.language` (existing rows "de": everything was German),
`call_days.language` (the roll-up keeps it; "" for days rolled up before).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: columns with server defaults or nullable, which processes of the release before
# neither read nor write (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    # Plain string defaults, not text(): with an SQL expression as default alembic recreates the
    # table on SQLite, and dropping `counsellors` while shifts refer to it fails with the
    # foreign keys on. A constant default is a plain ALTER TABLE ADD COLUMN there.
    with op.batch_alter_table("counsellors") as batch:
        batch.add_column(
            sa.Column(
                "languages",
                sa.JSON().with_variant(JSONB(), "postgresql"),
                nullable=False,
                server_default='["de"]',
            )
        )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("language", sa.String(8)))
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(
            sa.Column("client_language", sa.String(8), nullable=False, server_default="de")
        )
    with op.batch_alter_table("callback_requests") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="de"))
    with op.batch_alter_table("call_days") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    for table, column in (
        ("call_days", "language"),
        ("callback_requests", "language"),
        ("appointments", "client_language"),
        ("calls", "language"),
        ("counsellors", "languages"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
