"""calendar feeds: feed tokens, external calendars and their busy intervals (issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "feed_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=120), nullable=True),
        sa.Column("etag", sa.String(length=64), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(counsellor_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_feed_tokens_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["counsellor_id"],
            ["counsellors.id"],
            name=op.f("fk_feed_tokens_counsellor_id_counsellors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_feed_tokens_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_feed_tokens_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_feed_tokens_token_hash")),
    )
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feed_tokens_counsellor_id"), ["counsellor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feed_tokens_team_id"), ["team_id"], unique=False)

    op.create_table(
        "external_calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("url_enc", sa.LargeBinary(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("last_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("busy_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["counsellor_id"],
            ["counsellors.id"],
            name=op.f("fk_external_calendars_counsellor_id_counsellors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_calendars")),
    )
    with op.batch_alter_table("external_calendars", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_calendars_counsellor_id"), ["counsellor_id"], unique=False
        )

    op.create_table(
        "busy_intervals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_busy_intervals_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["external_calendars.id"],
            name=op.f("fk_busy_intervals_calendar_id_external_calendars"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_busy_intervals")),
    )
    with op.batch_alter_table("busy_intervals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_busy_intervals_calendar_id_start_at"),
            ["calendar_id", "start_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("busy_intervals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_busy_intervals_calendar_id_start_at"))
    op.drop_table("busy_intervals")
    with op.batch_alter_table("external_calendars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_calendars_counsellor_id"))
    op.drop_table("external_calendars")
    with op.batch_alter_table("feed_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_tokens_team_id"))
        batch_op.drop_index(batch_op.f("ix_feed_tokens_counsellor_id"))
    op.drop_table("feed_tokens")
