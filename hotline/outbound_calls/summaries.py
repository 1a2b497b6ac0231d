"""Reading call-backs: the latest of each target, for the task list and the appointments page,
and one by id for the API. No numbers: the client's is masked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.phone import masked_phone
from config.settings import Settings
from foundation import access
from foundation.access import Principal
from foundation.errors import NotFound
from foundation.models import Appointment, Counsellor, OutboundCall
from hotline.outbound_calls import targets


@dataclass(frozen=True, slots=True)
class Summary:
    """The latest call-back of a target, for pages and the API. No numbers."""

    id: int
    kind: str
    target_id: int
    line: str
    counsellor_id: int
    counsellor: str
    status: str
    client_status: str | None
    call_sid: str | None
    created_at: datetime
    bridged_at: datetime | None
    client_phone: str | None  # masked


def _summaries(
    session: Session, settings: Settings, calls: Iterable[OutboundCall]
) -> list[Summary]:
    rows = list(calls)
    names = dict(
        session.execute(
            select(Counsellor.id, Counsellor.name).where(
                Counsellor.id.in_({call.counsellor_id for call in rows})
            )
        ).all()
    )
    found = []
    for call in rows:
        target = targets.load(session, call.kind, call.target_id)
        number = targets.number(settings, target) if target is not None else None
        found.append(
            Summary(
                id=call.id,
                kind=call.kind,
                target_id=call.target_id,
                line=call.line,
                counsellor_id=call.counsellor_id,
                counsellor=names.get(call.counsellor_id, "?"),
                status=call.status,
                client_status=call.client_status,
                call_sid=call.call_sid,
                created_at=call.created_at,
                bridged_at=call.bridged_at,
                client_phone=masked_phone(number) if number else None,
            )
        )
    return found


def get(session: Session, settings: Settings, call_id: int, by: Principal) -> Summary:
    """A call-back `by` may see (of a target she may call back); NotFound, like a missing one,
    otherwise. A call-back whose target is gone (retention) only who sees everything sees."""
    call = session.get(OutboundCall, call_id)
    if call is None or not _sees(session, by, call.kind, call.target_id):
        raise NotFound("no such call-back")
    return _summaries(session, settings, [call])[0]


def _sees(session: Session, by: Principal, kind: str, target_id: int) -> bool:
    row = targets.load(session, kind, target_id) if kind in targets.KINDS else None
    if row is None:
        return by.sees_everything
    if isinstance(row, Appointment):
        teams = access.counsellor_team_ids(session, row.counsellor_id)
        return access.may_see_appointment(by, row.counsellor_id, teams)
    return access.is_staff(by, row.team_id)


def latest(
    session: Session, settings: Settings, kind: str, target_ids: Iterable[int]
) -> dict[int, Summary]:
    """The latest call-back of each of the targets that has one."""
    wanted = set(target_ids)
    if not wanted:
        return {}
    newest: dict[int, OutboundCall] = {}
    for call in session.scalars(
        select(OutboundCall)
        .where(OutboundCall.kind == kind, OutboundCall.target_id.in_(wanted))
        .order_by(OutboundCall.id)
    ):
        newest[call.target_id] = call
    return {s.target_id: s for s in _summaries(session, settings, newest.values())}
