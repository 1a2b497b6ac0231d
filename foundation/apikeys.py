"""API keys: 256-bit random bearer tokens; the database keeps only their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from foundation import access, audit
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.errors import Invalid
from foundation.models import ApiKey

PREFIX = "hk_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, *, actor: str) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text, which is shown once and never again."""
    name = name.strip()
    if not name:
        raise Invalid("name must not be empty", field="name")
    plain = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, key_hash=_digest(plain))
    session.add(key)
    session.flush()
    audit.record(session, actor, "create", "api_key", key.id, after={"name": name})
    return key, plain


def find_live_key(session: Session, presented: str) -> ApiKey | None:
    """The unrevoked key matching `presented`, or None. A hash lookup: no timing oracle."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(presented)))
    return key if key is not None and key.revoked_at is None else None


def touch_due(key: ApiKey, now: datetime | None = None) -> bool:
    """Whether last_used_at is stale enough to be worth a write."""
    now = now or utcnow()
    return key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION


def touch(session: Session, key_id: int, now: datetime | None = None) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now or utcnow()))


def actor(key: ApiKey) -> str:
    """How the audit log names changes made with this key."""
    return principal(key).actor


def principal(key: ApiKey) -> Principal:
    """The key as the access policy sees it."""
    return access.for_api_key(key.id, key.name)


def revoke_named(session: Session, name: str, *, actor: str) -> int:
    """Revoke every live key called `name`; returns how many."""
    keys = session.scalars(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    count = 0
    for key in keys:
        key.revoked_at = utcnow()
        audit.record(session, actor, "revoke", "api_key", key.id, before={"name": key.name})
        count += 1
    return count
