"""Counsellors: the people who take calls. Deactivated, never deleted (history stays)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from config.languages import GERMAN, iso_639_1
from config.model import HotlineConfig
from config.phone import InvalidPhoneNumber, normalise
from foundation import audit
from foundation.errors import Invalid, NotFound
from foundation.models import Counsellor, Team
from foundation.teams import team_by_slug
from scheduling import cover


@dataclass(frozen=True, slots=True)
class NewCounsellor:
    name: str
    phone: str
    email: str | None
    teams: tuple[str, ...]
    # Shift notices (scheduling.notices) by SMS to `phone` and/or by e-mail to `email`.
    notify_sms: bool = True
    notify_email: bool = False
    # The languages she can counsel in, ISO 639-1 codes (`counsellor_languages` checks them).
    languages: tuple[str, ...] = (GERMAN,)


# More languages than anyone counsels in: a longer list is a mistake, not a polyglot.
MAX_LANGUAGES = 20


def counsellor_languages(given: Iterable[object]) -> list[str]:
    """The languages a counsellor counsels in, as stored: each an ISO 639-1 code that Babel
    names (upper case and surrounding spaces are forgiven: " DE" is "de"), in the order given,
    each once; at least one, at most MAX_LANGUAGES entries. Anything else is `Invalid`, naming
    the field `languages`."""
    entries = list(given)
    if not entries:
        raise Invalid('languages: at least one language (e.g. ["de"])', field="languages")
    if len(entries) > MAX_LANGUAGES:
        raise Invalid(f"languages: at most {MAX_LANGUAGES} languages", field="languages")
    codes: list[str] = []
    for entry in entries:
        code = entry.strip().lower() if isinstance(entry, str) else None
        if code not in iso_639_1():
            shown = repr(entry) if isinstance(entry, str) and len(entry) <= 10 else "an entry"
            raise Invalid(
                f'languages: {shown} is not an ISO 639-1 language code (two letters, e.g. "tr")',
                field="languages",
            )
        codes.append(code)
    return list(dict.fromkeys(codes))


def _checked(new: NewCounsellor) -> tuple[str, str, list[str]]:
    """The name, phone number (E.164) and languages to store, or `Invalid` naming the field."""
    name = new.name.strip()
    if not name:
        raise Invalid("name must not be empty", field="name")
    try:
        phone = normalise(new.phone)
    except InvalidPhoneNumber as exc:
        raise Invalid(f"phone: {exc}", field="phone") from exc
    if new.notify_email and not new.email:
        raise Invalid("e-mail notices need an e-mail address", field="notify_email")
    return name, phone, counsellor_languages(new.languages)


def create_counsellor(
    session: Session, config: HotlineConfig, new: NewCounsellor, *, actor: str
) -> Counsellor:
    name, phone, languages = _checked(new)
    teams = [team_by_slug(session, slug, config) for slug in dict.fromkeys(new.teams)]
    counsellor = Counsellor(
        name=name,
        phone=phone,
        email=new.email or None,
        active=True,
        notify_sms=new.notify_sms,
        notify_email=new.notify_email,
        languages=languages,
    )
    counsellor.teams = teams
    session.add(counsellor)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "counsellor",
        counsellor.id,
        after=_snapshot(counsellor),
    )
    return counsellor


def list_counsellors(
    session: Session, *, team: Team | None = None, active: bool | None = None
) -> list[Counsellor]:
    query = select(Counsellor).options(selectinload(Counsellor.teams)).order_by(Counsellor.name)
    if team is not None:
        query = query.where(Counsellor.teams.any(Team.id == team.id))
    if active is not None:
        query = query.where(Counsellor.active.is_(active))
    return list(session.scalars(query))


def _snapshot(counsellor: Counsellor) -> dict[str, object]:
    # The audit log records who is in which team and whether active; never the phone number.
    return {
        "name": counsellor.name,
        "teams": [team.slug for team in counsellor.teams],
        "active": counsellor.active,
        "email_set": counsellor.email is not None,
        "notify_sms": counsellor.notify_sms,
        "notify_email": counsellor.notify_email,
        "languages": list(counsellor.languages),
    }


def update_counsellor(
    session: Session, config: HotlineConfig, counsellor_id: int, new: NewCounsellor, *, actor: str
) -> Counsellor:
    counsellor = session.get(Counsellor, counsellor_id, with_for_update=True)
    if counsellor is None:
        raise NotFound(f"no counsellor with id {counsellor_id}")
    before = _snapshot(counsellor)
    name, phone, languages = _checked(new)
    counsellor.name = name
    counsellor.phone = phone
    counsellor.email = new.email or None
    counsellor.notify_sms = new.notify_sms
    counsellor.notify_email = new.notify_email
    # A new list, never the old one changed in place: the change is seen at flush (the call
    # answers' snapshots are dropped: foundation.signals.ROTA).
    if languages != counsellor.languages:
        counsellor.languages = languages
    counsellor.teams = [team_by_slug(session, slug, config) for slug in dict.fromkeys(new.teams)]
    session.flush()
    audit.record(
        session,
        actor,
        "update",
        "counsellor",
        counsellor.id,
        before=before,
        after=_snapshot(counsellor),
    )
    return counsellor


def set_active(session: Session, counsellor_id: int, active: bool, *, actor: str) -> Counsellor:
    """Deactivate (or reactivate). A deactivated counsellor keeps their history but is never
    rung: the rota skips their shifts."""
    counsellor = session.get(Counsellor, counsellor_id, with_for_update=True)
    if counsellor is None:
        raise NotFound(f"no counsellor with id {counsellor_id}")
    before = _snapshot(counsellor)
    if counsellor.active != active:
        cover.substitute_changed(session, counsellor.id)
    counsellor.active = active
    audit.record(
        session,
        actor,
        "activate" if active else "deactivate",
        "counsellor",
        counsellor.id,
        before=before,
        after=_snapshot(counsellor),
    )
    return counsellor
