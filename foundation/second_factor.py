"""The second factor of web accounts: TOTP (RFC 6238, 6 digits, 30-second steps) and ten
one-time recovery codes.

* The secret is sealed at rest (`foundation.crypto`, covered by `hotline rekey`). An enrolment
  starts with a new secret that is shown once (QR code and text) and counts only when a code
  made from it is confirmed; then the secret is never shown again.
* A code is accepted once: the time step of the last accepted code is remembered per account
  and only later steps count. One step of clock drift either way is accepted.
* Recovery codes are random (about 59 bits), shown once, stored as SHA-256, each usable once.
* Wrong codes are throttled per account as wrong passwords are (`users.throttle`): after
  `users.FREE_FAILURES` each attempt waits twice as long as the one before.
* Which roles need it is configured (`[accounts] second_factor`); in simulation mode outside
  production it is not enforced, so the demo signs in in one step.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit, crypto, users
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import RecoveryCode, Role, SecondFactor, User

ISSUER = "konex hotline"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
_RECOVERY_LENGTH = 12
MAX_INPUT = 64
WRONG = N_("Der Code ist falsch oder schon verwendet. Bitte versuchen Sie es erneut.")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A secret not yet confirmed: what an authenticator app needs, shown once."""

    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class Status:
    enrolled: bool
    recovery_left: int


def enforced(settings: Settings) -> bool:
    """False in simulation mode outside production: the demo and local tries sign in in one
    step, whatever the configuration requires."""
    return settings.production or not settings.simulation


def required(settings: Settings, role: Role) -> bool:
    """The configuration requires a second factor for this role (enforced or not)."""
    return role.value in settings.config.accounts.second_factor


def must_enrol(settings: Settings, user: User, enrolled: bool) -> bool:
    """An account that may open no page before it has enrolled. Never one of single sign-on:
    it relies on the provider's own second factor, and is never asked for a local code."""
    local = user.sso_subject is None
    return local and not enrolled and enforced(settings) and required(settings, user.role)


def status(session: Session, user_id: int) -> Status:
    factor = session.get(SecondFactor, user_id)
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return Status(factor is not None and factor.confirmed_at is not None, left or 0)


def enrolled(session: Session, user_id: int) -> bool:
    return status(session, user_id).enrolled


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Dieses Konto gibt es nicht.")
    return user


def _enrolment(settings: Settings, user: User, factor: SecondFactor) -> Enrolment:
    secret = crypto.box(settings).open(factor.secret_enc)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def start(session: Session, settings: Settings, user_id: int, *, actor: str) -> Enrolment:
    """A new secret for the account, waiting for its first code (replaces one waiting)."""
    user = _user(session, user_id)
    factor = session.get(SecondFactor, user_id, with_for_update=True)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict(N_("Die Zwei-Faktor-Anmeldung ist schon eingerichtet."))
    sealed = crypto.box(settings).seal(pyotp.random_base32())
    if factor is None:
        factor = SecondFactor(user_id=user_id, secret_enc=sealed)
        session.add(factor)
    else:
        factor.secret_enc, factor.last_step = sealed, None
    session.flush()
    audit.record(session, actor, "second_factor_start", "user", user_id)
    return _enrolment(settings, user, factor)


def waiting(session: Session, settings: Settings, user_id: int) -> Enrolment | None:
    """The enrolment started and not yet confirmed, or None."""
    factor = session.get(SecondFactor, user_id)
    if factor is None or factor.confirmed_at is not None:
        return None
    return _enrolment(settings, _user(session, user_id), factor)


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _normalised(code: str) -> str:
    return "".join(c for c in code[:MAX_INPUT].lower() if c.isascii() and c.isalnum())


def _totp_step(secret: str, code: str, last: int | None, now: datetime) -> int | None:
    """The time step `code` belongs to, if it is a fresh one within the drift; else None."""
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        fresh = last is None or step > last
        if fresh and crypto.same(code, totp.generate_otp(step)):
            return step
    return None


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(f"recovery\x00{_normalised(code)}".encode()).hexdigest()


def _new_recovery_codes(session: Session, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        plain = "".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(plain[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
        session.add(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(plain)))
    return codes


def confirm(
    session: Session,
    settings: Settings,
    user_id: int,
    code: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> list[str]:
    """Confirm the waiting enrolment with a code of its secret; returns the ten recovery codes
    (the only time they exist in clear). Raises Invalid for a wrong code."""
    now = now or utcnow()
    factor = session.get(SecondFactor, user_id, with_for_update=True)
    if factor is None or factor.confirmed_at is not None:
        raise Conflict(N_("Es wartet keine Einrichtung auf ihren Code. Bitte beginnen Sie neu."))
    secret = crypto.box(settings).open(factor.secret_enc)
    step = _totp_step(secret, _normalised(code), factor.last_step, now)
    if step is None:
        raise Invalid(WRONG, field="code")
    factor.confirmed_at, factor.last_step = now, step
    codes = _new_recovery_codes(session, user_id)
    audit.record(session, actor, "second_factor_enrol", "user", user_id)
    return codes


def _key(user_id: int) -> str:
    return hashlib.sha256(f"second-factor\x00{user_id}".encode()).hexdigest()


def check(
    session: Session,
    settings: Settings,
    user_id: int,
    code: str,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether `code` (a TOTP code or an unused recovery code) is right for the enrolled
    account; a right one is used up, a wrong one counted. Raises users.ThrottledError while
    the account must wait after wrong codes."""
    now = now or utcnow()
    key = _key(user_id)
    attempt = users.throttle(session, key, now)
    factor = session.get(SecondFactor, user_id, with_for_update=True)
    if factor is None or factor.confirmed_at is None:
        return False
    given = _normalised(code)
    secret = crypto.box(settings).open(factor.secret_enc)
    step = _totp_step(secret, given, factor.last_step, now) if len(given) == 6 else None
    if step is not None:
        factor.last_step = step
    elif not _use_recovery_code(session, user_id, given, now):
        users.record_failure(session, key, attempt, now)
        return False
    if attempt is not None:
        session.delete(attempt)
    return True


def _use_recovery_code(session: Session, user_id: int, given: str, now: datetime) -> bool:
    if len(given) != _RECOVERY_LENGTH:
        return False
    found = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _recovery_hash(given),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if found is None:
        return False
    found.used_at = now
    user = _user(session, user_id)
    actor = f"user:{user.id} {user.username}"  # as foundation.access names her
    audit.record(session, actor, "second_factor_recovery_code", "user", user_id)
    return True


def replace_recovery_codes(
    session: Session, settings: Settings, user_id: int, code: str, *, actor: str
) -> list[str] | None:
    """Ten new recovery codes (the old ones no longer work), for a right current code; None
    for a wrong one. That is counted by the throttle, so the caller commits it rather than
    rolling it back (raising would let a stolen session guess without limit)."""
    if not check(session, settings, user_id, code):
        return None
    codes = _new_recovery_codes(session, user_id)
    audit.record(session, actor, "second_factor_recovery_codes", "user", user_id)
    return codes


def _remove(session: Session, user_id: int) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.execute(delete(SecondFactor).where(SecondFactor.user_id == user_id))


def disable(session: Session, settings: Settings, user: User, code: str, *, actor: str) -> bool:
    """The account's own choice to sign in without a second factor, for a right current code;
    refused where the configuration requires one. False for a wrong code, counted by the
    throttle (the caller commits it, as for `replace_recovery_codes`)."""
    if enforced(settings) and required(settings, user.role):
        raise Conflict(
            N_(
                "Für Ihre Rolle ist die Zwei-Faktor-Anmeldung vorgeschrieben: "
                "Sie kann nicht abgeschaltet werden."
            )
        )
    if not check(session, settings, user.id, code):
        return False
    _remove(session, user.id)
    audit.record(session, actor, "second_factor_disable", "user", user.id)
    return True


def reset(session: Session, user_id: int, *, actor: str) -> str:
    """An admin's reset of a lost second factor: the account signs in with its password alone
    and, where one is required, enrols again first. Returns the account's name."""
    user = _user(session, user_id)
    if session.get(SecondFactor, user_id) is None:
        raise Conflict(f"Das Konto {user.username} hat keine Zwei-Faktor-Anmeldung.")
    _remove(session, user_id)
    audit.record(session, actor, "second_factor_reset", "user", user_id)
    return user.username


def reset_named(session: Session, username: str, *, actor: str) -> str:
    """`reset` of the account with this name (`hotline user reset-2fa`)."""
    name = username.strip().lower()
    user_id = session.scalar(select(User.id).where(func.lower(User.username) == name))
    if user_id is None:
        raise NotFound(f"Das Konto {name} gibt es nicht.")
    return reset(session, user_id, actor=actor)
