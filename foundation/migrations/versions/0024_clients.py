"""clients: a client record per team, its exit plan, and links from contacts to it

`clients` (pseudonym unique per team, the phone number encrypted with its keyed hash, SMS
consent, preferred channel, the relatives flag, the status and the dates of its changes, the
plan's next review date), `client_counsellors` (the responsible counsellors), `plan_steps` and
`plan_notes` (their text encrypted), a nullable `client_id` on appointments, conversations,
callback requests, voicemails and outbound calls, and the notice kind `review`.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades): new tables, nullable columns, one more allowed notice kind.
ONLINE_SAFE = True

LINKED = ("appointments", "conversations", "callback_requests", "voicemails", "outbound_calls")
NOTICE_KINDS = ("upcoming", "handoff", "changed", "swap")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _notice_kinds(kinds: tuple[str, ...]) -> None:
    """Replace the CHECK constraint of shift_notices.kind (a non-native enum) with `kinds`."""
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("shift_notices", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_shift_notices_notice_kind"), type_="check")
        batch_op.create_check_constraint("notice_kind", f"kind IN ({allowed})")


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=100), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("sms_consent", sa.Boolean(), nullable=False),
        sa.Column(
            "preferred_channel",
            _enum("preferred_channel", "phone", "sms", "whatsapp", "in_person", "video"),
            nullable=True,
        ),
        sa.Column("relative", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            _enum("client_status", "first_contact", "in_counselling", "paused", "ended"),
            nullable=False,
        ),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_clients_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("team_id", "pseudonym", name=op.f("uq_clients_team_id_pseudonym")),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clients_team_id_status"), ["team_id", "status"])
        batch_op.create_index(batch_op.f("ix_clients_phone_hash"), ["phone_hash"])
        batch_op.create_index(batch_op.f("ix_clients_review_on"), ["review_on"])

    op.create_table(
        "client_counsellors",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_counsellors_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["counsellor_id"],
            ["counsellors.id"],
            name=op.f("fk_client_counsellors_counsellor_id_counsellors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "counsellor_id", name=op.f("pk_client_counsellors")),
    )
    with op.batch_alter_table("client_counsellors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_counsellors_counsellor_id"), ["counsellor_id"])

    op.create_table(
        "plan_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("title_enc", sa.LargeBinary(), nullable=False),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "status",
            _enum("plan_step_status", "open", "in_progress", "reached", "dropped"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_plan_steps_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_steps")),
    )
    with op.batch_alter_table("plan_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_steps_client_id_position"), ["client_id", "position"]
        )

    op.create_table(
        "plan_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_plan_notes_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["plan_steps.id"],
            name=op.f("fk_plan_notes_step_id_plan_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_plan_notes_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_plan_notes_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_notes")),
    )
    with op.batch_alter_table("plan_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_notes_client_id_at"), ["client_id", "at"])
        batch_op.create_index(batch_op.f("ix_plan_notes_step_id"), ["step_id"])

    for table in LINKED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("client_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_client_id_clients"),
                "clients",
                ["client_id"],
                ["id"],
                ondelete="SET NULL",
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_client_id"), ["client_id"])
    _notice_kinds((*NOTICE_KINDS, "review"))


def downgrade() -> None:
    op.execute("DELETE FROM shift_notices WHERE kind = 'review'")
    _notice_kinds(NOTICE_KINDS)
    for table in reversed(LINKED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_client_id"))
            batch_op.drop_constraint(op.f(f"fk_{table}_client_id_clients"), type_="foreignkey")
            batch_op.drop_column("client_id")
    op.drop_table("plan_notes")
    op.drop_table("plan_steps")
    op.drop_table("client_counsellors")
    op.drop_table("clients")
