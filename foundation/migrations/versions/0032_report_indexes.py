"""report indexes: what a period's report reads, from indexes alone on PostgreSQL

The heat map's hours of the call tallies, in an index on (line, day, caller); an index on
(line, created_at) of the voicemails, callback requests, call-backs (`outbound_calls`) and
conversations; the messages' index on `created_at` with their conversation and direction. On
PostgreSQL each includes what the report reads, so a yearly report reads two years of the
index instead of every row kept (bench/README.md, "reports"); on SQLite they are plain indexes
(SQLite has no included columns).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-31 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Online-safe: indexes only. On PostgreSQL writes to a table wait while its index is built
# (about 1 s per 200,000 call tallies; meanwhile a call's webhook waits to store it, as in
# 0031), reads do not (docs/operations.md#upgrades).
ONLINE_SAFE = True

# The heat map's columns of the tallies (foundation.call_tallies.HEAT, frozen here).
_HEAT = ("n_counted", *(f"h{hour:02d}" for hour in range(24)))
_BY_LINE = {
    "voicemails": ("caller_hash", "call_id", "status", "done_at"),
    "callback_requests": ("phone_hash", "status", "done_at"),
    "outbound_calls": ("kind", "target_id", "status", "client_status"),
    "conversations": ("client_hash", "id"),
}
_MESSAGES = "ix_conversation_messages_created_at"


def upgrade() -> None:
    op.create_index(
        "ix_call_tallies_line_day_caller",
        "call_tallies",
        ["line", "day", "caller"],
        postgresql_include=list(_HEAT),
    )
    for table, included in _BY_LINE.items():
        op.create_index(
            f"ix_{table}_line_created_at",
            table,
            ["line", "created_at"],
            postgresql_include=list(included),
        )
    if op.get_bind().dialect.name == "postgresql":  # the same key, now with what is read
        op.drop_index(_MESSAGES, "conversation_messages")
        op.create_index(
            _MESSAGES,
            "conversation_messages",
            ["created_at"],
            postgresql_include=["conversation_id", "direction"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(_MESSAGES, "conversation_messages")
        op.create_index(_MESSAGES, "conversation_messages", ["created_at"])
    for table in reversed(_BY_LINE):
        op.drop_index(f"ix_{table}_line_created_at", table)
    op.drop_index("ix_call_tallies_line_day_caller", "call_tallies")
