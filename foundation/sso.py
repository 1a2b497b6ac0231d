"""Single sign-on: from the verified claims of an OpenID Connect ID token to an account.

The protocol (discovery, PKCE, the token exchange, the ID token's signature, issuer, audience,
expiry and nonce) is `web/oidc.py`; this module sees only claims that passed it.

* An account is found by its provider's issuer and `sub`, which the provider never reassigns;
  never by e-mail or user name (a second provider, or a renamed person, must not take over an
  account).
* The first sign-in creates the account: its role from `[sso] roles_claim` through `[sso.roles]`
  (the strongest mapped value wins), its teams from `teams_claim` (values that are no configured
  team are ignored). No mapped role: refused, nothing created. Such an account has no usable
  password (`NO_PASSWORD`), so the password form refuses it.
* Every later sign-in takes role and teams from the claims again (audited when they change); a
  claim that maps to no role any more is refused, as is a deactivated account.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.model import HotlineConfig, Sso
from foundation import audit
from foundation.clock import utcnow
from foundation.errors import Invalid
from foundation.i18n import N_
from foundation.models import Role, Team, User

# Not an argon2 hash: no password verifies against it (authenticate refuses such accounts).
NO_PASSWORD = "!sso"  # noqa: S105 - a marker, not a secret
STRENGTH = (Role.COUNSELLOR, Role.COORDINATOR, Role.ADMIN)
NO_ROLE = N_(
    "Ihr Konto beim Anmeldedienst hat keine Rolle für die hotline. Bitte wenden Sie sich an "
    "die Administration Ihrer Organisation."
)
DEACTIVATED = N_("Dieses Konto ist deaktiviert. Bitte wenden Sie sich an die Administration.")
BUSY = N_("Die Anmeldung ist gerade nicht möglich. Bitte versuchen Sie es noch einmal.")
_NAME = re.compile(r"[^a-z0-9._@-]+")


@dataclass(frozen=True, slots=True)
class Identity:
    """What the claims of one sign-in say, mapped: who (issuer, subject), the name a new
    account gets, its role (None: no claim value maps to one) and its teams."""

    issuer: str
    subject: str
    username: str
    role: Role | None
    teams: tuple[str, ...]


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list | tuple):
        return [value for value in claim if isinstance(value, str)]
    return []


def identity(config: HotlineConfig, claims: Mapping[str, Any]) -> Identity:
    """The identity in verified ID token claims (pure). Raises Invalid without `iss`/`sub`."""
    sso: Sso = config.sso
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not issuer or not subject:
        raise Invalid(N_("Der Anmeldedienst hat keine gültige Kennung geschickt."))
    mapped = {Role(sso.roles[value]) for value in _values(claims.get(sso.roles_claim))
              if value in sso.roles}  # fmt: skip
    role = max(mapped, key=STRENGTH.index) if mapped else None
    teams = tuple(
        dict.fromkeys(
            value for value in _values(claims.get(sso.teams_claim)) if value in config.teams
        )
    )
    wanted = claims.get(sso.username_claim)
    name = _NAME.sub("-", wanted.strip().lower()).strip("-")[:60] if isinstance(wanted, str) else ""
    return Identity(issuer, subject, name, role, teams)


def _free_name(session: Session, who: Identity) -> str:
    """The claimed name, or with a suffix from the subject when it is taken (never reused)."""
    suffix = hashlib.sha256(f"{who.issuer}\x00{who.subject}".encode()).hexdigest()[:8]
    for candidate in (who.username, f"{who.username or 'sso'}-{suffix}"):
        taken = session.scalar(select(User.id).where(func.lower(User.username) == candidate))
        if candidate and taken is None:
            return candidate
    raise Invalid(N_("Für dieses Konto ließ sich kein freier Benutzername finden."))


def _teams(session: Session, slugs: Sequence[str]) -> list[Team]:
    found = session.scalars(select(Team).where(Team.slug.in_(slugs))).all()
    return sorted(found, key=lambda team: team.slug)


def _state(user: User) -> dict[str, Any]:
    return {"role": user.role.value, "teams": [team.slug for team in user.teams]}


def _find(session: Session, who: Identity) -> User | None:
    return session.scalar(
        select(User).where(User.sso_issuer == who.issuer, User.sso_subject == who.subject)
    )


def _create(session: Session, who: Identity, role: Role) -> User | None:
    """The new account of `who`; None when a sign-in at the same moment (the same person in a
    second tab, or another who wants the name) created its row first (nothing is left over)."""
    user = User(
        username=_free_name(session, who),
        password_hash=NO_PASSWORD,
        role=role,
        active=True,
        sso_issuer=who.issuer,
        sso_subject=who.subject,
    )
    user.teams = _teams(session, who.teams)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        return None
    audit.record(
        session,
        f"sso:{user.username}",
        "create",
        "user",
        user.id,
        after={"username": user.username, "via": "sso", **_state(user)},
    )
    return user


def sign_in(
    session: Session, config: HotlineConfig, claims: Mapping[str, Any], now: datetime | None = None
) -> User:
    """The account of these verified claims, created or brought up to date with them; raises
    Invalid (a German message) when it may not sign in. Audited as the account itself."""
    now = now or utcnow()
    who = identity(config, claims)
    user = _find(session, who)
    if user is not None and not user.active:
        raise Invalid(DEACTIVATED)
    if who.role is None:
        raise Invalid(NO_ROLE)
    if user is None:
        # Lost the race: the other sign-in's account is this person's, or the name was taken
        # (the next try picks a free one).
        found = _create(session, who, who.role) or _find(session, who)
        user = found or _create(session, who, who.role)
        if user is None:
            raise Invalid(BUSY)
    else:
        before = _state(user)
        user.role = who.role
        user.teams = _teams(session, who.teams)
        after = _state(user)
        if after != before:
            audit.record(
                session, f"sso:{user.username}", "sso_update", "user", user.id,
                before=before, after=after,
            )  # fmt: skip
    user.last_login_at = now
    session.flush()
    return user
