"""Managing web accounts: invitations, roles and teams, deactivation, sessions, and password
changes and resets through one-time links. (Creating an account with a password, the password
policy and sign-in are `foundation.users`.)

* A one-time link carries 256 random bits; `account_tokens` keeps only their SHA-256. It works
  once, until its expiry (an invitation INVITE_VALID, a reset RESET_VALID), for an active
  account; a new link of the same kind replaces the old one. Setting a password through one
  ends every session of the account and every other link.
* "Passwort vergessen" mails only to the account's own address (admins set it), never to the
  linked counsellor's, which coordinators edit; it answers the same whether or not the account
  exists. It is throttled in
  the database, in the rows of the sign-in throttle (`login_attempts`, keys hashed): at most
  RESET_PER_ADDRESS requests per client address (the refusal says so: it tells nothing about
  an account) and RESET_PER_ACCOUNT links per account (further requests send nothing, silently)
  in RESET_WINDOW.
* The last active admin can be neither deactivated nor given another role.
* Every change is in the audit log, never a password or a token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation import audit, text, users
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import (
    AccountToken,
    Channel,
    Counsellor,
    Role,
    Team,
    User,
    WebSession,
)
from foundation.outgoing import Outgoing
from foundation.teams import team_by_slug

INVITE, RESET = "invite", "reset"
INVITE_VALID = timedelta(days=7)
RESET_VALID = timedelta(minutes=30)
RESET_WINDOW = timedelta(hours=1)
RESET_PER_ACCOUNT = 3
RESET_PER_ADDRESS = 10
EMAIL_LENGTH = 320
BAD_LINK = N_("Dieser Link ist ungültig, abgelaufen oder wurde schon benutzt.")
LAST_ADMIN = N_(
    "Das ist das letzte aktive Konto mit Administration: Es kann weder deaktiviert werden "
    "noch eine andere Rolle bekommen."
)


def unprintable(value: str) -> bool:
    """Whether `value` holds a character no name or address may hold: a control character
    or a bidi override (`foundation.text`)."""
    return text.refused(value)


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def clean_email(raw: str | None) -> str | None:
    """An e-mail address (lower-cased domain), None for an empty one; Invalid otherwise."""
    text = (raw or "").strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(text) > EMAIL_LENGTH
        or unprintable(text)
        or any(c.isspace() for c in text)
    ):
        raise Invalid(N_("Bitte eine gültige E-Mail-Adresse angeben."), field="email")
    return f"{local}@{domain.lower()}"


def mail_address(session: Session, user: User) -> str | None:
    """Where an account's links go: its own address, else its linked counsellor's."""
    if user.email:
        return user.email
    counsellor = session.get(Counsellor, user.counsellor_id) if user.counsellor_id else None
    return counsellor.email if counsellor is not None else None


def _account(session: Session, user_id: int, *, lock: bool = False) -> User:
    user = session.get(User, user_id, with_for_update=lock) if user_id > 0 else None
    if user is None:
        raise NotFound("Dieses Konto gibt es nicht.", field="user")
    return user


def _other_active_admins(session: Session, user: User) -> int:
    others = select(User.id).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
    )
    return len(session.scalars(others.with_for_update()).all())


def _check_counsellor(session: Session, counsellor_id: int | None) -> None:
    if counsellor_id is not None and session.get(Counsellor, counsellor_id) is None:
        raise Invalid(N_("Diese Beraterin oder diesen Berater gibt es nicht."), field="counsellor")


def _teams(session: Session, config: HotlineConfig, slugs: Sequence[str]) -> list[Team]:
    try:
        return [team_by_slug(session, slug, config) for slug in dict.fromkeys(slugs)]
    except NotFound as exc:
        raise Invalid(N_("Dieses Team gibt es nicht."), field="teams") from exc


def _state(user: User) -> dict[str, object]:
    return {
        "role": user.role.value,
        "teams": [team.slug for team in user.teams],
        "counsellor_id": user.counsellor_id,
        "email": bool(user.email),  # whether one is set: the address is personal data
        "active": user.active,
    }


# --- one-time links -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A one-time link just issued: where it goes and its secret (never stored)."""

    user_id: int
    username: str
    token: str
    expires_at: datetime
    to: str | None  # the e-mail address, None when the account has none


def _issue(session: Session, user: User, purpose: str, now: datetime) -> Link:
    session.execute(
        delete(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
    )
    plain = secrets.token_urlsafe(32)  # 256 bits
    expires = now + (INVITE_VALID if purpose == INVITE else RESET_VALID)
    session.add(
        AccountToken(
            token_hash=_digest(plain),
            user_id=user.id,
            purpose=purpose,
            created_at=now,
            expires_at=expires,
        )
    )
    # A reset goes to the account's own address only, which only admins set: the linked
    # counsellor's is edited by her team's coordinators, who must not receive her link.
    to = user.email if purpose == RESET else mail_address(session, user)
    return Link(user.id, user.username, plain, expires, to)


def _valid_token(
    session: Session, plain: str, purpose: str, now: datetime, *, lock: bool = False
) -> AccountToken | None:
    if not plain or len(plain) > 100 or not plain.isascii() or unprintable(plain):
        return None
    query = select(AccountToken).where(AccountToken.token_hash == _digest(plain))
    token = session.scalar(query.with_for_update() if lock else query)
    if token is None or token.purpose != purpose or token.used_at is not None:
        return None
    if now >= token.expires_at:
        return None
    user = session.get(User, token.user_id)
    return token if user is not None and user.active else None


def link_account(
    session: Session, plain: str, purpose: str, now: datetime | None = None
) -> str | None:
    """The username a one-time link of `purpose` is for, None if it does not work (any reason)."""
    token = _valid_token(session, plain, purpose, now or utcnow())
    return session.get(User, token.user_id).username if token else None  # type: ignore[union-attr]


def set_password_by_link(
    session: Session, plain: str, purpose: str, password: str, now: datetime | None = None
) -> User:
    """Set the account's password through a one-time link, which is then used up; every
    session of the account ends, and every other link of it. Invalid: a link that does not
    work (`field` "token") or a password the policy refuses (nothing changes)."""
    now = now or utcnow()
    token = _valid_token(session, plain, purpose, now, lock=True)
    if token is None:
        raise Invalid(BAD_LINK, field="token")
    user = _account(session, token.user_id)
    actor = f"user:{user.id} {user.username}"
    users.set_password(session, user, password, actor=actor)
    token.used_at = now
    session.execute(
        delete(AccountToken).where(AccountToken.user_id == user.id, AccountToken.id != token.id)
    )
    ended = _end_sessions(session, user.id)
    audit.record(
        session, actor, f"{purpose}_used", "user", user.id, after={"sessions_ended": ended}
    )
    return user


def forget_used_tokens(session: Session, now: datetime | None = None) -> None:
    """Delete links that can no longer be used."""
    now = now or utcnow()
    session.execute(delete(AccountToken).where(AccountToken.expires_at < now))


# --- accounts (admins) --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    role: Role
    teams: Sequence[str] = ()
    counsellor_id: int | None = None
    email: str | None = None


def invite(session: Session, config: HotlineConfig, new: NewAccount, *, actor: str) -> Link:
    """A new account without a password, and the invitation link that sets one."""
    if unprintable(new.username):
        raise Invalid(N_("Der Benutzername enthält ein unzulässiges Zeichen."), field="username")
    email = clean_email(new.email)
    _check_counsellor(session, new.counsellor_id)
    _teams(session, config, new.teams)
    user = users.create_user(
        session,
        config,
        users.NewUser(new.username, None, new.role, new.teams, new.counsellor_id, email),
        actor=actor,
    )
    link = _issue(session, user, INVITE, utcnow())
    audit.record(session, actor, "invite", "user", user.id, after={"mailed": link.to is not None})
    return link


def reinvite(session: Session, user_id: int, *, actor: str) -> Link:
    """A new invitation link (the old one stops working), e.g. when the first was lost."""
    user = _account(session, user_id)
    if not user.active:
        raise Conflict(N_("Das Konto ist deaktiviert."), field="user")
    link = _issue(session, user, INVITE, utcnow())
    audit.record(session, actor, "invite", "user", user.id, after={"mailed": link.to is not None})
    return link


@dataclass(frozen=True, slots=True)
class AccountChange:
    role: Role
    teams: Sequence[str] = ()
    counsellor_id: int | None = None
    email: str | None = None


def change(
    session: Session, config: HotlineConfig, user_id: int, new: AccountChange, *, actor: str
) -> User:
    user = _account(session, user_id, lock=True)
    email = clean_email(new.email)
    _check_counsellor(session, new.counsellor_id)
    teams = _teams(session, config, new.teams)
    if (
        user.role is Role.ADMIN
        and new.role is not Role.ADMIN
        and user.active
        and not _other_active_admins(session, user)
    ):
        raise Conflict(LAST_ADMIN, field="role")
    before = _state(user)
    user.role, user.counsellor_id, user.email = new.role, new.counsellor_id, email
    user.teams = teams
    session.flush()
    after = _state(user)
    if after != before:
        audit.record(session, actor, "update", "user", user.id, before=before, after=after)
    return user


def set_active(session: Session, user_id: int, active: bool, *, actor: str) -> User:
    """Deactivate (every session and link ends; it cannot sign in) or reactivate an account."""
    user = _account(session, user_id, lock=True)
    if user.active == active:
        return user
    if not active and user.role is Role.ADMIN and not _other_active_admins(session, user):
        raise Conflict(LAST_ADMIN, field="active")
    user.active = active
    ended = 0
    if not active:
        ended = _end_sessions(session, user.id)
        session.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
    action = "reactivate" if active else "deactivate"
    audit.record(session, actor, action, "user", user.id, after={"sessions_ended": ended})
    return user


def list_accounts(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(func.lower(User.username))))


def account(session: Session, user_id: int) -> User:
    return _account(session, user_id)


def pending_invitation(session: Session, user_id: int, now: datetime | None = None) -> bool:
    """Whether the account still waits for its invitation to be used."""
    found = session.scalar(
        select(AccountToken.id).where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == INVITE,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > (now or utcnow()),
        )
    )
    return found is not None


# --- sessions -----------------------------------------------------------------------------------


def _end_sessions(session: Session, user_id: int, keep: str | None = None) -> int:
    query = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        query = query.where(WebSession.id_hash != keep)
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def sessions_of(session: Session, user_id: int) -> list[WebSession]:
    return list(
        session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id)
            .order_by(WebSession.last_seen_at.desc())
        )
    )


def end_sessions(session: Session, user_id: int, *, actor: str, keep: str | None = None) -> int:
    """End every session of the account (but `keep`, the asker's own); how many ended."""
    _account(session, user_id)
    ended = _end_sessions(session, user_id, keep)
    audit.record(session, actor, "end_sessions", "user", user_id, after={"ended": ended})
    return ended


def end_own_session(session: Session, user_id: int, id_hash: str, *, actor: str) -> None:
    """End one session of one's own (another browser); NotFound if it is not one."""
    found = session.get(WebSession, id_hash) if len(id_hash) == 64 and id_hash.isascii() else None
    if found is None or found.user_id != user_id:
        raise NotFound(N_("Diese Anmeldung gibt es nicht (mehr)."), field="session")
    session.delete(found)
    audit.record(session, actor, "end_session", "user", user_id)


# --- one's own password -------------------------------------------------------------------------


WRONG_CURRENT = N_("Das bisherige Passwort stimmt nicht.")


def change_own_password(
    session: Session,
    user_id: int,
    current: str,
    new: str,
    *,
    keep: str,
    now: datetime | None = None,
) -> int | None:
    """Change one's password (the current one required); every other session ends. Returns
    how many ended; None for a wrong current password, which the sign-in's throttle counts
    (so the caller commits rather than rolls back: a stolen session cannot guess without
    limit). Raises users.ThrottledError while it must wait, Invalid for a refused new one."""
    now = now or utcnow()
    user = _account(session, user_id)
    key = _digest(f"password-change\x00{user.id}")
    attempt = users.throttle(session, key, now)
    if not users.password_matches(user, current[: users.MAX_LENGTH + 1]):
        users.record_failure(session, key, attempt, now)
        return None
    actor = f"user:{user.id} {user.username}"
    users.set_password(session, user, new, actor=actor)
    session.delete(attempt)
    ended = _end_sessions(session, user.id, keep)
    audit.record(session, actor, "end_sessions", "user", user.id, after={"ended": ended})
    return ended


# --- "Passwort vergessen" -----------------------------------------------------------------------


def _count(session: Session, key: str, now: datetime) -> int:
    """Count one more request under `key` in RESET_WINDOW; how many there were before it."""
    row = users.locked_attempt(session, _digest(key), now)
    if now - row.last_failure_at > RESET_WINDOW:
        row.failures, row.last_failure_at = 0, now
    before = row.failures
    row.failures += 1
    return before


def request_reset(
    session: Session, login: str, address: str, now: datetime | None = None
) -> Link | None:
    """A reset link for the active account named by `login` (its username or e-mail address)
    that has an address of its own to mail it to (not its linked counsellor's); None for every
    other case (unknown, no address, the account's limit reached). Raises
    users.ThrottledError when `address` asked too often."""
    now = now or utcnow()
    if _count(session, f"reset\x00address\x00{address}", now) >= RESET_PER_ADDRESS:
        raise users.ThrottledError(RESET_WINDOW)
    name = login.strip().lower()
    if not name or len(name) > EMAIL_LENGTH or unprintable(name):
        return None
    user = session.scalar(select(User).where(func.lower(User.username) == name))
    if user is None and "@" in name:
        matches = session.scalars(select(User).where(func.lower(User.email) == name)).all()
        user = matches[0] if len(matches) == 1 else None
    if user is None or not user.active or not user.email:
        return None
    if _count(session, f"reset\x00account\x00{user.id}", now) >= RESET_PER_ACCOUNT:
        return None
    link = _issue(session, user, RESET, now)
    audit.record(session, "password-forgotten", "reset_requested", "user", user.id)
    return link


# --- the e-mails --------------------------------------------------------------------------------


def link_url(settings: Settings, purpose: str, token: str) -> str:
    path = "invite" if purpose == INVITE else "password/reset"
    return f"{settings.public_url.rstrip('/')}/{path}/{token}"


def invitation_mail(settings: Settings, link: Link) -> Outgoing | None:
    if link.to is None:
        return None
    body = (
        f"Guten Tag,\n\nfür Sie wurde ein Konto „{link.username}“ bei konex hotline angelegt. "
        "Über diesen Link legen Sie Ihr Passwort fest (er gilt einmal, "
        f"{INVITE_VALID.days} Tage lang):\n\n{link_url(settings, INVITE, link.token)}\n\n"
        "Wenn Sie kein Konto erwarten, ignorieren Sie diese Nachricht bitte.\n"
    )
    return Outgoing(
        Channel.EMAIL, link.to, body, "account invitation", subject="Ihr Konto bei konex hotline"
    )


def reset_mail(settings: Settings, link: Link) -> Outgoing | None:
    if link.to is None:
        return None
    minutes = int(RESET_VALID.total_seconds() // 60)
    body = (
        f"Guten Tag,\n\nfür das Konto „{link.username}“ wurde ein neues Passwort angefordert. "
        f"Über diesen Link legen Sie es fest (er gilt einmal, {minutes} Minuten lang; danach "
        f"sind alle Anmeldungen des Kontos beendet):\n\n"
        f"{link_url(settings, RESET, link.token)}\n\n"
        "Haben Sie nichts angefordert, ignorieren Sie diese Nachricht: Ihr Passwort bleibt, "
        "wie es ist.\n"
    )
    return Outgoing(Channel.EMAIL, link.to, body, "password reset", subject="Passwort zurücksetzen")
