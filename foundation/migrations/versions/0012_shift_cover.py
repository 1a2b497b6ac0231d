"""feeds: who works a shift changed (stand-ins and absences), apart from the shift's own edits

`cover_revision` and `cover_changed_at` on shifts, bumped by scheduling.cover whenever a
stand-in or an absence that may change who works the shift is created or deleted (or its
substitute is deactivated). Existing shifts start at 0 and NULL, so their feed events keep
the SEQUENCE they had; those that existing stand-ins or absences already cut are marked as
changed now (1 and the migration's time): from this version on their feed shows them cut,
and their SEQUENCE must grow with that.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: processes of the release before keep working while it runs
# (docs/operations.md#upgrades).
ONLINE_SAFE = True


def upgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(
            sa.Column("cover_revision", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("cover_changed_at", sa.DateTime(timezone=True)))
    _mark_shifts_already_cut()


def _mark_shifts_already_cut() -> None:
    when = sa.DateTime(timezone=True)
    shifts = sa.table(
        "shifts",
        sa.column("team_id", sa.Integer()),
        sa.column("counsellor_id", sa.Integer()),
        sa.column("start_at", when),
        sa.column("end_at", when),
        sa.column("cover_revision", sa.Integer()),
        sa.column("cover_changed_at", when),
    )
    stand_ins = sa.table(
        "stand_ins",
        sa.column("team_id", sa.Integer()),
        sa.column("absent_id", sa.Integer()),
        sa.column("substitute_id", sa.Integer()),
        sa.column("start_at", when),
        sa.column("end_at", when),
    )
    absences = sa.table(
        "absences",
        sa.column("counsellor_id", sa.Integer()),
        sa.column("start_at", when),
        sa.column("end_at", when),
    )

    def overlaps(a: sa.TableClause, b: sa.TableClause) -> sa.ColumnElement[bool]:
        return sa.and_(a.c.start_at < b.c.end_at, a.c.end_at > b.c.start_at)

    stood_in = sa.and_(
        stand_ins.c.team_id == shifts.c.team_id,
        stand_ins.c.absent_id == shifts.c.counsellor_id,
        overlaps(stand_ins, shifts),
    )
    hit = sa.or_(
        sa.exists().where(stood_in),
        sa.exists().where(
            absences.c.counsellor_id == shifts.c.counsellor_id, overlaps(absences, shifts)
        ),
        sa.exists().where(  # the substitute is away herself
            stood_in,
            absences.c.counsellor_id == stand_ins.c.substitute_id,
            overlaps(absences, shifts),
            overlaps(absences, stand_ins),
        ),
    )
    connection = op.get_bind()
    now = datetime.now(UTC)
    # As the models store instants: naive UTC on SQLite.
    stamp = now.replace(tzinfo=None) if connection.dialect.name == "sqlite" else now
    connection.execute(shifts.update().where(hit).values(cover_revision=1, cover_changed_at=stamp))


def downgrade() -> None:
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("cover_changed_at")
        batch.drop_column("cover_revision")
