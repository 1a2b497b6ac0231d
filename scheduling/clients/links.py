"""Linking contacts to a client, by staff: an appointment, a text conversation, a callback
request, a voicemail or a call-back through the line. Never by the number on its own: where
`[clients] match_caller_hash` allows it, a page offers the matching client and staff confirm.

A contact and its client are of one team (an appointment: the client's team is one of its
counsellor's). Who links must be staff of that team and may work the contact (an appointment:
change it). Linking a task or an appointment links its call-backs too; unlinking undoes both.
Audited with ids only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import access, audit, crypto
from foundation.access import Principal
from foundation.errors import Invalid, NotFound
from foundation.models import (
    Appointment,
    CallbackRequest,
    Client,
    Conversation,
    OutboundCall,
    Team,
    Voicemail,
)
from scheduling.clients import records

Linkable = Appointment | Conversation | CallbackRequest | Voicemail | OutboundCall


@dataclass(frozen=True, slots=True)
class Kind:
    model: type[Linkable]
    noun: str  # in (English) error messages
    call_back: str | None  # the kind a call-back of it names (OutboundCall.kind)


KINDS: dict[str, Kind] = {
    "appointment": Kind(Appointment, "appointment", "appointment"),
    "conversation": Kind(Conversation, "conversation", None),
    "callback_request": Kind(CallbackRequest, "callback request", "callback"),
    "voicemail": Kind(Voicemail, "voicemail", "voicemail"),
    "outbound_call": Kind(OutboundCall, "call-back", None),
}


@dataclass(frozen=True, slots=True)
class LinkState:
    """How a contact stands to the clients, as its page shows it: the client it is linked to,
    or (only where `[clients] match_caller_hash` allows it) the client its number matches."""

    client_id: int | None = None
    pseudonym: str | None = None
    suggestion: tuple[int, str] | None = None  # (id, pseudonym)


def _number(settings: Settings, row: Linkable) -> str | None:
    if isinstance(row, CallbackRequest):
        sealed: bytes | None = row.phone_enc
    elif isinstance(row, Voicemail):
        sealed = row.caller_phone_enc
    elif isinstance(row, Conversation):
        sealed = row.client_enc
    else:
        return None
    return crypto.box(settings).open(sealed) if sealed is not None else None


def states(
    session: Session, settings: Settings, kind: str, ids: Collection[int]
) -> dict[int, LinkState]:
    """The link state of these contacts of `kind` (a task or a conversation), by id."""
    spec = KINDS[kind]
    if not ids:
        return {}
    rows: list[Linkable] = [
        row
        for row in session.scalars(select(spec.model).where(spec.model.id.in_(list(ids))))
        if isinstance(row, Linkable)
    ]
    linked = {row.client_id for row in rows if row.client_id is not None}
    names = (
        {c.id: c.pseudonym for c in session.scalars(select(Client).where(Client.id.in_(linked)))}
        if linked
        else {}
    )
    found = {}
    for row in rows:
        if row.client_id is not None:
            found[row.id] = LinkState(row.client_id, names.get(row.client_id))
            continue
        teams = team_ids(session, settings, row)
        match = (
            records.matching(session, settings, teams[0], _number(settings, row))
            if teams and settings.config.clients.match_caller_hash
            else None
        )
        found[row.id] = LinkState(suggestion=(match.id, match.pseudonym) if match else None)
    return found


def shown_clients(
    states: Iterable[LinkState | None], choices: Iterable[tuple[int, str]]
) -> list[int]:
    """The clients a link form names by pseudonym (its choice, the linked and the suggested
    ones): for the access log, as the list of clients is."""
    found = [client_id for client_id, _ in choices]
    for state in states:
        if state is not None and state.client_id is not None:
            found.append(state.client_id)
        if state is not None and state.suggestion is not None:
            found.append(state.suggestion[0])
    return list(dict.fromkeys(found))


def team_ids(session: Session, settings: Settings, row: Linkable) -> list[int]:
    """The teams a contact belongs to: its own; an appointment's counsellor's; a call-back's
    line's."""
    if isinstance(row, Appointment):
        return access.counsellor_team_ids(session, row.counsellor_id)
    if isinstance(row, OutboundCall):
        line = settings.config.lines.get(row.line)
        if line is None:
            return []
        return access.team_ids(session, [line.team])
    return [row.team_id]


def may_work(session: Session, by: Principal, row: Linkable, teams: list[int]) -> bool:
    """`by` may link or unlink this contact."""
    if isinstance(row, Appointment):
        return access.may_change_appointment(by, row.counsellor_id, teams) and any(
            access.may_change_client(by, team) for team in teams
        )
    return any(access.may_change_client(by, team) for team in teams)


def _contact(
    session: Session, settings: Settings, kind: str, record_id: int, by: Principal
) -> tuple[Kind, Linkable, list[int]]:
    spec = KINDS.get(kind)
    if spec is None:
        raise Invalid("no such kind of contact", field="kind")
    row = session.get(spec.model, record_id, with_for_update=True) if record_id > 0 else None
    assert row is None or isinstance(row, Linkable)
    teams = team_ids(session, settings, row) if row is not None else []
    if row is None or not may_work(session, by, row, teams):
        raise NotFound(f"no {spec.noun} with id {record_id}", field="record_id")
    return spec, row, teams


def _call_backs(session: Session, spec: Kind, row: Linkable, client_id: int | None) -> None:
    """The call-backs of a task or an appointment follow its link."""
    if spec.call_back is None:
        return
    session.execute(
        update(OutboundCall)
        .where(OutboundCall.kind == spec.call_back, OutboundCall.target_id == row.id)
        .values(client_id=client_id)
        .execution_options(synchronize_session=False)
    )


def link(
    session: Session,
    settings: Settings,
    client_id: int,
    kind: str,
    record_id: int,
    *,
    by: Principal,
) -> Client:
    """Link the contact to the client (moving it from another client, if it was linked)."""
    client = records.changeable(session, client_id, by)
    spec, row, teams = _contact(session, settings, kind, record_id, by)
    if client.team_id not in teams:
        team = session.get(Team, client.team_id)
        name = team.slug if team is not None else client.team_id
        raise Invalid(f"the {spec.noun} is not of the client's team ({name})", field="record_id")
    before = row.client_id
    if before == client.id:
        return client
    row.client_id = client.id
    _call_backs(session, spec, row, client.id)
    session.flush()
    audit.record(
        session,
        by.actor,
        "link",
        kind,
        row.id,
        before={"client_id": before},
        after={"client_id": client.id},
    )
    return client


def link_new(
    session: Session,
    settings: Settings,
    kind: str,
    record_id: int,
    pseudonym: str,
    *,
    by: Principal,
) -> Client:
    """A new client of the contact's team (an appointment's: its counsellor's first team the
    principal may change clients of), and the contact linked to it."""
    _, row, teams = _contact(session, settings, kind, record_id, by)
    team = next(
        (
            t
            for t in (session.get(Team, i) for i in teams)
            if t and access.may_change_client(by, t.id)
        ),
        None,
    )
    if team is None:  # _contact found her allowed in one of them
        raise NotFound(f"no {KINDS[kind].noun} with id {record_id}", field="record_id")
    client = records.create(session, settings, records.NewClient(team.slug, pseudonym), by=by)
    return link(session, settings, client.id, kind, row.id, by=by)


def unlink(
    session: Session, settings: Settings, kind: str, record_id: int, *, by: Principal
) -> int | None:
    """Take the contact off its client; returns the client's id it had (None: it had none)."""
    spec, row, _ = _contact(session, settings, kind, record_id, by)
    before = row.client_id
    if before is None:
        return None
    records.changeable(session, before, by)  # the client too must be hers to change
    row.client_id = None
    _call_backs(session, spec, row, None)
    session.flush()
    audit.record(
        session, by.actor, "unlink", kind, row.id, before={"client_id": before}, after=None
    )
    return before
