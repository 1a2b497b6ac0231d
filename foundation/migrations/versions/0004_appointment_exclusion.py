"""no double-booking: an exclusion constraint over each counsellor's booked appointments

On PostgreSQL two booked appointments of one counsellor whose [start, end) overlap are refused
by the database itself, however many processes book at once. `counsellor_id WITH =` inside a
GiST index needs the `btree_gist` extension: the role running the migration must be allowed to
create it (a superuser, or, as btree_gist is a trusted extension since PostgreSQL 13, a role
with CREATE on the database), or an administrator runs `CREATE EXTENSION btree_gist` first.

SQLite has no exclusion constraints: there the booking's write transaction checks and inserts
atomically (BEGIN IMMEDIATE), so nothing changes in its schema.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

from alembic import op

from foundation.db import ensure_btree_gist

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True

NAME = "ex_appointments_counsellor_id_time"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    ensure_btree_gist(op.get_bind())
    op.execute(
        f"ALTER TABLE appointments ADD CONSTRAINT {NAME} EXCLUDE USING gist "
        "(counsellor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
        "WHERE (status = 'booked')"
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE appointments DROP CONSTRAINT {NAME}")
    # btree_gist stays: other objects of the database may use it.
