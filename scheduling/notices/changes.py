"""Change notices: the shift changes of a committing transaction (web page, API, rotation,
swap) gathered into one pending CHANGED notice per counsellor and channel, due
`change_delay_minutes` after the last change. A change a counsellor makes herself, and the
changes of a session marked QUIET (the demo, a swap that tells both people itself), tell
nobody."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker
from sqlalchemy.orm import SessionTransaction as Transaction

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    AuditEntry,
    Channel,
    DispatchState,
    NoticeKind,
    Shift,
    ShiftNotice,
    Team,
    Tier,
    User,
)
from foundation.outgoing import channels
from scheduling.notices.store import active_counsellors, insert_ignoring_duplicates

log = logging.getLogger(__name__)

# Set `session.info[QUIET] = True` and the shift changes of that session tell nobody (the demo).
QUIET = "shift_notices.quiet"
_CHANGES = "shift_notices.changes"
_ACTORS = "shift_notices.actors"
_USER_ACTOR = re.compile(r"^user:(\d+)\b")


@dataclass(frozen=True, slots=True)
class Change:
    """A shift of a counsellor that appeared ("new") or went away ("removed")."""

    what: str
    counsellor_id: int
    team_id: int
    tier: Tier
    start: datetime
    end: datetime

    def entry(self, slug: str) -> dict[str, str]:
        return {
            "change": self.what,
            "team": slug,
            "tier": self.tier.value,
            "start": self.start.astimezone(UTC).isoformat(),
            "end": self.end.astimezone(UTC).isoformat(),
        }


def net(entries: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Changes in order, with a shift that was removed and added again (or the reverse)
    dropped: a re-saved shift, or one moved there and back, is no change at all."""
    kept: list[dict[str, str]] = []
    for entry in entries:
        opposite = {**entry, "change": "removed" if entry["change"] == "new" else "new"}
        if opposite in kept:
            kept.remove(opposite)
        elif entry not in kept:
            kept.append(entry)
    return kept


class _Watcher:
    """Session hooks of one database: gather shift changes per flush, queue at commit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_flush(self, session: Session, _context: UOWTransaction) -> None:
        if session.info.get(QUIET):
            return
        # Each change is tagged with the savepoint it was made in, to forget it if that rolls back.
        savepoint = session.get_nested_transaction()
        changes: list[tuple[Transaction | None, Change]] = session.info.setdefault(_CHANGES, [])
        actors: set[str] = session.info.setdefault(_ACTORS, set())
        for obj in session.new:
            if isinstance(obj, Shift):
                changes.append((savepoint, _change("new", _now_values(obj))))
            elif isinstance(obj, AuditEntry):
                actors.add(obj.actor)
        for obj in session.deleted:
            if isinstance(obj, Shift):
                changes.append((savepoint, _change("removed", _old_values(obj))))
        for obj in session.dirty:
            if isinstance(obj, Shift):
                old, new = _old_values(obj), _now_values(obj)
                if old != new:
                    changes += [
                        (savepoint, _change("removed", old)),
                        (savepoint, _change("new", new)),
                    ]

    def before_commit(self, session: Session) -> None:
        if session.new or session.dirty or session.deleted:
            session.flush()  # the hooks see every change, and the audit entries naming who
        changes: list[tuple[Transaction | None, Change]] = session.info.pop(_CHANGES, [])
        actors: set[str] = session.info.pop(_ACTORS, set())
        if changes and not session.info.get(QUIET):
            queue_changes(session, self.settings, [c for _, c in changes], actors, utcnow())

    def after_soft_rollback(self, session: Session, previous: Transaction) -> None:
        """A savepoint rolled back (the rotation page tries each shift in one): its changes
        never happened."""
        changes = session.info.get(_CHANGES)
        if previous.nested and changes:
            changes[:] = [(tag, change) for tag, change in changes if tag is not previous]

    def after_transaction_end(self, session: Session, transaction: Transaction) -> None:
        if transaction.parent is None:  # rolled back (or done): nothing gathered survives
            session.info.pop(_CHANGES, None)
            session.info.pop(_ACTORS, None)


_WATCHERS: WeakKeyDictionary[sessionmaker[Session], _Watcher] = WeakKeyDictionary()


def watch(db: Database, settings: Settings) -> None:
    """Queue change notices for shift changes committed through `db.write()` (idempotent)."""
    factory: sessionmaker[Session] = db._write  # the sessions that write
    watcher = _WATCHERS.get(factory)
    if watcher is not None:
        watcher.settings = settings
        return
    watcher = _Watcher(settings)
    _WATCHERS[factory] = watcher
    event.listen(factory, "after_flush", watcher.after_flush)
    event.listen(factory, "before_commit", watcher.before_commit)
    event.listen(factory, "after_soft_rollback", watcher.after_soft_rollback)
    event.listen(factory, "after_transaction_end", watcher.after_transaction_end)


_FIELDS = ("counsellor_id", "team_id", "tier", "start_at", "end_at")


def _now_values(shift: Shift) -> tuple[Any, ...]:
    return (shift.counsellor_id, shift.team_id, shift.tier, shift.start_at, shift.end_at)


def _old_values(shift: Shift) -> tuple[Any, ...]:
    """The shift as it was before this flush (a swap reassigns shifts in place)."""
    state = inspect(shift)
    values = []
    for name in _FIELDS:
        history = state.attrs[name].history
        values.append(history.deleted[0] if history.deleted else getattr(shift, name))
    for name, column in (("counsellor", 0), ("team", 1)):
        history = state.attrs[name].history
        if history.deleted and history.deleted[0] is not None:
            values[column] = history.deleted[0].id
    return tuple(values)


def _change(what: str, values: tuple[Any, ...]) -> Change:
    counsellor_id, team_id, tier, start, end = values
    return Change(what, counsellor_id, team_id, Tier(tier), start, end)


def queue_changes(
    session: Session,
    settings: Settings,
    changes: Sequence[Change],
    actors: set[str],
    now: datetime,
) -> None:
    """Add `changes` to each counsellor's pending change notice (one per channel), due
    `change_delay_minutes` from now. Shifts already over, and changes a counsellor made to her
    own shifts, are not told."""
    future = [change for change in changes if change.end > now]
    if not future:
        return
    slugs: dict[int, str] = dict(session.execute(select(Team.id, Team.slug)).all())
    themselves = _acting_counsellors(session, actors)
    due = now + timedelta(minutes=settings.config.notices.change_delay_minutes)
    people = active_counsellors(session, {change.counsellor_id for change in future})
    for person in sorted(people.values(), key=lambda p: p.id):  # one lock order: no deadlocks
        if person.id in themselves:
            continue
        mine = [c for c in future if c.counsellor_id == person.id]
        entries = net(c.entry(slugs.get(c.team_id, "")) for c in mine)
        if not entries:
            continue
        for channel in channels(person):
            _merge(session, person.id, channel, entries, due)


def _acting_counsellors(session: Session, actors: set[str]) -> set[int]:
    users = [int(m.group(1)) for m in map(_USER_ACTOR.match, actors) if m]
    if not users:
        return set()
    found = session.scalars(select(User.counsellor_id).where(User.id.in_(users)))
    return {cid for cid in found if cid is not None}


def _merge(
    session: Session,
    counsellor_id: int,
    channel: Channel,
    entries: list[dict[str, str]],
    due: datetime,
) -> None:
    """Append to the counsellor's pending change notice, or start one. Two transactions
    starting one at once insert the same key: the second waits, inserts nothing and appends."""
    mine = (
        ShiftNotice.counsellor_id == counsellor_id,
        ShiftNotice.kind == NoticeKind.CHANGED,
        ShiftNotice.channel == channel,
    )
    for _ in range(5):
        notice = session.scalar(
            select(ShiftNotice)
            .where(*mine, ShiftNotice.state == DispatchState.PENDING)
            .order_by(ShiftNotice.id)
            .limit(1)
            .with_for_update()
        )
        if notice is not None:
            notice.payload = {"changes": net([*notice.payload.get("changes", []), *entries])}
            notice.due_at = due
            return
        number = (
            session.scalar(select(func.count()).select_from(ShiftNotice).where(*mine)) or 0
        ) + 1
        row = {
            "dedupe_key": f"changed:{counsellor_id}:{channel}:{number}",
            "counsellor_id": counsellor_id,
            "team_id": None,
            "kind": NoticeKind.CHANGED,
            "channel": channel,
            "due_at": due,
            "payload": {"changes": []},
            "state": DispatchState.PENDING,
            "attempts": 0,
            "created_at": utcnow(),
        }
        insert_ignoring_duplicates(session, [row])
    log.warning("change notice for counsellor %d not queued (contention)", counsellor_id)
