"""API keys: 256-bit random bearer tokens; the database keeps only their SHA-256.

A key has a scope (every team, or the teams it names; read and write, or read-only) and perhaps
an expiry; it works until it expires or is revoked. Keys made before scopes existed are keys of
every team that read and write."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from foundation import access, audit
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.errors import Invalid, NotFound
from foundation.models import ApiKey, Team

PREFIX = "hk_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
MAX_EXPIRES_DAYS = 3650
NAME_LENGTH = 100


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session,
    name: str,
    *,
    actor: str,
    teams: list[str] | None = None,
    read_only: bool = False,
    expires_days: int | None = None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text, which is shown once and never again.
    `teams` None or empty: every team; `expires_days` None: it never expires."""
    name = name.strip()
    if not name:
        raise Invalid("name must not be empty", field="name")
    if len(name) > NAME_LENGTH or not name.isprintable():
        raise Invalid(f"name: at most {NAME_LENGTH} printable characters", field="name")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise Invalid(f"expires_days: between 1 and {MAX_EXPIRES_DAYS}", field="expires_days")
    scope = _teams(session, teams or [])
    plain = PREFIX + secrets.token_urlsafe(32)
    now = now or utcnow()
    key = ApiKey(
        name=name,
        key_hash=_digest(plain),
        all_teams=not scope,
        read_only=read_only,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days is not None else None,
        teams=scope,
    )
    session.add(key)
    session.flush()
    audit.record(session, actor, "create", "api_key", key.id, after=describe(key))
    return key, plain


def _teams(session: Session, slugs: list[str]) -> list[Team]:
    wanted = sorted(set(slugs))
    found = list(session.scalars(select(Team).where(Team.slug.in_(wanted)))) if wanted else []
    unknown = sorted(set(wanted) - {team.slug for team in found})
    if unknown:
        raise Invalid(f"unknown team: {', '.join(unknown)}", field="teams")
    return found


def describe(key: ApiKey) -> dict[str, object]:
    """What the audit log and the listings say of a key (never its hash)."""
    return {
        "name": key.name,
        "teams": None if key.all_teams else [team.slug for team in key.teams],
        "read_only": key.read_only,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def is_live(key: ApiKey, now: datetime | None = None) -> bool:
    """Not revoked and not expired."""
    if key.revoked_at is not None:
        return False
    return key.expires_at is None or (now or utcnow()) < key.expires_at


def find_live_key(session: Session, presented: str) -> ApiKey | None:
    """The unrevoked key matching `presented`, or None. A hash lookup: no timing oracle."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(presented)))
    return key if key is not None and is_live(key) else None


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
    teams = None if key.all_teams else key.teams
    return access.for_api_key(key.id, key.name, teams, read_only=key.read_only)


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (revoked and expired ones too: the listing says so)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


def revoke(session: Session, key_id: int, *, actor: str) -> ApiKey:
    """Revoke one key; revoking a revoked key again changes nothing."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, actor, "revoke", "api_key", key.id, before=describe(key))
    return key


def revoke_named(session: Session, name: str, *, actor: str) -> int:
    """Revoke every live key called `name`; returns how many."""
    keys = session.scalars(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    count = 0
    for key in keys:
        key.revoked_at = utcnow()
        audit.record(session, actor, "revoke", "api_key", key.id, before={"name": key.name})
        count += 1
    return count
