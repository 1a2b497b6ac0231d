"""reminders per appointment time; retry backoff for reminders and shift notices (issue 5)

A reminder row now names the appointment start it reminds of (`appointment_start`, part of
the unique key), so a moved appointment gets its reminders for the new time. Existing rows
remind of `due_at + offset_minutes`: that is how every row was planned, and it keeps a row
sent for an earlier time of a moved appointment from blocking the new time's reminder.
`next_attempt_at` holds back the retry of a message that certainly did not go out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Not online-safe: reminders.appointment_start becomes NOT NULL without a default (an older
# process fails to book an appointment) and the unique key changes (docs/operations.md#upgrades).
ONLINE_SAFE = False

OLD_KEY = "uq_reminders_appointment_id_recipient_offset_minutes"
NEW_KEY = "uq_reminders_appointment_time"


def upgrade() -> None:
    with op.batch_alter_table("reminders") as batch:
        batch.add_column(sa.Column("appointment_start", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    reminders = sa.table(
        "reminders",
        sa.column("id", sa.Integer()),
        sa.column("offset_minutes", sa.Integer()),
        sa.column("due_at", sa.DateTime(timezone=True)),
        sa.column("appointment_start", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    # In Python rather than SQL: interval arithmetic differs between the backends. Instants
    # are kept as the database returns them (UTC; naive on SQLite, as the models store them).
    rows = connection.execute(
        sa.select(reminders.c.id, reminders.c.offset_minutes, reminders.c.due_at)
    ).all()
    if rows:
        connection.execute(
            reminders.update()
            .where(reminders.c.id == sa.bindparam("_id"))
            .values(appointment_start=sa.bindparam("_start")),
            [
                {"_id": row_id, "_start": due + timedelta(minutes=offset)}
                for row_id, offset, due in rows
            ],
        )
    with op.batch_alter_table("reminders") as batch:
        batch.alter_column(
            "appointment_start", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch.drop_constraint(OLD_KEY, type_="unique")
        batch.create_unique_constraint(
            NEW_KEY, ["appointment_id", "recipient", "offset_minutes", "appointment_start"]
        )
    with op.batch_alter_table("shift_notices") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Keeps, of each (appointment, recipient, offset), the row of the latest appointment time.
    op.execute(
        "DELETE FROM reminders WHERE EXISTS (SELECT 1 FROM reminders AS later"
        " WHERE later.appointment_id = reminders.appointment_id"
        " AND later.recipient = reminders.recipient"
        " AND later.offset_minutes = reminders.offset_minutes"
        " AND later.appointment_start > reminders.appointment_start)"
    )
    with op.batch_alter_table("shift_notices") as batch:
        batch.drop_column("next_attempt_at")
    with op.batch_alter_table("reminders") as batch:
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.create_unique_constraint(OLD_KEY, ["appointment_id", "recipient", "offset_minutes"])
        batch.drop_column("next_attempt_at")
        batch.drop_column("appointment_start")
