"""The swap request row and the rows it names: loading and locking them, the request's
audited state changes, and the people it names. Every use case starts here."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from foundation import audit
from foundation.errors import Conflict, Invalid, NotFound
from foundation.i18n import N_
from foundation.models import Counsellor, Shift, SwapRequest, SwapState, Team
from scheduling.swaps.words import STATE_LABELS

OPEN = (SwapState.REQUESTED, SwapState.ACCEPTED)


def snapshot(swap: SwapRequest) -> dict[str, object]:
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


def load(session: Session, swap_id: int) -> SwapRequest:
    """The request, locked: two clicks on one request serialise here."""
    swap = session.get(SwapRequest, swap_id, with_for_update=True)
    if swap is None:
        raise NotFound(N_("Diese Tauschanfrage gibt es nicht."))
    return swap


def lock_shifts(session: Session, *ids: int | None) -> None:
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


def lock_rows(session: Session, swap: SwapRequest) -> None:
    """Before deciding on a swap: lock both people in id order (concurrent bookings for them
    serialise here, as in create_shift, without two swaps deadlocking on each other), then
    the shifts, so that `obsolete.stale_reason` judges the rows `applying.apply` will
    change."""
    for person_id in sorted((swap.requester_id, swap.colleague_id)):
        session.get(Counsellor, person_id, with_for_update=True)
    lock_shifts(session, swap.shift_id, swap.return_shift_id)


def person(session: Session, counsellor_id: int, field: str) -> Counsellor:
    found = session.get(Counsellor, counsellor_id)
    if found is None:
        raise NotFound(N_("Diese Person gibt es nicht."), field=field)
    return found


def needs_approval(config: HotlineConfig, team: Team) -> bool:
    """Whether the team needs a coordinator's approval; a team no longer configured cannot
    take swaps at all."""
    team_config = config.teams.get(team.slug)
    if team_config is None:
        raise Invalid(N_("Dieses Team gibt es nicht mehr."), field="team")
    return team_config.swap_approval


def require_state(swap: SwapRequest, allowed: Iterable[SwapState]) -> None:
    if SwapState(swap.state) not in tuple(allowed):
        raise Conflict(f"Diese Anfrage ist bereits {STATE_LABELS[SwapState(swap.state)]}.")


def change(
    session: Session,
    swap: SwapRequest,
    state: SwapState,
    action: str,
    *,
    actor: str,
    extra: dict[str, object] | None = None,
) -> None:
    """Move the request to `state`, audited."""
    before = snapshot(swap)
    swap.state = state
    session.flush()
    audit.record(
        session,
        actor,
        action,
        "swap_request",
        swap.id,
        before=before,
        after=snapshot(swap) | (extra or {}),
    )
