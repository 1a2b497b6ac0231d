"""Shift swaps: a counsellor asks a colleague to take a shift (optionally taking one of the
colleague's shifts back); the colleague accepts or declines; a coordinator of the team approves
or rejects, unless the team switched approval off (`[teams.x] swap_approval = false`), in which
case the acceptance applies the swap at once.

Applying reassigns the shift(s) *in place* (ids stay, so links and notices keep pointing at them)
with the rules of `scheduling.shifts.create_shift`: the new holder is an active member of the
team and has no overlapping shift in it; the two moves of an exchange are checked together, so
two overlapping shifts of different tiers can be traded. A request whose shift was changed,
deleted or has ended since it was made becomes `obsolete` instead of being applied.

Every state change is audited (entity "swap_request") and queues `ShiftNotice` rows of kind
`swap`, which the scheduler sends exactly once. Refusals raise `Invalid`, `Conflict` or
`NotFound` with German messages: the pages show them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import access, audit, dates
from foundation.clock import utcnow
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    AuditEntry,
    Counsellor,
    NoticeKind,
    Role,
    Shift,
    ShiftNotice,
    SwapRequest,
    SwapState,
    Team,
    User,
    UserTeam,
)
from foundation.outgoing import channels
from scheduling.notices.changes import QUIET
from scheduling.shifts import MAX_SHIFT
from scheduling.shifts import snapshot as shift_snapshot

OPEN = (SwapState.REQUESTED, SwapState.ACCEPTED)
STATE_LABELS = {
    SwapState.REQUESTED: "angefragt",
    SwapState.ACCEPTED: "angenommen, wartet auf Genehmigung",
    SwapState.APPROVED: "eingetragen",
    SwapState.DECLINED: "abgelehnt",
    SwapState.REJECTED: "von der Koordination abgelehnt",
    SwapState.WITHDRAWN: "zurückgezogen",
    SwapState.OBSOLETE: "hinfällig",
}
# Why a request became obsolete (kept in the audit entry; the pages show the text).
OBSOLETE_REASONS = {
    "deleted": "Ein Dienst dieser Anfrage wurde inzwischen gelöscht.",
    "changed": "Ein Dienst dieser Anfrage wurde inzwischen geändert.",
    "past": "Der Dienst ist inzwischen vorbei.",
}
NOTE_LENGTH = 500
# E-mail subjects of swap notices, by event.
SUBJECTS = {
    "requested": "Tauschanfrage",
    "withdrawn": "Tauschanfrage zurückgezogen",
    "accepted": "Tausch angenommen",
    "declined": "Tausch abgelehnt",
    "approval": "Tausch zur Genehmigung",
    "approved": "Tausch genehmigt",
    "rejected": "Tausch abgelehnt",
    "obsolete": "Tauschanfrage hinfällig",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What accepting or approving did: `obsolete` names the reason (a key of
    OBSOLETE_REASONS) when the request became obsolete instead of going ahead."""

    swap: SwapRequest
    obsolete: str | None = None


@dataclass(frozen=True, slots=True)
class NewSwap:
    """What a counsellor asks: `colleague_id` takes `shift_id`; with `return_shift_id` the
    requester takes that shift of the colleague in exchange."""

    shift_id: int
    colleague_id: int
    return_shift_id: int | None = None
    note: str = ""


# --- texts --------------------------------------------------------------------------------------


def span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'Do 26.11., 09:00 – Fr 27.11., 09:00': how people name a shift, in local time."""
    return dates.span(start, end, zone)


@dataclass(frozen=True, slots=True)
class _Story:
    """The names and times a notice text needs (never a client's data, never the free note:
    it may hold anything)."""

    requester: str
    colleague: str
    team: str
    shift: str | None
    return_shift: str | None


def notice_text(event: str, story: _Story, *, applied: bool = False) -> str:
    """The complete short German text of a swap notice for `event`."""
    duty = f"den Dienst {story.shift}" if story.shift else "einen Dienst"
    exchange = f" im Tausch gegen {story.return_shift}" if story.return_shift else ""
    if event == "requested":
        return (
            f"Tauschanfrage ({story.team}): {story.requester} bittet Sie, {duty} zu übernehmen"
            f"{exchange}. Bitte unter „Meine Dienste“ annehmen oder ablehnen."
        )
    if event == "withdrawn":
        return f"{story.requester} hat die Tauschanfrage für {duty} ({story.team}) zurückgezogen."
    if event == "accepted" and applied:
        taken = f" Sie übernehmen {story.return_shift}." if story.return_shift else ""
        return (
            f"{story.colleague} hat Ihre Tauschanfrage angenommen und übernimmt {duty} "
            f"({story.team}).{taken} Der Dienstplan ist geändert."
        )
    if event == "accepted":
        return (
            f"{story.colleague} hat Ihre Tauschanfrage für {duty} ({story.team}) angenommen. "
            "Die Koordination muss noch zustimmen."
        )
    if event == "approval":
        return (
            f"Tausch zur Genehmigung ({story.team}): {story.colleague} übernimmt {duty} von "
            f"{story.requester}{exchange}. Bitte unter „Tauschanfragen“ entscheiden."
        )
    if event == "declined":
        return f"{story.colleague} hat Ihre Tauschanfrage für {duty} ({story.team}) abgelehnt."
    if event == "approved":
        taken = f", {story.requester} übernimmt {story.return_shift}" if story.return_shift else ""
        return (
            f"Tausch genehmigt ({story.team}): {story.colleague} übernimmt {duty}{taken}. "
            "Der Dienstplan ist geändert."
        )
    if event == "rejected":
        return (
            f"Die Koordination hat den Tausch für {duty} ({story.team}) abgelehnt. "
            "Der Dienstplan bleibt unverändert."
        )
    if event == "obsolete":
        return (
            f"Die Tauschanfrage zwischen {story.requester} und {story.colleague} "
            f"({story.team}) ist hinfällig: ein Dienst wurde geändert, gelöscht oder ist vorbei."
        )
    raise ValueError(f"unknown swap event {event!r}")


# --- loading and checks -------------------------------------------------------------------------


def _snapshot(swap: SwapRequest) -> dict[str, object]:
    """The audited fields. The note is left out: it is free text."""
    return {
        "team_id": swap.team_id,
        "shift_id": swap.shift_id,
        "return_shift_id": swap.return_shift_id,
        "requester_id": swap.requester_id,
        "colleague_id": swap.colleague_id,
        "state": SwapState(swap.state).value,
        "decided_by_id": swap.decided_by_id,
    }


def _swap(session: Session, swap_id: int) -> SwapRequest:
    """The request, locked: two clicks on one request serialise here."""
    swap = session.get(SwapRequest, swap_id, with_for_update=True)
    if swap is None:
        raise NotFound("Diese Tauschanfrage gibt es nicht.")
    return swap


def _lock_shifts(session: Session, *ids: int | None) -> None:
    """Lock the shift rows (PostgreSQL: FOR UPDATE) in id order, so two requests naming the
    same two shifts the other way round wait for each other instead of deadlocking; the rows
    are read again once locked (a change committed while waiting is seen, not overwritten)."""
    wanted = sorted({i for i in ids if i})
    if wanted:
        session.scalars(
            select(Shift)
            .where(Shift.id.in_(wanted))
            .order_by(Shift.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()


def _lock_rows(session: Session, swap: SwapRequest) -> None:
    """Before deciding on a swap: lock both people in id order (concurrent bookings for them
    serialise here, as in create_shift, without two swaps deadlocking on each other), then
    the shifts, so that `stale_reason` judges the rows `_apply` will change."""
    for person_id in sorted((swap.requester_id, swap.colleague_id)):
        session.get(Counsellor, person_id, with_for_update=True)
    _lock_shifts(session, swap.shift_id, swap.return_shift_id)


def _person(session: Session, counsellor_id: int, field: str) -> Counsellor:
    person = session.get(Counsellor, counsellor_id)
    if person is None:
        raise NotFound("Diese Person gibt es nicht.", field=field)
    return person


def _team_config_approval(config: HotlineConfig, team: Team) -> bool:
    """Whether the team needs a coordinator's approval; a team no longer configured cannot
    take swaps at all."""
    team_config = config.teams.get(team.slug)
    if team_config is None:
        raise Invalid("Dieses Team gibt es nicht mehr.", field="team")
    return team_config.swap_approval


def _clash(
    session: Session, counsellor_id: int, shift: Shift, leaving: Iterable[int]
) -> int | None:
    """A shift of the counsellor in `shift`'s team overlapping it, other than the ones
    `leaving` them in the same swap (the rule of `create_shift`, applied to both moves at once)."""
    query = select(Shift.id).where(
        Shift.counsellor_id == counsellor_id,
        Shift.team_id == shift.team_id,
        Shift.start_at < shift.end_at,
        Shift.start_at > shift.start_at - MAX_SHIFT,
        Shift.end_at > shift.start_at,
        Shift.id.not_in([shift.id, *leaving]),
    )
    return session.scalar(query)


def _check_takers(
    session: Session,
    team: Team,
    moves: list[tuple[Shift, Counsellor]],
) -> None:
    """Every new holder is an active member of the team with no overlapping shift in it,
    counting the exchange as a whole. Raises Invalid/Conflict; changes nothing."""
    leaving = [shift.id for shift, _ in moves]
    for shift, taker in moves:
        if not taker.active:
            raise Invalid(f"{taker.name} ist deaktiviert.", field="colleague_id")
        if team not in taker.teams:
            raise Invalid(f"{taker.name} gehört nicht zu {team.name}.", field="colleague_id")
        if _clash(session, taker.id, shift, leaving) is not None:
            raise Conflict(
                f"{taker.name} hat in {team.name} zu dieser Zeit bereits einen Dienst.",
                field="colleague_id",
            )


def _asked_return_shift(session: Session, swap: SwapRequest) -> int | None:
    """The return shift named when the request was made. The column is set NULL when that
    shift is deleted, so the request's own audit entry is what still remembers it."""
    after = session.scalar(
        select(AuditEntry.after)
        .where(
            AuditEntry.entity == "swap_request",
            AuditEntry.entity_id == swap.id,
            AuditEntry.action == "request",
        )
        .order_by(AuditEntry.id)
        .limit(1)
    )
    value = (after or {}).get("return_shift_id")
    return value if isinstance(value, int) else None


def stale_reason(session: Session, swap: SwapRequest, now: datetime) -> str | None:
    """Why an open request can no longer be applied as asked (a key of OBSOLETE_REASONS), or
    None. A shift changed after the request was made (its `updated_at`), deleted, handed to
    someone else, or ended: the colleague agreed to something else."""
    if swap.shift_id is None:
        return "deleted"
    if swap.return_shift_id is None and _asked_return_shift(session, swap) is not None:
        return "deleted"
    shift = session.get(Shift, swap.shift_id)
    back = session.get(Shift, swap.return_shift_id) if swap.return_shift_id else None
    if shift is None or (swap.return_shift_id is not None and back is None):
        return "deleted"
    for row, holder in ((shift, swap.requester_id), (back, swap.colleague_id)):
        if row is not None and (row.updated_at > swap.created_at or row.counsellor_id != holder):
            return "changed"
    if shift.end_at <= now:
        return "past"
    return None


# --- notices ------------------------------------------------------------------------------------


def _queue(
    session: Session,
    swap: SwapRequest,
    event: str,
    people: Iterable[Counsellor],
    text: str,
    now: datetime,
) -> None:
    """One notice per person and channel for this event. The dedupe key makes it once:
    an existing row is left alone (and the unique index guards the rest)."""
    seen: set[int] = set()
    for person in people:
        if person.id in seen or not person.active:
            continue
        seen.add(person.id)
        for channel in channels(person):
            key = f"swap:{swap.id}:{event}:{person.id}:{channel}"
            if session.scalar(select(ShiftNotice.id).where(ShiftNotice.dedupe_key == key)):
                continue
            session.add(
                ShiftNotice(
                    dedupe_key=key,
                    counsellor_id=person.id,
                    team_id=swap.team_id,
                    kind=NoticeKind.SWAP,
                    channel=channel,
                    due_at=now,
                    payload={"text": text, "subject": SUBJECTS[event]},
                )
            )


def _coordinators(session: Session, team_id: int) -> list[Counsellor]:
    """The counsellor records of the team's active coordinators (one without a record is not
    told: a notice goes to a counsellor's phone or address)."""
    return list(
        session.scalars(
            select(Counsellor)
            .join(User, User.counsellor_id == Counsellor.id)
            .join(UserTeam, UserTeam.user_id == User.id)
            .where(
                UserTeam.team_id == team_id,
                User.role == Role.COORDINATOR,
                User.active.is_(True),
            )
            .order_by(Counsellor.id)
        )
    )


def _story(session: Session, config: HotlineConfig, swap: SwapRequest) -> _Story:
    zone = config.organisation.zone
    shift = session.get(Shift, swap.shift_id) if swap.shift_id else None
    back = session.get(Shift, swap.return_shift_id) if swap.return_shift_id else None
    team = session.get(Team, swap.team_id)
    return _Story(
        requester=_person(session, swap.requester_id, "requester_id").name,
        colleague=_person(session, swap.colleague_id, "colleague_id").name,
        team=team.name if team else "",
        shift=span_text(shift.start_at, shift.end_at, zone) if shift else None,
        return_shift=span_text(back.start_at, back.end_at, zone) if back else None,
    )


def _change(
    session: Session,
    swap: SwapRequest,
    state: SwapState,
    action: str,
    *,
    actor: str,
    extra: dict[str, object] | None = None,
) -> None:
    """Move the request to `state`, audited."""
    before = _snapshot(swap)
    swap.state = state
    session.flush()
    audit.record(
        session,
        actor,
        action,
        "swap_request",
        swap.id,
        before=before,
        after=_snapshot(swap) | (extra or {}),
    )


def _tell(
    session: Session,
    config: HotlineConfig,
    swap: SwapRequest,
    event: str,
    people: Iterable[Counsellor],
    now: datetime,
    *,
    applied: bool = False,
) -> None:
    """Queue the notice of `event` about this request to `people`."""
    text = notice_text(event, _story(session, config, swap), applied=applied)
    _queue(session, swap, event, people, text, now)


def _make_obsolete(
    session: Session,
    config: HotlineConfig,
    swap: SwapRequest,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Close a request that can no longer go ahead as asked; both people are told."""
    _change(session, swap, SwapState.OBSOLETE, "obsolete", actor=actor, extra={"reason": reason})
    people = [_person(session, swap.requester_id, "requester_id")]
    people.append(_person(session, swap.colleague_id, "colleague_id"))
    _tell(session, config, swap, "obsolete", people, now)


# --- use cases ----------------------------------------------------------------------------------


def request_swap(
    session: Session,
    config: HotlineConfig,
    requester_id: int,
    new: NewSwap,
    *,
    actor: str,
) -> SwapRequest:
    """The requester asks a colleague of the shift's team to take one of the requester's
    upcoming shifts (and, optionally, to give one of theirs in exchange)."""
    now = utcnow()
    requester = _person(session, requester_id, "requester_id")
    if not requester.active:
        raise Invalid("Ihr Eintrag ist deaktiviert.", field="shift_id")
    _lock_shifts(session, new.shift_id, new.return_shift_id)
    shift = session.get(Shift, new.shift_id)
    if shift is None:
        raise NotFound("Diesen Dienst gibt es nicht (mehr).", field="shift_id")
    if shift.counsellor_id != requester.id:
        raise Invalid("Sie können nur eigene Dienste zum Tausch anbieten.", field="shift_id")
    if shift.end_at <= now:
        raise Invalid("Dieser Dienst ist bereits vorbei.", field="shift_id")
    team = shift.team
    _team_config_approval(config, team)
    if new.colleague_id == requester.id:
        raise Invalid("Bitte wählen Sie eine andere Person.", field="colleague_id")
    colleague = _person(session, new.colleague_id, "colleague_id")
    if not colleague.active:
        raise Invalid(f"{colleague.name} ist deaktiviert.", field="colleague_id")
    if team not in colleague.teams:
        raise Invalid(f"{colleague.name} gehört nicht zu {team.name}.", field="colleague_id")
    back = None
    if new.return_shift_id:
        back = session.get(Shift, new.return_shift_id)
        if back is None:
            raise NotFound("Diesen Gegendienst gibt es nicht (mehr).", field="return_shift_id")
        if back.counsellor_id != colleague.id or back.team_id != team.id:
            raise Invalid(
                f"Der Gegendienst muss ein Dienst von {colleague.name} in {team.name} sein.",
                field="return_shift_id",
            )
        if back.end_at <= now:
            raise Invalid("Der Gegendienst ist bereits vorbei.", field="return_shift_id")
    ids = [shift.id] + ([back.id] if back else [])
    pending = session.scalar(
        select(SwapRequest.id).where(
            SwapRequest.state.in_(OPEN),
            or_(SwapRequest.shift_id.in_(ids), SwapRequest.return_shift_id.in_(ids)),
        )
    )
    if pending is not None:
        raise Conflict(
            "Für diesen Dienst gibt es schon eine offene Tauschanfrage.", field="shift_id"
        )
    moves = [(shift, colleague)] + ([(back, requester)] if back else [])
    _check_takers(session, team, moves)
    swap = SwapRequest(
        team_id=team.id,
        shift_id=shift.id,
        return_shift_id=back.id if back else None,
        requester_id=requester.id,
        colleague_id=colleague.id,
        state=SwapState.REQUESTED,
        note=new.note.strip()[:NOTE_LENGTH] or None,
    )
    session.add(swap)
    session.flush()
    audit.record(session, actor, "request", "swap_request", swap.id, after=_snapshot(swap))
    story = _story(session, config, swap)
    _queue(session, swap, "requested", [colleague], notice_text("requested", story), now)
    return swap


def withdraw(
    session: Session, config: HotlineConfig, swap_id: int, requester_id: int, *, actor: str
) -> SwapRequest:
    """The requester takes an open request back (also after the colleague accepted)."""
    now = utcnow()
    swap = _swap(session, swap_id)
    if swap.requester_id != requester_id:
        raise Invalid("Nur wer die Anfrage gestellt hat, kann sie zurückziehen.")
    _require_state(swap, OPEN)
    _change(session, swap, SwapState.WITHDRAWN, "withdraw", actor=actor)
    colleague = _person(session, swap.colleague_id, "colleague_id")
    _tell(session, config, swap, "withdrawn", [colleague], now)
    return swap


def _require_state(swap: SwapRequest, allowed: Iterable[SwapState]) -> None:
    if SwapState(swap.state) not in tuple(allowed):
        raise Conflict(f"Diese Anfrage ist bereits {STATE_LABELS[SwapState(swap.state)]}.")


def decline(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    colleague_id: int,
    *,
    actor: str,
) -> SwapRequest:
    """The colleague says no."""
    now = utcnow()
    swap = _swap(session, swap_id)
    if swap.colleague_id != colleague_id:
        raise Invalid("Nur die angefragte Person kann diese Anfrage ablehnen.")
    _require_state(swap, (SwapState.REQUESTED,))
    _change(session, swap, SwapState.DECLINED, "decline", actor=actor)
    requester = _person(session, swap.requester_id, "requester_id")
    _tell(session, config, swap, "declined", [requester], now)
    return swap


def accept(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    colleague_id: int,
    *,
    actor: str,
) -> Outcome:
    """The colleague agrees. With approval switched off for the team the swap is applied at
    once (state approved); otherwise the coordinators are asked. A request whose shifts
    changed meanwhile becomes obsolete instead (returned, not raised: that change is kept)."""
    now = utcnow()
    swap = _swap(session, swap_id)
    if swap.colleague_id != colleague_id:
        raise Invalid("Nur die angefragte Person kann diese Anfrage annehmen.")
    _require_state(swap, (SwapState.REQUESTED,))
    team = session.get(Team, swap.team_id)
    assert team is not None  # a foreign key
    needs_approval = _team_config_approval(config, team)
    _lock_rows(session, swap)
    reason = stale_reason(session, swap, now)
    if reason is not None:
        _make_obsolete(session, config, swap, reason, actor=actor, now=now)
        return Outcome(swap, reason)
    requester = _person(session, swap.requester_id, "requester_id")
    if needs_approval:
        _check_takers(session, team, _moves(session, swap))  # fail early, not at approval
        _change(session, swap, SwapState.ACCEPTED, "accept", actor=actor)
        story = _story(session, config, swap)
        _queue(session, swap, "accepted", [requester], notice_text("accepted", story), now)
        approvers = _coordinators(session, swap.team_id)
        _queue(session, swap, "approval", approvers, notice_text("approval", story), now)
        return Outcome(swap)
    _apply(session, team, swap, actor=actor)
    _change(session, swap, SwapState.APPROVED, "accept", actor=actor, extra={"applied": True})
    _tell(session, config, swap, "accepted", [requester], now, applied=True)
    return Outcome(swap)


def _may_decide(session: Session, user_id: int, team_id: int) -> bool:
    principal = access.load_user(session, user_id)
    return principal is not None and access.may_decide_swap(principal, team_id)


def approve(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    user_id: int,
    *,
    actor: str,
) -> Outcome:
    """A coordinator of the team (or an admin) approves an accepted swap: it is applied, or
    it becomes obsolete if a shift changed meanwhile (returned, not raised)."""
    now = utcnow()
    swap = _swap(session, swap_id)
    if not _may_decide(session, user_id, swap.team_id):
        raise Invalid("Nur die Koordination dieses Teams kann Tauschanfragen genehmigen.")
    _require_state(swap, (SwapState.ACCEPTED,))
    team = session.get(Team, swap.team_id)
    assert team is not None  # a foreign key
    _lock_rows(session, swap)
    reason = stale_reason(session, swap, now)
    if reason is not None:
        swap.decided_by_id = user_id
        _make_obsolete(session, config, swap, reason, actor=actor, now=now)
        return Outcome(swap, reason)
    _apply(session, team, swap, actor=actor)
    swap.decided_by_id = user_id
    _change(session, swap, SwapState.APPROVED, "approve", actor=actor)
    people = [_person(session, i, "id") for i in (swap.requester_id, swap.colleague_id)]
    _tell(session, config, swap, "approved", people, now)
    return Outcome(swap)


def reject(
    session: Session,
    config: HotlineConfig,
    swap_id: int,
    user_id: int,
    *,
    actor: str,
) -> SwapRequest:
    """A coordinator of the team (or an admin) says no; requester and colleague are told."""
    now = utcnow()
    swap = _swap(session, swap_id)
    if not _may_decide(session, user_id, swap.team_id):
        raise Invalid("Nur die Koordination dieses Teams kann Tauschanfragen ablehnen.")
    _require_state(swap, (SwapState.ACCEPTED,))
    swap.decided_by_id = user_id
    _change(session, swap, SwapState.REJECTED, "reject", actor=actor)
    people = [_person(session, i, "id") for i in (swap.requester_id, swap.colleague_id)]
    _tell(session, config, swap, "rejected", people, now)
    return swap


def _moves(session: Session, swap: SwapRequest) -> list[tuple[Shift, Counsellor]]:
    """(shift, new holder) pairs of the swap, with the shift rows locked."""
    _lock_shifts(session, swap.shift_id, swap.return_shift_id)
    shift = session.get(Shift, swap.shift_id) if swap.shift_id else None
    if shift is None:
        raise NotFound("Diesen Dienst gibt es nicht (mehr).")
    moves = [(shift, _person(session, swap.colleague_id, "colleague_id"))]
    if swap.return_shift_id is not None:
        back = session.get(Shift, swap.return_shift_id)
        if back is None:
            raise NotFound("Diesen Gegendienst gibt es nicht (mehr).")
        moves.append((back, _person(session, swap.requester_id, "requester_id")))
    return moves


def _apply(session: Session, team: Team, swap: SwapRequest, *, actor: str) -> None:
    """Reassign the shift(s) in place, after checking both moves together; the caller's
    transaction makes it all or nothing. The swap notices queued here tell both people what
    changed, so the generic change notice is not sent on top (`notices.changes.QUIET`). The caller
    has locked the rows (`_lock_rows`) before judging them."""
    session.info[QUIET] = True
    moves = _moves(session, swap)
    _check_takers(session, team, moves)
    for shift, taker in moves:
        before = shift_snapshot(shift)
        shift.counsellor = taker
        session.flush()
        audit.record(
            session,
            actor,
            "swap",
            "shift",
            shift.id,
            before=before,
            after=shift_snapshot(shift) | {"swap_request_id": swap.id},
        )


# --- queries for the pages ----------------------------------------------------------------------


def waiting_for_approval(session: Session, team_id: int) -> int:
    """How many accepted swaps of the team wait for a coordinator."""
    return (
        session.scalar(
            select(func.count())
            .select_from(SwapRequest)
            .where(SwapRequest.team_id == team_id, SwapRequest.state == SwapState.ACCEPTED)
        )
        or 0
    )


__all__ = [
    "OBSOLETE_REASONS",
    "OPEN",
    "STATE_LABELS",
    "NewSwap",
    "Outcome",
    "accept",
    "approve",
    "decline",
    "notice_text",
    "reject",
    "request_swap",
    "span_text",
    "stale_reason",
    "waiting_for_approval",
    "withdraw",
]
