"""users: the language of the pages for each account

`locale` ("de" or "en", `foundation.users.LOCALES`), NOT NULL with the default "de": every
existing account keeps German pages.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(8), nullable=False, server_default="de"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
