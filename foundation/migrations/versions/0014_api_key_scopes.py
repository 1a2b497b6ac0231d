"""api_keys: scope (teams, read-only) and lifetime

`all_teams` (true for every key created before: they keep working as "all teams, read and
write" until revoked), `read_only`, `expires_at`; `api_key_teams` lists the teams of a key
whose `all_teams` is false.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Not online-safe: api_keys.all_teams and read_only are NOT NULL without a default (an older
# process cannot create a key, and ignores a new key's scope) (docs/operations.md#upgrades).
ONLINE_SAFE = False


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("all_teams", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("all_teams", server_default=None)
        batch.alter_column("read_only", server_default=None)
    op.create_table(
        "api_key_teams",
        sa.Column(
            "api_key_id",
            sa.Integer(),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
        ),
    )


def downgrade() -> None:
    op.drop_table("api_key_teams")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("read_only")
        batch.drop_column("all_teams")
