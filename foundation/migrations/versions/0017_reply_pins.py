"""counsellors: a personal PIN for SMS replies, and its throttle

`reply_pin_hash` (argon2id; NULL: none set), `reply_pin_failures` (wrong PINs in a row) and
`reply_pin_locked_until` (SMS replies refused until then) on counsellors, for teams whose
configuration says `sms_replies = "pin"`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("counsellors") as batch:
        batch.add_column(sa.Column("reply_pin_hash", sa.String(200)))
        batch.add_column(
            sa.Column("reply_pin_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("reply_pin_locked_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("counsellors") as batch:
        batch.drop_column("reply_pin_locked_until")
        batch.drop_column("reply_pin_failures")
        batch.drop_column("reply_pin_hash")
