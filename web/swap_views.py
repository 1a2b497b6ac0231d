"""What the swap pages show, read in one transaction into plain data (the session is closed
by the time a template renders): a counsellor's upcoming shifts with what each swap form
offers, and the requests naming her ("Meine Dienste"); a team's requests ("Tauschanfragen")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Counsellor, Shift, ShiftOffer, SwapRequest, SwapState, Team
from foundation.teams import team_by_slug
from scheduling import shifts
from scheduling.offers.rows import LIVE
from scheduling.swaps.obsolete import stale_reason
from scheduling.swaps.rows import OPEN
from scheduling.swaps.words import OBSOLETE_REASONS, STATE_LABELS
from web import labels
from web.i18n import _

HORIZON = timedelta(days=90)  # how far ahead "Meine Dienste" lists shifts
HISTORY = 20


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    tier: str


@dataclass(frozen=True, slots=True)
class SwapView:
    """A swap request as the pages show it (plain data: the session is closed by then)."""

    id: int
    team: str
    team_name: str
    state: SwapState
    state_label: str
    requester: str
    colleague: str
    shift: Span | None
    return_shift: Span | None
    note: str
    created_at: datetime
    updated_at: datetime
    stale: str | None  # why an open request can no longer go ahead


@dataclass(frozen=True, slots=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class MyShift:
    """One upcoming shift of the viewer, with what its swap form offers."""

    id: int
    team: str
    team_name: str
    span: Span
    pending: SwapView | None
    colleagues: list[Option]
    return_shifts: list[Option]


def _span(shift: Shift | None) -> Span | None:
    if shift is None:
        return None
    return Span(shift.start_at, shift.end_at, labels.tier(shift.tier))


def _views(session: Session, rows: list[SwapRequest], now: datetime) -> list[SwapView]:
    names = {
        c.id: c.name
        for c in session.scalars(
            select(Counsellor).where(
                Counsellor.id.in_({r.requester_id for r in rows} | {r.colleague_id for r in rows})
            )
        )
    }
    views = []
    for row in rows:
        team = session.get(Team, row.team_id)
        state = SwapState(row.state)
        reason = stale_reason(session, row, now) if state in OPEN else None
        views.append(
            SwapView(
                id=row.id,
                team=team.slug if team else "",
                team_name=team.name if team else "",
                state=state,
                state_label=_(STATE_LABELS[state]),
                requester=names.get(row.requester_id, "?"),
                colleague=names.get(row.colleague_id, "?"),
                shift=_span(session.get(Shift, row.shift_id) if row.shift_id else None),
                return_shift=_span(
                    session.get(Shift, row.return_shift_id) if row.return_shift_id else None
                ),
                note=row.note or "",
                created_at=row.created_at,
                updated_at=row.updated_at,
                stale=_(OBSOLETE_REASONS[reason]) if reason else None,
            )
        )
    return views


def _in_open_requests(session: Session, team_id: int) -> set[int]:
    """Shifts of the team named in an open request or on offer to the team (they cannot be
    offered in another)."""
    rows = session.execute(
        select(SwapRequest.shift_id, SwapRequest.return_shift_id).where(
            SwapRequest.team_id == team_id, SwapRequest.state.in_(OPEN)
        )
    )
    offered = session.scalars(
        select(ShiftOffer.shift_id).where(ShiftOffer.team_id == team_id, ShiftOffer.state.in_(LIVE))
    )
    named = {shift_id for pair in rows for shift_id in pair} | set(offered)
    return {shift_id for shift_id in named if shift_id is not None}


def mine(db: Database, settings: Settings, counsellor_id: int) -> dict[str, Any]:
    now = utcnow()
    zone = settings.config.organisation.zone
    with db.read() as session:
        me = session.get(Counsellor, counsellor_id)
        if me is None:
            return {"me": None}
        own = shifts.list_shifts(session, start=now, end=now + HORIZON, counsellor_id=me.id)
        own = [s for s in own if s.team.slug in settings.config.teams]
        mentioned = list(
            session.scalars(
                select(SwapRequest)
                .where(or_(SwapRequest.requester_id == me.id, SwapRequest.colleague_id == me.id))
                .order_by(SwapRequest.id.desc())
                .limit(200)
            )
        )
        views = _views(session, mentioned, now)
        # A shift named in an open request, on either side, cannot be offered again.
        open_by_shift = {
            shift_id: view
            for row, view in zip(mentioned, views, strict=True)
            if view.state in OPEN
            for shift_id in (row.shift_id, row.return_shift_id)
            if shift_id is not None
        }
        colleagues: dict[int, list[Option]] = {}
        offers: dict[int, list[Option]] = {}
        for team in {s.team_id: s.team for s in own}.values():
            others = [c for c in team.counsellors if c.active and c.id != me.id]
            colleagues[team.id] = [Option(c.id, c.name) for c in others]
            theirs = shifts.list_shifts(session, start=now, end=now + HORIZON, team=team)
            taken = _in_open_requests(session, team.id)
            offers[team.id] = [
                Option(s.id, labels.shift_option(s, zone))
                for s in theirs
                if s.counsellor_id != me.id and s.counsellor.active and s.id not in taken
            ]
        upcoming = [
            MyShift(
                id=s.id,
                team=s.team.slug,
                team_name=s.team.name,
                span=Span(s.start_at, s.end_at, labels.tier(s.tier)),
                pending=open_by_shift.get(s.id),
                colleagues=colleagues[s.team_id],
                return_shifts=offers[s.team_id],
            )
            for s in own
        ]
        return {
            "me": me.name,
            "upcoming": upcoming,
            "incoming": [
                v
                for v, row in zip(views, mentioned, strict=True)
                if v.state is SwapState.REQUESTED and row.colleague_id == me.id
            ],
            "outgoing": [
                v
                for v, row in zip(views, mentioned, strict=True)
                if v.state in OPEN and row.requester_id == me.id
            ],
            "history": [v for v in views if v.state not in OPEN][:HISTORY],
            "horizon_days": HORIZON.days,
        }


def team(db: Database, settings: Settings, slug: str) -> dict[str, Any]:
    now = utcnow()
    with db.read() as session:
        team = team_by_slug(session, slug, settings.config)
        rows = list(
            session.scalars(
                select(SwapRequest)
                .where(SwapRequest.team_id == team.id)
                .order_by(SwapRequest.id.desc())
                .limit(200)
            )
        )
        views = _views(session, rows, now)
        return {
            "team_name": team.name,
            "approval": settings.config.teams[slug].swap_approval,
            "waiting": [v for v in views if v.state is SwapState.ACCEPTED],
            "asked": [v for v in views if v.state is SwapState.REQUESTED],
            "history": [v for v in views if v.state not in OPEN][: HISTORY * 2],
        }
