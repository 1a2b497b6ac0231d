"""Feed tokens: the secret in a feed URL. 256 random bits, shown once, stored as a SHA-256.

A counsellor may hold several (phone, laptop), sees when each was last used and revokes each;
coordinators revoke any token of their teams' counsellors and their teams' rota feeds. A wrong,
revoked or malformed token, or one whose counsellor was deactivated, finds nothing: the feed
route answers all of them with the same 404. A team's rota feed issued on the web page lives
only as long as its issuer may see that team (`holder_may_see`): an active account that is
an admin, coordinates the team, or is linked to an active counsellor of the team. Tokens
issued by the CLI (no user) are the operator's and stay until revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from foundation import audit
from foundation.clock import utcnow
from foundation.errors import Invalid, NotFound
from foundation.models import Counsellor, FeedToken, Role, Team, TeamMembership, User, UserTeam
from scheduling.feeds.events import Owner

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32): 256 bits
LABEL_LENGTH = 100
# Writing last_used_at on every poll would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
Member = aliased(Counsellor)  # the issuer's counsellor record, apart from the feed's owner


@dataclass(frozen=True, slots=True)
class LiveToken:
    """A token that opens a feed: whose, and what it last served."""

    id: int
    owner: Owner
    last_used_at: datetime | None
    etag: str | None
    changed_at: datetime | None


def digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def well_formed(plain: str) -> bool:
    return bool(TOKEN.match(plain))


def _snapshot(token: FeedToken) -> dict[str, object]:
    """What the audit log keeps: never the token or its hash."""
    return {
        "counsellor_id": token.counsellor_id,
        "team_id": token.team_id,
        "label": token.label,
    }


def issue(
    session: Session,
    *,
    counsellor_id: int | None = None,
    team_id: int | None = None,
    label: str = "",
    user_id: int | None = None,
    actor: str,
) -> tuple[FeedToken, str]:
    """A new token for a counsellor's feed or a team's feed (exactly one); returns the row and
    the plain token, which exists nowhere else and is shown once."""
    if (counsellor_id is None) == (team_id is None):
        raise Invalid("a feed is either a counsellor's or a team's", field="counsellor_id")
    label = " ".join(label.split())
    if len(label) > LABEL_LENGTH:
        raise Invalid(f"the label is longer than {LABEL_LENGTH} characters", field="label")
    if counsellor_id is not None:
        counsellor = session.get(Counsellor, counsellor_id)
        if counsellor is None:
            raise NotFound(f"no counsellor with id {counsellor_id}", field="counsellor_id")
        if not counsellor.active:
            raise Invalid("the counsellor is deactivated", field="counsellor_id")
    elif session.get(Team, team_id) is None:
        raise NotFound(f"no team with id {team_id}", field="team")
    plain = secrets.token_urlsafe(32)
    token = FeedToken(
        token_hash=digest(plain),
        counsellor_id=counsellor_id,
        team_id=team_id,
        label=label or "Kalender",
        user_id=user_id,
    )
    session.add(token)
    session.flush()
    audit.record(session, actor, "create", "feed_token", token.id, after=_snapshot(token))
    return token, plain


def find_live(session: Session, plain: str) -> LiveToken | None:
    """The live token `plain` names, or None for anything else (malformed, unknown, revoked,
    deactivated counsellor). The lookup is by hash, so its timing says nothing about the
    token; the stored hash is compared once more in constant time."""
    if not well_formed(plain):
        return None
    wanted = digest(plain)
    row = session.execute(
        select(FeedToken, Counsellor.active, holder_may_see())
        .outerjoin(Counsellor, Counsellor.id == FeedToken.counsellor_id)
        .where(FeedToken.token_hash == wanted)
    ).one_or_none()
    if row is None:
        return None
    token, active, holder_sees = row
    if not hmac.compare_digest(token.token_hash, wanted) or token.revoked_at is not None:
        return None
    if token.counsellor_id is not None and not active:
        return None
    if token.team_id is not None and token.user_id is not None and not holder_sees:
        return None
    return LiveToken(
        token.id,
        Owner(token.counsellor_id, token.team_id),
        token.last_used_at,
        token.etag,
        token.changed_at,
    )


def holder_may_see() -> ColumnElement[bool]:
    """Whether the user who issued a token (correlated with FeedToken) may still see its team:
    active, and an admin, a coordinator of the team or linked to an active member of it."""
    coordinates = (
        exists()
        .where(UserTeam.user_id == User.id, UserTeam.team_id == FeedToken.team_id)
        .correlate(User, FeedToken)
    )
    member = (
        exists()
        .where(
            Member.id == User.counsellor_id,
            Member.active.is_(True),
            TeamMembership.counsellor_id == Member.id,
            TeamMembership.team_id == FeedToken.team_id,
        )
        .correlate(User, FeedToken)
    )
    return exists().where(
        User.id == FeedToken.user_id,
        User.active.is_(True),
        or_(User.role == Role.ADMIN, coordinates, member),
    )


def served_update(token: LiveToken, etag: str, now: datetime) -> dict[str, object]:
    """The columns to write after serving `etag` (empty: nothing worth a write): the ETag and
    the moment it changed (the feed's Last-Modified), and a stale last_used_at."""
    values: dict[str, object] = {}
    if token.etag != etag or token.changed_at is None:
        values.update(etag=etag, changed_at=now)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        values["last_used_at"] = now
    return values


def record_served(session: Session, token_id: int, values: dict[str, object]) -> None:
    if values:
        session.execute(update(FeedToken).where(FeedToken.id == token_id).values(**values))


def revoke(session: Session, token_id: int, *, actor: str) -> FeedToken:
    """Revoke a token (revoking twice changes nothing)."""
    token = session.get(FeedToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"no feed token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = actor[:120]
        audit.record(session, actor, "revoke", "feed_token", token.id, before=_snapshot(token))
    return token


def listing(
    session: Session,
    *,
    counsellor_ids: Collection[int] = (),
    team_ids: Collection[int] = (),
    user_id: int | None = None,
    everything: bool = False,
) -> list[FeedToken]:
    """Tokens of these counsellors, of these teams' rota feeds and issued by this user (or
    all, for an admin), live ones first, newest first."""
    query = select(FeedToken)
    if not everything:
        conditions: list[ColumnElement[bool]] = []
        if counsellor_ids:
            conditions.append(FeedToken.counsellor_id.in_(list(counsellor_ids)))
        if team_ids:
            conditions.append(FeedToken.team_id.in_(list(team_ids)))
        if user_id is not None:
            conditions.append(FeedToken.user_id == user_id)
        if not conditions:
            return []
        query = query.where(or_(*conditions))
    rows = session.scalars(query.order_by(FeedToken.created_at.desc(), FeedToken.id.desc()))
    return sorted(rows, key=lambda token: token.revoked_at is not None)


def feed_url(public_url: str, plain: str) -> str:
    return f"{public_url.rstrip('/')}/feeds/{plain}.ics"


def webcal_url(url: str) -> str:
    """The same feed as a webcal:// link, which makes Apple and Outlook offer to subscribe."""
    return "webcal://" + url.split("://", 1)[1]
