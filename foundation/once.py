"""Single-use tokens: a signed token (a form's, a link's) that may be used once. The database
keeps the SHA-256 of each used one, so a replay is refused by every process; the primary key
makes two uses at once end with one (the other transaction fails on commit)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from foundation.clock import utcnow
from foundation.models import UsedToken


def _digest(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}\x00{token}".encode()).hexdigest()


def use(session: Session, purpose: str, token: str, now: datetime | None = None) -> bool:
    """Mark the token used in the caller's transaction; False if it was used before."""
    digest = _digest(purpose, token)
    if session.get(UsedToken, digest) is not None:
        return False
    session.add(UsedToken(token_hash=digest, used_at=now or utcnow()))
    session.flush()
    return True


def forget_before(session: Session, cutoff: datetime) -> None:
    """Tokens used before `cutoff` (by then expired anyway) are no longer remembered."""
    session.execute(delete(UsedToken).where(UsedToken.used_at < cutoff))
