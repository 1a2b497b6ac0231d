"""Starting a call-back: who may call back which target, ringing whom, through which line; the
row and its audit entry (one transaction); then asking the provider to ring the counsellor, with
no database lock held meanwhile, and recording how that went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.phone import masked_phone
from config.settings import Settings
from foundation import access, audit
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import Appointment, Counsellor, OutboundCall
from foundation.outgoing import Attempt, OutgoingCall, Provider, Result, attempt
from hotline.outbound_calls import states, targets
from hotline.outbound_calls.lines import choose_line
from hotline.outbound_calls.references import ANSWER_PATH, STATUS_PATH, make_ref, url

PURPOSE = "call-back"
RUNNING_FOR = timedelta(hours=1)  # a call-back not reported ended blocks another this long


class NotAllowed(Exception):
    """The person asking may not call back this target."""


class Running(Conflict):
    """A call-back of the same target is under way; nothing was changed."""

    def __init__(self, counsellor: str) -> None:
        super().__init__("a call-back of this target is under way", field="target")
        self.counsellor = counsellor  # whose phone it rang


@dataclass(frozen=True, slots=True)
class Ask:
    """A call-back asked for: of which target, ringing which counsellor, by whom. The policy
    (foundation.access) says whether `by` may call back this target: a target `by` may not
    see is NotFound, like a missing one; one she sees but may not call back, NotAllowed.
    `member_only`: the counsellor must belong to the target's team (or, for an appointment,
    be its counsellor). `line`: one of `lines.lines_for` the target (else WrongLine)."""

    kind: str
    target_id: int
    counsellor_id: int | None  # None: the account asking has no counsellor record
    by: Principal
    member_only: bool = False
    line: str | None = None  # the line's slug; None: the default (see lines.default_line)

    @property
    def actor(self) -> str:
        return self.by.actor

    @property
    def user_id(self) -> int | None:
        return self.by.user_id


@dataclass(frozen=True, slots=True)
class Placement:
    """What placing the call needs, taken from the transaction that recorded it."""

    call_id: int
    ref: str
    counsellor_phone: str
    line_number: str
    description: str  # for the outbox in simulation mode (the client's number masked)


@dataclass(frozen=True, slots=True)
class Started:
    call_id: int
    status: str


def _running(session: Session, kind: str, target_id: int, now: datetime) -> Running | None:
    found = session.scalar(
        select(Counsellor.name)
        .select_from(OutboundCall)
        .join(Counsellor, Counsellor.id == OutboundCall.counsellor_id)
        .where(
            OutboundCall.kind == kind,
            OutboundCall.target_id == target_id,
            OutboundCall.status.in_(states.ACTIVE),
            OutboundCall.created_at >= now - RUNNING_FOR,
        )
        .order_by(OutboundCall.id.desc())
        .limit(1)
    )
    return Running(found) if found is not None else None


def _check_access(
    session: Session, by: Principal, row: targets.Target, noun: str, field: str
) -> None:
    if isinstance(row, Appointment):
        teams = access.counsellor_team_ids(session, row.counsellor_id)
        if not access.may_call_back_appointment(by, row.counsellor_id, teams):
            raise NotFound(f"no such {noun}", field=field)
        return
    if not access.may_see_task(by, row.team_id):
        raise NotFound(f"no such {noun}", field=field)
    if not access.may_call_back_task(by, row.team_id):
        raise NotAllowed


def start(session: Session, settings: Settings, ask: Ask, now: datetime | None = None) -> Placement:
    """Record the call-back and audit it (the task is taken only once it is placed: `placed`).
    Raises NotFound (also for a target `ask.by` may not see), Invalid (WrongLine), Running
    (nothing changed) or NotAllowed."""
    now = now or utcnow()
    kind, target_id, user_id = ask.kind, ask.target_id, ask.user_id
    spec = targets.KINDS.get(kind)
    if spec is None:
        raise NotFound("no such kind of target", field="kind")
    row = targets.load(session, kind, target_id, lock=True)
    if row is None:
        raise NotFound(f"no such {spec.noun}", field=spec.field)
    _check_access(session, ask.by, row, spec.noun, spec.field)
    if ask.counsellor_id is None:
        raise Invalid("a call-back rings a counsellor first: there is none", field="counsellor_id")
    number = targets.number(settings, row)
    if number is None:
        raise Invalid(f"the {spec.noun} has no phone number to call back", field=spec.field)
    line = choose_line(session, settings.config, row, kind, ask.line, spec.noun)
    team_ids = {team.id for team in targets.teams(session, row)}
    counsellor = session.get(Counsellor, ask.counsellor_id)
    if counsellor is None or not counsellor.active or not counsellor.phone:
        raise Invalid("no active counsellor with a phone number has this id", field="counsellor_id")
    own = isinstance(row, Appointment) and row.counsellor_id == counsellor.id
    if ask.member_only and not own and not team_ids & {team.id for team in counsellor.teams}:
        raise Invalid(f"the counsellor is not in the {spec.noun}'s team", field="counsellor_id")
    running = _running(session, kind, target_id, now)
    if running is not None:
        raise running
    call = OutboundCall(
        kind=kind,
        target_id=target_id,
        line=line,
        counsellor_id=counsellor.id,
        user_id=user_id,
        actor=ask.actor[:120],
        status=states.QUEUED,
        created_at=now,
        updated_at=now,
        client_id=row.client_id,  # a call-back of a linked target belongs to its client
    )
    session.add(call)
    session.flush()
    after = {"call_back": call.id, "counsellor_id": counsellor.id, "line": line}
    audit.record(session, ask.actor, "call_back", spec.entity, row.id, after=after)
    config_line = settings.config.lines[line]
    return Placement(
        call_id=call.id,
        ref=make_ref(settings, call.id, now),
        counsellor_phone=counsellor.phone,
        line_number=config_line.number,
        description=f"Rückruf über die {config_line.display_name}: nach der 1 verbunden mit "
        f"{masked_phone(number)}",
    )


def placed(session: Session, call_id: int, sid: str | None, status: str) -> None:
    """Record how asking Twilio went. Only a call Twilio accepted takes the task: a refused
    one leaves it as it was, an uncertain one takes it when the counsellor answers."""
    call = session.get(OutboundCall, call_id, with_for_update=True)
    if call is None:
        return
    if sid and call.call_sid is None:
        call.call_sid = sid
    if status == states.UNCERTAIN and call.status != states.QUEUED:
        return  # Twilio's own reports came first: it was placed
    states.advance(call, status)
    if status in states.TAKES:
        targets.take(session, call)


def call_back(db: Database, settings: Settings, provider: Provider, ask: Ask) -> Started:
    """Start a call-back: record it (one transaction), ask `provider` (Twilio) to ring the
    counsellor (no database lock held meanwhile), record how that went. Raises what `start`
    raises."""
    with db.write() as session:
        placement = start(session, settings, ask)
    outgoing = OutgoingCall(
        to=placement.counsellor_phone,
        from_number=placement.line_number,
        url=url(settings, ANSWER_PATH, placement.ref),
        status_callback=url(settings, STATUS_PATH, placement.ref),
        purpose=PURPOSE,
        description=placement.description,
    )
    tried = attempt(provider, outgoing, f"call-back {placement.call_id}")
    status = _placed_status(tried, simulated=provider.simulated)
    with db.write() as session:
        placed(session, placement.call_id, None if provider.simulated else tried.sid, status)
    return Started(placement.call_id, status)


def _placed_status(tried: Attempt, *, simulated: bool) -> str:
    """The call-back's status after asking the provider: Twilio accepted it (`queued`) or the
    outbox took it (`simulated`); certainly not placed; or Twilio may have placed it. A bug in
    simulation mode broke the outbox's own write, so nothing was placed."""
    if tried.result is Result.SENT:
        return states.SIMULATED if simulated else states.QUEUED
    if tried.result is Result.FAILED or (tried.bug and simulated):
        return states.NOT_PLACED
    return states.UNCERTAIN
