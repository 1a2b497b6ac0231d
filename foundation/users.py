"""Web accounts: creation, password policy, sign-in with throttling.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change). The
policy follows NIST SP 800-63B: at least 8 characters, no composition rules, and refused if it is
a commonly used password (zxcvbn's list of the 30,000 most common, plus German favourites).
Sign-in answers the same for an unknown user and a wrong password, and takes the same time; an
account that single sign-on created (`foundation.sso`) has no password and gets that answer too.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import audit
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import LoginAttempt, Role, User
from foundation.teams import team_by_slug

# The languages of the staff pages (catalogues in web/locale/), German first: the default.
LOCALES = ("de", "en")
DEFAULT_LOCALE = LOCALES[0]
MIN_LENGTH = 8
MAX_LENGTH = 256
# Throttling: after FREE_FAILURES failures for one (username, address), each further attempt
# must wait twice as long as the one before, up to MAX_DELAY. A correct password from another
# address is never delayed, so an attacker cannot lock a real user out.
FREE_FAILURES = 5
MAX_DELAY = timedelta(minutes=5)
FAILURE_MEMORY = timedelta(hours=1)
GERMAN_FAVOURITES = frozenset(
    {
        "passwort", "passwort1", "passwort123", "hallo123", "hallo1234", "schatz", "schatz123",
        "geheim", "geheim123", "sommer2026", "winter2026", "fussball", "fußball", "ichliebedich",
        "konex123", "beratung", "hotline123", "stuttgart", "deutschland", "qwertz", "qwertz123",
        "123456789", "1234567890", "asdfghjk", "berlin123", "muenchen", "bayern1900",
    }
)  # fmt: skip

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("an unguessable dummy password, used only to burn the same time")


class ThrottledError(Exception):
    def __init__(self, wait: timedelta) -> None:
        super().__init__(f"wait {wait.total_seconds():.0f} s")
        self.wait = wait


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | GERMAN_FAVOURITES


def password_problem(password: str, username: str = "") -> str | None:
    """A German explanation of why `password` is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Das Passwort muss mindestens {MIN_LENGTH} Zeichen lang sein."
    if len(password) > MAX_LENGTH:
        return f"Das Passwort darf höchstens {MAX_LENGTH} Zeichen lang sein."
    lowered = password.lower()
    if lowered in _common() or (username and lowered == username.lower()):
        return N_(
            "Dieses Passwort ist zu verbreitet oder leicht zu erraten. "
            "Bitte wählen Sie ein anderes."
        )
    return None


# The password hash of an invited account: no password matches it (argon2 refuses to read it)
# until the invitation's link sets one (`foundation.accounts`).
NO_PASSWORD = "!invited"  # noqa: S105 - not a password: matches none


@dataclass(frozen=True, slots=True)
class NewUser:
    """`password` None: an invited account, which cannot sign in until it sets one."""

    username: str
    password: str | None
    role: Role
    teams: Sequence[str] = ()
    counsellor_id: int | None = None
    email: str | None = None


TAKEN = N_("Diesen Benutzernamen gibt es schon.")


def lookalike_free(name: str) -> bool:
    """Whether a user name reads as what it is: no invisible or control character (a zero-width
    space, a soft hyphen, a bidi override) and nothing NFKC folds into other letters (the
    fullwidth "ｃｈｅｆ"), so no new account passes for an existing one on a page or in the
    audit log."""
    return name.isprintable() and unicodedata.normalize("NFKC", name) == name


def create_user(session: Session, config: HotlineConfig, new: NewUser, *, actor: str) -> User:
    username = new.username.strip().lower()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise Invalid(N_("Benutzername: 1 bis 100 Zeichen ohne Leerzeichen."), field="username")
    if not lookalike_free(username):
        raise Invalid(N_("Der Benutzername enthält ein unzulässiges Zeichen."), field="username")
    problem = None if new.password is None else password_problem(new.password, username)
    if problem:
        raise Invalid(problem, field="password")
    if session.scalar(select(User.id).where(func.lower(User.username) == username)):
        raise Conflict(TAKEN, field="username")
    user = User(
        username=username,
        password_hash=NO_PASSWORD if new.password is None else _hasher.hash(new.password),
        role=new.role,
        counsellor_id=new.counsellor_id,
        email=new.email,
        active=True,
    )
    user.teams = [team_by_slug(session, slug, config) for slug in dict.fromkeys(new.teams)]
    try:
        with session.begin_nested():  # the same name created at the same moment (a double click)
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(TAKEN, field="username") from exc
    audit.record(
        session,
        actor,
        "create",
        "user",
        user.id,
        after={"username": username, "role": new.role.value, "teams": list(new.teams)},
    )
    return user


def set_password(session: Session, user: User, password: str, *, actor: str) -> None:
    problem = password_problem(password, user.username)
    if problem:
        raise Invalid(problem, field="password")
    user.password_hash = _hasher.hash(password)
    audit.record(session, actor, "set_password", "user", user.id)  # never the password itself


def set_locale(session: Session, user_id: int, locale: str, *, actor: str) -> None:
    """The language of the pages for the account: one of LOCALES, else Invalid."""
    if locale not in LOCALES:
        raise Invalid(N_("Bitte eine der angebotenen Sprachen wählen."), field="locale")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Dieses Konto gibt es nicht.")
    if user.locale != locale:
        before = {"locale": user.locale}
        user.locale = locale
        audit.record(
            session, actor, "set_locale", "user", user.id, before=before, after={"locale": locale}
        )


def password_matches(user: User, password: str) -> bool:
    """Whether `password` is this account's (an invited account has none)."""
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _throttle_key(username: str, address: str) -> str:
    return hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()


def _delay(failures: int) -> timedelta:
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)))


def locked_attempt(session: Session, key: str, now: datetime) -> LoginAttempt:
    """The throttle's row under `key`, created (no failures) if missing, locked for this
    transaction. INSERT … ON CONFLICT DO NOTHING: of two transactions counting a new key at
    once, the second waits for the first and then counts on, instead of failing on commit."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(LoginAttempt)
        .values(key_hash=key, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )
    for _ in range(5):  # again when the transaction waited for deleted it (a right password)
        session.execute(statement)
        found = session.get(LoginAttempt, key, with_for_update=True, populate_existing=True)
        if found is not None:
            return found
    raise ThrottledError(timedelta(seconds=1))  # rights and wrongs racing: try again shortly


def throttle(session: Session, key: str, now: datetime) -> LoginAttempt:
    """The failures remembered under `key` (a hash), locked for this transaction. Raises
    ThrottledError while the next attempt must wait."""
    attempt = locked_attempt(session, key, now)
    if now - attempt.last_failure_at > FAILURE_MEMORY:
        attempt.failures = 0
    delay = _delay(attempt.failures)
    # No delay, no wait: a transaction that waited for the row may hold an older `now`.
    wait = attempt.last_failure_at + delay - now
    if delay and wait > timedelta(0):
        raise ThrottledError(wait)
    return attempt


def record_failure(session: Session, key: str, attempt: LoginAttempt | None, now: datetime) -> None:
    """One more failure under `key` (`attempt`: what `throttle` found)."""
    if attempt is None:
        attempt = LoginAttempt(key_hash=key, failures=0)
        session.add(attempt)
    attempt.failures += 1
    attempt.last_failure_at = now


def authenticate(
    session: Session, username: str, password: str, address: str, now: datetime | None = None
) -> User | None:
    """The active user with this username and password, or None (the same for every kind of
    failure). Raises ThrottledError while the (username, address) pair must wait."""
    now = now or utcnow()
    key = _throttle_key(username, address)
    attempt = throttle(session, key, now)
    name = username.strip().lower()
    # No account has a NUL in its name (PostgreSQL could not even compare one): a wrong name.
    user = (
        None
        if "\x00" in name
        else session.scalar(select(User).where(func.lower(User.username) == name))
    )
    # An account of single sign-on has no password: the same time and answer as a wrong one.
    local = user is not None and user.sso_subject is None
    stored = user.password_hash if user is not None and local else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
        valid = user is not None and local and user.active
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid or user is None:
        record_failure(session, key, attempt, now)
        return None
    if attempt is not None:
        session.delete(attempt)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    return user


def forget_old_attempts(session: Session, now: datetime | None = None) -> None:
    cutoff = (now or utcnow()) - FAILURE_MEMORY - MAX_DELAY
    session.execute(delete(LoginAttempt).where(LoginAttempt.last_failure_at < cutoff))
