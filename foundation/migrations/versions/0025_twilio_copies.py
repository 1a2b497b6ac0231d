"""retention: Twilio's copies deleted there in time; appointments' client data deleted

`twilio_copies`: Twilio's id of every message, call and recording the service sent or received
(and of the replies Twilio sent for it), what it was and when, until Twilio confirmed its
deletion (`[retention] twilio_days`, or sooner after an erasure); `calls.twilio_listed_at`:
when an incoming call's id was listed there; `appointments.client_deleted_at`: when the
retention or an erasure deleted an appointment's client data (a client's case ended long ago,
an appointment without a client record long past, or a client erased).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    op.create_table(
        "twilio_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column(
            "resource",
            sa.Enum(
                "message",
                "call",
                "recording",
                name="twilio_resource",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "direction",
            sa.Enum(
                "in", "out", name="direction", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twilio_copies")),
        sa.UniqueConstraint("sid", name=op.f("uq_twilio_copies_sid")),
    )
    op.create_index(op.f("ix_twilio_copies_at"), "twilio_copies", ["at"])
    op.create_index(op.f("ix_twilio_copies_due_at"), "twilio_copies", ["due_at"])
    op.add_column("calls", sa.Column("twilio_listed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "appointments", sa.Column("client_deleted_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("client_deleted_at")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("twilio_listed_at")
    op.drop_index(op.f("ix_twilio_copies_due_at"), table_name="twilio_copies")
    op.drop_index(op.f("ix_twilio_copies_at"), table_name="twilio_copies")
    op.drop_table("twilio_copies")
