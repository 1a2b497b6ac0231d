"""users: the single sign-on subject of an account

`sso_issuer` and `sso_subject` (the OpenID provider's issuer and `sub`; NULL for a local
account), unique together: how single sign-on finds an account again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sso_issuer", sa.String(300)))
        batch.add_column(sa.Column("sso_subject", sa.String(255)))
        batch.create_unique_constraint(
            "uq_users_sso_issuer_sso_subject", ["sso_issuer", "sso_subject"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_sso_issuer_sso_subject", type_="unique")
        batch.drop_column("sso_subject")
        batch.drop_column("sso_issuer")
