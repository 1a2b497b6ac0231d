"""Call-backs through the line: a counsellor calls a client back without either seeing the
other's number.

Twilio first rings the counsellor, from the line's number (REST `Calls.create`); when she
answers, the service's TwiML whispers the line's name and waits for a 1 (a mailbox that answers
presses nothing and is hung up on); on the 1 the client is dialled, again from the line's
number. The target is a callback request, a voicemail that kept the caller's number, or an
appointment with a client phone; its number is opened only when the client is dialled.

The TwiML URLs carry nothing but a reference: the call-back's id and when it was started,
signed with HOTLINE_SECRET_KEY (`ref`). It is good for BRIDGE_WITHIN to reach the client, and
for FOLLOW_UP to report how the call ended. Every call-back is a row of `outbound_calls` and an
audit entry (who, which target, when; never a number).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.phone import masked_phone
from config.settings import Settings
from foundation import access, audit, crypto
from foundation.access import Principal
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    Appointment,
    CallbackRequest,
    Counsellor,
    OutboundCall,
    TaskStatus,
    Team,
    User,
    Voicemail,
)
from foundation.outgoing import MaybeSent, NotSent, OutgoingCall, Provider

log = logging.getLogger(__name__)

Target = CallbackRequest | Voicemail | Appointment


@dataclass(frozen=True, slots=True)
class Kind:
    """What a call-back may be about."""

    model: type[CallbackRequest] | type[Voicemail] | type[Appointment]
    entity: str  # as the audit log names it
    field: str  # the API field that names it
    noun: str  # in (English) error messages


KINDS = {
    "callback": Kind(
        CallbackRequest, "callback_request", "callback_request_id", "callback request"
    ),
    "voicemail": Kind(Voicemail, "voicemail", "voicemail_id", "voicemail"),
    "appointment": Kind(Appointment, "appointment", "appointment_id", "appointment"),
}
PURPOSE = "call-back"
# The webhooks of a call-back (web.twilio.outbound_calls); each URL carries only `ref`.
ANSWER_PATH = "/twilio/call-back/answer"
CONNECT_PATH = "/twilio/call-back/connect"
DIALED_PATH = "/twilio/call-back/dialed"
STATUS_PATH = "/twilio/call-back/status"
REF_PURPOSE = "call-back-ref"
BRIDGE_WITHIN = timedelta(minutes=10)  # to answer and press 1: the client is dialled only then
FOLLOW_UP = timedelta(hours=12)  # the Dial's end and status callbacks, after a long talk
RUNNING_FOR = timedelta(hours=1)  # a call-back not reported ended blocks another this long
CLOCK_SKEW = timedelta(seconds=5)  # between the processes that issue and read references
# The counsellor's leg, as Twilio reports it, in the order it moves; then our own outcomes.
_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
OWN = frozenset({"simulated", "not_placed", "uncertain"})  # set by us
UNCERTAIN = "uncertain"  # Twilio may have placed it: moved on by its reports, if any come
FINAL = OWN - {UNCERTAIN}  # never moved
TAKES = frozenset({"queued", "simulated"})  # Twilio accepted the call (or the outbox took it)
ACTIVE = frozenset(_RANK)


class NotAllowed(Exception):
    """The person asking may not call back this target."""


class Running(Conflict):
    """A call-back of the same target is under way; nothing was changed."""

    def __init__(self, counsellor: str) -> None:
        super().__init__("a call-back of this target is under way", field="target")
        self.counsellor = counsellor  # whose phone it rang


class WrongLine(Invalid):
    """The line asked for is not one the target may be called back through."""


class Refused(Exception):
    """A webhook of a call-back that must not go on (unknown, another call, done, no number)."""


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


# --- the reference in the TwiML URLs ------------------------------------------------------------


def _signature(settings: Settings, call_id: int, issued: int) -> str:
    return crypto.keyed_hash(settings, REF_PURPOSE, f"{call_id}:{issued}")


def make_ref(settings: Settings, call_id: int, issued: datetime) -> str:
    """`id.issued.signature`: opaque to Twilio, no number in it."""
    stamp = int(issued.timestamp())
    return f"{call_id}.{stamp}.{_signature(settings, call_id, stamp)}"


def read_ref(settings: Settings, ref: str, now: datetime, valid_for: timedelta) -> int | None:
    """The call-back id of a genuine reference no older than `valid_for`, else None."""
    parts = ref.split(".")
    if len(parts) != 3 or not all(part.isdigit() and len(part) < 16 for part in parts[:2]):
        return None
    call_id, issued = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(settings, call_id, issued)):
        return None
    age = now - datetime.fromtimestamp(issued, UTC)
    return call_id if -CLOCK_SKEW <= age <= valid_for else None


def url(settings: Settings, path: str, ref: str) -> str:
    return f"{settings.public_url}{path}?ref={ref}"


# --- starting a call-back ---------------------------------------------------------------------


def _load(session: Session, kind: str, target_id: int, *, lock: bool = False) -> Target | None:
    row = session.get(KINDS[kind].model, target_id, with_for_update=lock)
    assert row is None or isinstance(row, CallbackRequest | Voicemail | Appointment)
    return row


def _number(settings: Settings, row: Target) -> str | None:
    if isinstance(row, CallbackRequest):
        sealed: bytes | None = row.phone_enc
    elif isinstance(row, Voicemail):
        sealed = row.caller_phone_enc
    else:
        sealed = row.client_phone_enc
    return crypto.box(settings).open(sealed) if sealed is not None else None


def _teams(session: Session, row: Target) -> list[Team]:
    """The teams a target belongs to: a task's own; an appointment, its counsellor's."""
    if not isinstance(row, Appointment):
        team = session.get(Team, row.team_id)
        return [team] if team is not None else []
    counsellor = session.get(Counsellor, row.counsellor_id)
    return list(counsellor.teams) if counsellor else []


def lines_for(session: Session, config: HotlineConfig, row: Target) -> list[str]:
    """The lines a target may be called back through, in the configuration's order: a task,
    its own line; an appointment, the lines of its counsellor's teams."""
    if not isinstance(row, Appointment):
        return [row.line] if row.line in config.lines else []
    slugs = {team.slug for team in _teams(session, row)}
    return [slug for slug, line in config.lines.items() if line.team in slugs]


def default_line(lines: list[str], *preferred: str | None) -> str:
    """The first of `preferred` (e.g. the line of the target's latest call-back) that is one
    of `lines`, else the first of `lines`."""
    return next((line for line in preferred if line in lines), lines[0])


def _previous_line(session: Session, kind: str, target_id: int) -> str | None:
    """The line of the target's latest call-back: the client has seen that number before."""
    return session.scalar(
        select(OutboundCall.line)
        .where(OutboundCall.kind == kind, OutboundCall.target_id == target_id)
        .order_by(OutboundCall.id.desc())
        .limit(1)
    )


def _choose_line(session: Session, config: HotlineConfig, ask: Ask, row: Target, noun: str) -> str:
    lines = lines_for(session, config, row)
    if not lines:
        raise Invalid(f"no configured line to call the {noun} from", field="line")
    if ask.line is None:
        return default_line(lines, _previous_line(session, ask.kind, ask.target_id))
    if ask.line not in lines:
        raise WrongLine(
            f"the {noun} can be called back only through the line "
            + " or ".join(repr(line) for line in lines),
            field="line",
        )
    return ask.line


def _running(session: Session, kind: str, target_id: int, now: datetime) -> Running | None:
    found = session.scalar(
        select(Counsellor.name)
        .select_from(OutboundCall)
        .join(Counsellor, Counsellor.id == OutboundCall.counsellor_id)
        .where(
            OutboundCall.kind == kind,
            OutboundCall.target_id == target_id,
            OutboundCall.status.in_(ACTIVE),
            OutboundCall.created_at >= now - RUNNING_FOR,
        )
        .order_by(OutboundCall.id.desc())
        .limit(1)
    )
    return Running(found) if found is not None else None


def _take(session: Session, call: OutboundCall) -> None:
    """A task whose call-back was placed is in progress, held by whoever called (through the
    API: the counsellor's account, if she has one); a done task stays done. Audited as a take."""
    row = _load(session, call.kind, call.target_id, lock=True)
    if row is None or isinstance(row, Appointment) or row.status is TaskStatus.DONE:
        return
    holder_field = "taken_by_id" if isinstance(row, CallbackRequest) else "handled_by_id"
    before = {"status": row.status.value, "taken_by_id": getattr(row, holder_field)}
    holder = call.user_id or session.scalar(
        select(User.id).where(User.counsellor_id == call.counsellor_id, User.active.is_(True))
    )
    row.status = TaskStatus.IN_PROGRESS
    setattr(row, holder_field, holder or getattr(row, holder_field))
    after = {"status": row.status.value, "taken_by_id": getattr(row, holder_field)}
    if after != before:
        entity = KINDS[call.kind].entity
        after["call_back"] = call.id
        audit.record(session, call.actor, "take", entity, row.id, before=before, after=after)


@dataclass(frozen=True, slots=True)
class Ask:
    """A call-back asked for: of which target, ringing which counsellor, by whom. The policy
    (foundation.access) says whether `by` may call back this target: a target `by` may not
    see is NotFound, like a missing one; one she sees but may not call back, NotAllowed.
    `member_only`: the counsellor must belong to the target's team (or, for an appointment,
    be its counsellor). `line`: one of `lines_for` the target (else WrongLine)."""

    kind: str
    target_id: int
    counsellor_id: int | None  # None: the account asking has no counsellor record
    by: Principal
    member_only: bool = False
    line: str | None = None  # the line's slug; None: the default (see default_line)

    @property
    def actor(self) -> str:
        return self.by.actor

    @property
    def user_id(self) -> int | None:
        return self.by.user_id


def _check_access(session: Session, by: Principal, row: Target, noun: str, field: str) -> None:
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
    spec = KINDS.get(kind)
    if spec is None:
        raise NotFound("no such kind of target", field="kind")
    row = _load(session, kind, target_id, lock=True)
    if row is None:
        raise NotFound(f"no such {spec.noun}", field=spec.field)
    _check_access(session, ask.by, row, spec.noun, spec.field)
    if ask.counsellor_id is None:
        raise Invalid("a call-back rings a counsellor first: there is none", field="counsellor_id")
    number = _number(settings, row)
    if number is None:
        raise Invalid(f"the {spec.noun} has no phone number to call back", field=spec.field)
    line = _choose_line(session, settings.config, ask, row, spec.noun)
    team_ids = {team.id for team in _teams(session, row)}
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
        status="queued",
        created_at=now,
        updated_at=now,
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


def _advance(call: OutboundCall, status: str) -> None:
    """Move the counsellor leg's status forward only (status callbacks come late and twice).
    Twilio's reports of an `uncertain` call show it was placed after all."""
    if call.status in FINAL or call.status in ENDED:
        return
    if call.status == UNCERTAIN and status in OWN:
        return
    if status in ENDED or status in OWN or _RANK.get(status, -1) > _RANK.get(call.status, -1):
        call.status = status


def placed(session: Session, call_id: int, sid: str | None, status: str) -> None:
    """Record how asking Twilio went. Only a call Twilio accepted takes the task: a refused
    one leaves it as it was, an uncertain one takes it when the counsellor answers."""
    call = session.get(OutboundCall, call_id, with_for_update=True)
    if call is None:
        return
    if sid and call.call_sid is None:
        call.call_sid = sid
    if status == UNCERTAIN and call.status != "queued":
        return  # Twilio's own reports came first: it was placed
    _advance(call, status)
    if status in TAKES:
        _take(session, call)


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
    sid: str | None = None
    try:
        sid = provider.call(outgoing)
        status = "simulated" if provider.simulated else "queued"
    except NotSent as exc:
        log.warning("call-back %d not placed: %s", placement.call_id, exc)
        status = "not_placed"
    except MaybeSent as exc:
        log.warning("call-back %d may or may not be placed: %s", placement.call_id, exc)
        status = UNCERTAIN
    except Exception as exc:  # a bug, or the outbox's database in simulation mode
        # Only the type: a database error's text may quote the outbox row (a number).
        log.error("call-back %d failed: %s", placement.call_id, type(exc).__name__)
        status = "not_placed" if provider.simulated else UNCERTAIN
    with db.write() as session:
        placed(session, placement.call_id, None if provider.simulated else sid, status)
    return Started(placement.call_id, status)


# --- the webhooks -----------------------------------------------------------------------------


def _live(session: Session, call_id: int, call_sid: str) -> OutboundCall:
    """The call-back a webhook of Twilio's call `call_sid` is about; Refused if it is another
    call's (the reference was replayed) or unknown. Binds the CallSid on first sight."""
    call = session.get(OutboundCall, call_id, with_for_update=True)
    if call is None:
        raise Refused("unknown call-back")
    if call.call_sid is not None and call.call_sid != call_sid:
        raise Refused("the reference belongs to another call")
    if call.call_sid is None and call_sid:
        call.call_sid = call_sid
    return call


def answered(session: Session, call_id: int, call_sid: str) -> str:
    """The counsellor answered: the line to whisper (Refused once the client was dialled).
    An `uncertain` call-back was placed after all: its task is taken now."""
    call = _live(session, call_id, call_sid)
    if call.bridged_at is not None:
        raise Refused("already connected")
    if call.status == UNCERTAIN:
        _advance(call, "in-progress")
        _take(session, call)
    return call.line


def bridge(
    session: Session, settings: Settings, call_id: int, call_sid: str, now: datetime
) -> tuple[str, str]:
    """The counsellor pressed 1: (line, the client's number), opened from the target now.
    Once only: Refused for a second attempt, a gone target or one without a number."""
    call = _live(session, call_id, call_sid)
    if call.bridged_at is not None:
        raise Refused("already connected")
    row = _load(session, call.kind, call.target_id)
    number = _number(settings, row) if row is not None else None
    if number is None:
        raise Refused("the target or its number is gone")
    call.bridged_at = now
    log.info("call-back %d: connecting the client", call.id)
    return call.line, number


def client_ended(session: Session, call_id: int, call_sid: str, dial_status: str) -> str:
    """The Dial to the client ended; returns the line. The first report counts."""
    call = _live(session, call_id, call_sid)
    if call.client_status is None:
        call.client_status = (dial_status or "unknown")[:20]
    return call.line


def leg_status(session: Session, call_id: int, call_sid: str, state: str) -> None:
    """A status callback of the counsellor's leg."""
    try:
        call = _live(session, call_id, call_sid)
    except Refused:
        return
    if state in ENDED or state in _RANK:
        _advance(call, state)


# --- reading ----------------------------------------------------------------------------------


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
        target = _load(session, call.kind, call.target_id)
        number = _number(settings, target) if target is not None else None
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
    row = _load(session, kind, target_id) if kind in KINDS else None
    if row is None:
        return by.sees_everything
    if isinstance(row, Appointment):
        teams = access.counsellor_team_ids(session, row.counsellor_id)
        return access.may_call_back_appointment(by, row.counsellor_id, teams)
    return access.may_call_back_task(by, row.team_id)


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
