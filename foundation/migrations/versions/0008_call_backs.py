"""call-backs through the line: outbound calls, and the caller's number kept with a voicemail
(issue 7)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "outbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(length=40), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("client_status", sa.String(length=20), nullable=True),
        sa.Column("bridged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["counsellor_id"],
            ["counsellors.id"],
            name=op.f("fk_outbound_calls_counsellor_id_counsellors"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_outbound_calls_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_outbound_calls_call_sid")),
    )
    op.create_index(
        op.f("ix_outbound_calls_kind_target_id_created_at"),
        "outbound_calls",
        ["kind", "target_id", "created_at"],
        unique=False,
    )
    op.add_column("voicemails", sa.Column("caller_phone_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voicemails") as batch:
        batch.drop_column("caller_phone_enc")
    op.drop_index(op.f("ix_outbound_calls_kind_target_id_created_at"), table_name="outbound_calls")
    op.drop_table("outbound_calls")
