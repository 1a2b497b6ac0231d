"""The client record: create, change, change its status, and the team's list.

A client belongs to one team; its pseudonym is unique in the team (compared without regard to
case) and is refused when it looks like a phone number, as an appointment's is. The number is
encrypted (`phone_enc`) with the keyed hash calls keep of a caller (`phone_hash`, purpose
"caller"); SMS consent needs a mobile number. The client's language (German by default) is
one her reminders can be written in (`[reminders.languages]`). Responsible counsellors are
active members of the team. Every use case asks the access policy itself
(`foundation.access.may_see_client`, `may_change_client`): a client the principal may not see
is answered like a missing one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.languages import GERMAN
from config.phone import masked_phone
from config.settings import Settings
from foundation import access, audit, crypto
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    Appointment,
    AppointmentStatus,
    Client,
    ClientCounsellor,
    ClientStatus,
    Counsellor,
    PreferredChannel,
    Team,
)
from foundation.teams import team_by_slug
from foundation.text import pseudonym_digest
from scheduling.appointments import check_language, check_phone, check_pseudonym

TAKEN = "the team already has a client with this pseudonym"
PHONE_PURPOSE = "caller"  # the keyed hash of a number, as hotline.voice_calls keeps a caller's


@dataclass(frozen=True, slots=True)
class NewClient:
    team: str  # the team's slug
    pseudonym: str
    phone: str | None = None
    sms_consent: bool = False
    relative: bool = False
    preferred_channel: PreferredChannel | None = None
    # The responsible counsellors; None: the creating account's own counsellor record, if it
    # is in the team.
    counsellor_ids: tuple[int, ...] | None = None
    language: str = GERMAN  # ISO 639-1: German or a language with reminder texts


@dataclass(frozen=True, slots=True)
class ClientEdit:
    """A client's details as a form or an API call sets them. The number stays as it is unless
    a new one is given (`phone`) or it is removed (`clear_phone`); the responsible counsellors
    too if `counsellor_ids` is None, and the language if `language` is None."""

    pseudonym: str
    sms_consent: bool = False
    relative: bool = False
    preferred_channel: PreferredChannel | None = None
    counsellor_ids: tuple[int, ...] | None = ()
    phone: str | None = None
    clear_phone: bool = False
    language: str | None = None


class ReadOnly(Invalid):
    """The principal sees the client but changes nothing (a read-only API key)."""


# --- access -------------------------------------------------------------------------------------


def visible(session: Session, client_id: int, by: Principal) -> Client:
    """The client, if `by` may see it; else NotFound (the answer for a missing one)."""
    client = session.get(Client, client_id) if client_id > 0 else None
    if client is None or not access.may_see_client(by, client.team_id):
        raise NotFound(f"no client with id {client_id}")
    return client


def changeable(session: Session, client_id: int, by: Principal) -> Client:
    """The client, locked, if `by` may change it; NotFound if she may not see it."""
    client = session.get(Client, client_id, with_for_update=True) if client_id > 0 else None
    if client is None or not access.may_see_client(by, client.team_id):
        raise NotFound(f"no client with id {client_id}")
    if not access.may_change_client(by, client.team_id):
        raise ReadOnly("this principal may not change the client")
    return client


# --- presentation (pure) ------------------------------------------------------------------------


def phone_of(box: crypto.Box, client: Client) -> str | None:
    """The number in clear (E.164), to copy into an appointment or dial; never for display."""
    return box.open(client.phone_enc) if client.phone_enc is not None else None


def masked(box: crypto.Box, client: Client) -> str | None:
    phone = phone_of(box, client)
    return masked_phone(phone) if phone else None


def snapshot(client: Client) -> dict[str, object]:
    """What the audit log keeps of a client: never the pseudonym or the number."""
    return {
        "team_id": client.team_id,
        "status": client.status.value,
        "phone": client.phone_enc is not None,
        "sms_consent": client.sms_consent,
        "relative": client.relative,
        "preferred_channel": client.preferred_channel.value if client.preferred_channel else None,
        "language": client.language,
        "counsellor_ids": sorted(c.id for c in client.counsellors),
        "review_on": client.review_on.isoformat() if client.review_on else None,
    }


# --- validation ---------------------------------------------------------------------------------


def _unique(session: Session, team_id: int, pseudonym: str, ignore: int | None = None) -> None:
    """Compared by the key (`foundation.text.pseudonym_digest`), not with SQL's `lower()`,
    which folds only ASCII on SQLite (and under PostgreSQL's C collation): "Ärger" and "ÄRGER"
    are one client. This names the conflict before the insert; the unique key
    (team_id, pseudonym_key) decides a race (`_save`)."""
    query = select(Client.id).where(
        Client.team_id == team_id, Client.pseudonym_key == pseudonym_digest(pseudonym)
    )
    if any(client_id != ignore for client_id in session.scalars(query)):
        raise Conflict(TAKEN, field="pseudonym")


def _counsellors(session: Session, team: Team, ids: Iterable[int]) -> list[Counsellor]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    members = {person.id: person for person in team.counsellors if person.active}
    missing = [i for i in wanted if i not in members]
    if missing:
        raise Invalid(
            f"not an active counsellor of the team: {', '.join(map(str, missing))}",
            field="counsellor_ids",
        )
    return [members[i] for i in wanted]


def _save(session: Session, client: Client) -> None:
    """Insert or flush the client; the database's unique key decides a race on the pseudonym."""
    try:
        with session.begin_nested():
            session.add(client)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(TAKEN, field="pseudonym") from exc


def _set_phone(settings: Settings, client: Client, phone: str | None) -> None:
    if phone is None:
        client.phone_enc = client.phone_hash = None
        return
    client.phone_enc = crypto.box(settings).seal(phone)
    client.phone_hash = crypto.keyed_hash(settings, PHONE_PURPOSE, phone)


# --- use cases ----------------------------------------------------------------------------------


def create(
    session: Session,
    settings: Settings,
    new: NewClient,
    *,
    by: Principal,
    now: datetime | None = None,
) -> Client:
    """A new client of the team, status first contact."""
    config = settings.config
    team = team_by_slug(session, new.team, config)
    if not access.may_see_client(by, team.id):
        raise Invalid(f"this principal may not create clients of team {new.team!r}", field="team")
    if not access.may_change_client(by, team.id):
        raise ReadOnly("this principal may not create clients")
    pseudonym = check_pseudonym(new.pseudonym, prefix="")
    phone = check_phone(new.phone, new.sms_consent, prefix="")
    language = check_language(config, new.language, field="language")
    _unique(session, team.id, pseudonym)
    ids = new.counsellor_ids
    if ids is None:
        own = by.counsellor_id
        ids = (own,) if own is not None and own in {c.id for c in team.counsellors} else ()
    people = _counsellors(session, team, ids)
    at = now or utcnow()
    client = Client(
        team_id=team.id,
        pseudonym=pseudonym,
        sms_consent=phone is not None and new.sms_consent,
        relative=new.relative,
        preferred_channel=new.preferred_channel,
        language=language,
        status=ClientStatus.FIRST_CONTACT,
        status_changed_at=at,
        created_at=at,
    )
    _set_phone(settings, client, phone)
    client.counsellors = people
    _save(session, client)
    audit.record(session, by.actor, "create", "client", client.id, after=snapshot(client))
    return client


def update(
    session: Session, settings: Settings, client_id: int, edit: ClientEdit, *, by: Principal
) -> Client:
    """Change a client's details (not the status: `change_status`)."""
    client = changeable(session, client_id, by)
    pseudonym = check_pseudonym(edit.pseudonym, prefix="")
    if edit.clear_phone:
        phone = check_phone(None, edit.sms_consent, prefix="")
    elif edit.phone is not None and edit.phone.strip():
        phone = check_phone(edit.phone, edit.sms_consent, prefix="")
    else:
        phone = phone_of(crypto.box(settings), client)
        if edit.sms_consent:
            phone = check_phone(phone, True, prefix="")
    # The same language again is kept even if the configuration no longer has its texts.
    language = client.language
    if edit.language is not None and edit.language != client.language:
        language = check_language(settings.config, edit.language, field="language")
    _unique(session, client.team_id, pseudonym, ignore=client.id)
    team = session.get(Team, client.team_id)
    assert team is not None
    people = (
        _counsellors(session, team, edit.counsellor_ids)
        if edit.counsellor_ids is not None
        else list(client.counsellors)
    )
    before = snapshot(client)
    changed_pseudonym = client.pseudonym != pseudonym
    client.pseudonym = pseudonym
    if edit.clear_phone or (edit.phone is not None and edit.phone.strip()):
        _set_phone(settings, client, phone)
    client.sms_consent = phone is not None and edit.sms_consent
    client.relative = edit.relative
    client.preferred_channel = edit.preferred_channel
    client.language = language
    client.counsellors = people
    _save(session, client)
    after = snapshot(client)
    if after != before or changed_pseudonym:
        audit.record(
            session,
            by.actor,
            "update",
            "client",
            client.id,
            before=before,
            after={**after, "pseudonym_changed": changed_pseudonym},
        )
    return client


def change_status(
    session: Session,
    client_id: int,
    status: ClientStatus,
    *,
    by: Principal,
    now: datetime | None = None,
) -> Client:
    """Move the case to `status`, keeping the date: counselling began (`started_at`, the first
    time), paused (`paused_at`, the latest), ended (`ended_at`; taken up again, it is cleared).
    The same status again changes nothing."""
    client = changeable(session, client_id, by)
    if client.status is status:
        return client
    at = now or utcnow()
    before = snapshot(client)
    client.status = status
    client.status_changed_at = at
    if status is ClientStatus.IN_COUNSELLING and client.started_at is None:
        client.started_at = at
    if status is ClientStatus.PAUSED:
        client.paused_at = at
    client.ended_at = at if status is ClientStatus.ENDED else None
    session.flush()
    audit.record(
        session, by.actor, "status", "client", client.id, before=before, after=snapshot(client)
    )
    return client


# --- reading ------------------------------------------------------------------------------------


def team_clients(session: Session, team_id: int) -> list[Client]:
    """The team's clients: open cases first (first contact, in counselling, paused), then the
    ended ones; by pseudonym."""
    order = {s: i for i, s in enumerate(ClientStatus)}
    found = session.scalars(select(Client).where(Client.team_id == team_id))
    return sorted(found, key=lambda c: (order[c.status], c.pseudonym.lower(), c.id))


def next_appointments(
    session: Session, client_ids: Collection[int], now: datetime
) -> dict[int, Appointment]:
    """Each client's next booked appointment (the one that has not ended yet, earliest first)."""
    if not client_ids:
        return {}
    rows = session.scalars(
        select(Appointment)
        .where(
            Appointment.client_id.in_(list(client_ids)),
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.end_at > now,
        )
        .order_by(Appointment.start_at, Appointment.id)
    )
    found: dict[int, Appointment] = {}
    for row in rows:
        if row.client_id is not None:
            found.setdefault(row.client_id, row)
    return found


def of_teams(session: Session, team_ids: Collection[int]) -> list[Client]:
    """The clients of these teams (the link forms' choice), by pseudonym."""
    if not team_ids:
        return []
    found = session.scalars(select(Client).where(Client.team_id.in_(list(team_ids))))
    return sorted(found, key=lambda c: (c.pseudonym.lower(), c.id))


def matching(
    session: Session, settings: Settings, team_id: int, phone: str | None
) -> Client | None:
    """The team's client whose number has the keyed hash of `phone` (a caller's or sender's, in
    E.164), where `[clients] match_caller_hash` allows it: a suggestion to link, never linked
    by itself. Else None."""
    if not settings.config.clients.match_caller_hash or not phone:
        return None
    digest = crypto.keyed_hash(settings, PHONE_PURPOSE, phone)
    return session.scalar(
        select(Client)
        .where(Client.team_id == team_id, Client.phone_hash == digest)
        .order_by(Client.id)
        .limit(1)
    )


def responsible_ids(session: Session, client_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ClientCounsellor.counsellor_id).where(ClientCounsellor.client_id == client_id)
        )
    )
