"""What the pages show of open shifts, read in one transaction into plain data: in "Meine
Dienste" the viewer's own offers, the offers she may take and her history; in "Tauschanfragen"
a team's offers and the shifts its coordination may offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Counsellor, OfferState, Shift, ShiftOffer, SwapRequest, Team
from foundation.teams import team_by_slug
from scheduling import shifts
from scheduling.offers.expiring import stale_reason
from scheduling.offers.rows import LIVE
from scheduling.offers.taking import may_take
from scheduling.offers.words import EXPIRY_REASONS, STATE_LABELS
from scheduling.swaps.rows import OPEN as OPEN_SWAPS
from web import labels
from web.i18n import _
from web.swap_views import HISTORY, HORIZON, Option, Span


@dataclass(frozen=True, slots=True)
class OfferView:
    """An open shift as the pages show it (plain data: the session is closed by then)."""

    id: int
    team: str
    team_name: str
    state: OfferState
    state_label: str
    giver: str
    taker: str | None
    shift: Span | None
    note: str
    preapproved: bool
    updated_at: datetime
    stale: str | None  # why a live offer can no longer go ahead


def _span(shift: Shift | None) -> Span | None:
    return Span(shift.start_at, shift.end_at, labels.tier(shift.tier)) if shift else None


def _views(session: Session, rows: list[ShiftOffer], now: datetime) -> list[OfferView]:
    ids = {r.giver_id for r in rows} | {r.taker_id for r in rows if r.taker_id}
    names = {
        c.id: c.name for c in session.scalars(select(Counsellor).where(Counsellor.id.in_(ids)))
    }
    views = []
    for row in rows:
        team = session.get(Team, row.team_id)
        shift = session.get(Shift, row.shift_id) if row.shift_id else None
        state = OfferState(row.state)
        reason = stale_reason(session, row, now) if state in LIVE else None
        views.append(
            OfferView(
                id=row.id,
                team=team.slug if team else "",
                team_name=team.name if team else "",
                state=state,
                state_label=_(STATE_LABELS[state]),
                giver=names.get(row.giver_id, "?"),
                taker=names.get(row.taker_id, "?") if row.taker_id else None,
                shift=_span(shift),
                note=row.note or "",
                preapproved=row.preapproved,
                updated_at=row.updated_at,
                stale=_(EXPIRY_REASONS[reason]) if reason else None,
            )
        )
    return views


def _takeable(session: Session, me: Counsellor, now: datetime) -> list[ShiftOffer]:
    """The open offers of the viewer's teams she may take now."""
    team_ids = [team.id for team in me.teams]
    rows = session.scalars(
        select(ShiftOffer)
        .where(
            ShiftOffer.team_id.in_(team_ids),
            ShiftOffer.state == OfferState.OPEN,
            ShiftOffer.giver_id != me.id,
        )
        .order_by(ShiftOffer.id)
    )
    found = []
    for row in rows:
        shift = session.get(Shift, row.shift_id) if row.shift_id else None
        if shift is None or stale_reason(session, row, now) is not None:
            continue
        if may_take(session, shift.team, shift, me):
            found.append(row)
    return found


def mine(db: Database, settings: Settings, counsellor_id: int) -> dict[str, Any]:
    now = utcnow()
    with db.read() as session:
        me = session.get(Counsellor, counsellor_id)
        if me is None:
            return {}
        mentioned = list(
            session.scalars(
                select(ShiftOffer)
                .where(or_(ShiftOffer.giver_id == me.id, ShiftOffer.taker_id == me.id))
                .order_by(ShiftOffer.id.desc())
                .limit(200)
            )
        )
        views = _views(session, mentioned, now)
        pairs = list(zip(mentioned, views, strict=True))
        takeable = _views(session, _takeable(session, me, now), now)
        return {
            "offered": {
                row.shift_id: view
                for row, view in pairs
                if view.state in LIVE and row.giver_id == me.id and row.shift_id
            },
            "to_take": [v for v in takeable if v.team in settings.config.teams],
            "taken_by_me": [
                v for row, v in pairs if v.state is OfferState.TAKEN and row.taker_id == me.id
            ],
            "offer_history": [v for v in views if v.state not in LIVE][:HISTORY],
            "offerable_ids": {s.id for s in _free(session, now, counsellor_id=me.id)},
        }


def _free(
    session: Session, now: datetime, *, team: Team | None = None, counsellor_id: int | None = None
) -> list[Shift]:
    """Shifts of the next days that have not begun and are neither on offer nor named in an
    open swap request: what may be offered."""
    found = shifts.list_shifts(
        session, start=now, end=now + HORIZON, team=team, counsellor_id=counsellor_id
    )
    ids = [s.id for s in found]
    busy = set(
        session.scalars(
            select(ShiftOffer.shift_id).where(
                ShiftOffer.shift_id.in_(ids), ShiftOffer.state.in_(LIVE)
            )
        )
    )
    for pair in session.execute(
        select(SwapRequest.shift_id, SwapRequest.return_shift_id).where(
            SwapRequest.state.in_(OPEN_SWAPS),
            or_(SwapRequest.shift_id.in_(ids), SwapRequest.return_shift_id.in_(ids)),
        )
    ):
        busy.update(pair)
    return [s for s in found if s.start_at > now and s.id not in busy]


def _offerable(session: Session, settings: Settings, team: Team, now: datetime) -> list[Option]:
    zone = settings.config.organisation.zone
    return [Option(s.id, labels.shift_option(s, zone)) for s in _free(session, now, team=team)]


def team(db: Database, settings: Settings, slug: str) -> dict[str, Any]:
    now = utcnow()
    with db.read() as session:
        row = team_by_slug(session, slug, settings.config)
        rows = list(
            session.scalars(
                select(ShiftOffer)
                .where(ShiftOffer.team_id == row.id)
                .order_by(ShiftOffer.id.desc())
                .limit(200)
            )
        )
        views = _views(session, rows, now)
        return {
            "offers_waiting": [v for v in views if v.state is OfferState.TAKEN],
            "offers_open": [v for v in views if v.state is OfferState.OPEN],
            "offer_history": [v for v in views if v.state not in LIVE][: HISTORY * 2],
            "offerable": _offerable(session, settings, row, now),
        }
