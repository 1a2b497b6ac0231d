"""client pseudonym key: the database keeps a pseudonym unique in its team in any case or form

`clients.pseudonym_key` (NOT NULL): the SHA-256 (hex) of the pseudonym with white space
collapsed, in compatibility form (NFKC) and case-folded, as the application compares
pseudonyms (`foundation.text.pseudonym_digest`); the unique key (team_id, pseudonym_key)
replaces (team_id, pseudonym), which it implies. Two creates racing with "Ärger" and "ÄRGER"
can no longer both get in.

Existing rows are filled here. Where two clients of a team already have the same key (made
before the application compared case-folded, or by two creates that raced), the first (lowest
id) keeps it and each later one gets "~<its id>" appended: the migration does not fail, and a
warning says how many and their ids, never a pseudonym. Such a client keeps its pseudonym; it
can be saved again only under another one (docs/clients.md#pseudonyms).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-22 10:00:00
"""

import hashlib
import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Not online-safe: a NOT NULL column without a default. A process of the release before cannot
# create a client (its insert is refused, and it answers that the pseudonym is taken), and its
# rename would leave the key of the old pseudonym behind.
ONLINE_SAFE = False

log = logging.getLogger("alembic.runtime.migration")


def _digest(pseudonym: str) -> str:
    """A copy of foundation.text.pseudonym_digest as of this migration (migrations never import
    the application)."""
    key = unicodedata.normalize("NFKC", " ".join(pseudonym.split())).casefold()
    return hashlib.sha256(key.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pseudonym_key", sa.String(length=80), nullable=True))
    clients = sa.table(
        "clients",
        sa.column("id", sa.Integer),
        sa.column("team_id", sa.Integer),
        sa.column("pseudonym", sa.String),
        sa.column("pseudonym_key", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(clients.c.id, clients.c.team_id, clients.c.pseudonym).order_by(clients.c.id)
    )
    seen: set[tuple[int, str]] = set()
    keys: list[dict[str, object]] = []
    collided: list[int] = []
    for client_id, team_id, pseudonym in rows:
        key = _digest(pseudonym)
        if (team_id, key) in seen:
            collided.append(client_id)
            key = f"{key}~{client_id}"
        seen.add((team_id, key))
        keys.append({"row_id": client_id, "key": key})
    if keys:
        connection.execute(
            clients.update()
            .where(clients.c.id == sa.bindparam("row_id"))
            .values(pseudonym_key=sa.bindparam("key")),
            keys,
        )
    if collided:
        log.warning(
            "%d client(s) have the pseudonym of an older client of their team in another case "
            "or Unicode form; their key got their id appended; rename them (client ids: %s)",
            len(collided),
            ", ".join(map(str, collided)),
        )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("pseudonym_key", existing_type=sa.String(length=80), nullable=False)
        batch_op.drop_constraint(op.f("uq_clients_team_id_pseudonym"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_clients_team_id_pseudonym_key"), ["team_id", "pseudonym_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_clients_team_id_pseudonym_key"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_clients_team_id_pseudonym"), ["team_id", "pseudonym"]
        )
        batch_op.drop_column("pseudonym_key")
