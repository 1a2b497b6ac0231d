"""voicemail caller hash: a voicemail keeps its call's keyed caller hash

`voicemails.caller_hash` (nullable), filled from the call for the voicemails that still have
theirs. Reports count a line's voicemail people from it without joining the calls, and still
after the roll-up has deleted the call (see docs/reports.md).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-21 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: a nullable column that processes of the release before neither read nor write
# (a voicemail they store meanwhile has no hash: a report counts it as a caller of its own).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("voicemails") as batch:
        batch.add_column(sa.Column("caller_hash", sa.String(64)))
    voicemails = sa.table(
        "voicemails", sa.column("call_id", sa.Integer), sa.column("caller_hash", sa.String)
    )
    calls = sa.table("calls", sa.column("id", sa.Integer), sa.column("caller_hash", sa.String))
    op.execute(
        voicemails.update()
        .where(voicemails.c.call_id.is_not(None))
        .values(
            caller_hash=sa.select(calls.c.caller_hash)
            .where(calls.c.id == voicemails.c.call_id)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("voicemails") as batch:
        batch.drop_column("caller_hash")
