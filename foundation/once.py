"""Single-use tokens: a signed token (a form's, a link's) that may be used once. The database
keeps the SHA-256 of each used one, so a replay is refused by every process; of two uses at
once, the second waits for the first (INSERT … ON CONFLICT DO NOTHING on the primary key) and
is then refused like any replay."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from foundation.clock import utcnow
from foundation.models import UsedToken


def _digest(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}\x00{token}".encode()).hexdigest()


def use(session: Session, purpose: str, token: str, now: datetime | None = None) -> bool:
    """Mark the token used in the caller's transaction; False if it was used before."""
    digest = _digest(purpose, token)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stored = session.scalar(
        insert(UsedToken)
        .values(token_hash=digest, used_at=now or utcnow())
        .on_conflict_do_nothing(index_elements=["token_hash"])
        .returning(UsedToken.token_hash)
    )
    return stored is not None


def forget_before(session: Session, cutoff: datetime) -> None:
    """Tokens used before `cutoff` (by then expired anyway) are no longer remembered."""
    session.execute(delete(UsedToken).where(UsedToken.used_at < cutoff))
