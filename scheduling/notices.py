"""Shift notices: a counsellor hears of her on-call duty before it starts, the outgoing
counsellor gets a handoff note, and a coordinator's changes are told in one gathered notice.

Every notice is a `ShiftNotice` row, sent by `scheduling.dispatch` exactly once:

* `plan` (every minute) derives the notices the rota calls for from `shifts.timeline` (stand-ins
  and absences applied, so the person actually serving is told and an absent one is not) and
  inserts them with a `dedupe_key` that names what a notice is about; `INSERT … ON CONFLICT DO
  NOTHING` lets two planners run at once and store each notice once. Pending notices whose duty
  no longer stands (a shift moved or deleted, a stand-in entered) are cancelled.
* `watch` gathers the shift changes of a committing transaction (web page, API, rotation, swap)
  into one pending CHANGED notice per counsellor and channel, due `change_delay_minutes` after
  the last change; a change a counsellor makes herself, and the demo (`QUIET`), tell nobody.
* `render` turns a claimed row into the German message, re-checking that the duty still stands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import Table, event, func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker
from sqlalchemy.orm import SessionTransaction as Transaction

from config.model import HotlineConfig, Notices
from config.settings import Settings
from foundation import dates
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    AuditEntry,
    Counsellor,
    DispatchState,
    NoticeKind,
    Reminder,
    Shift,
    ShiftNotice,
    TaskStatus,
    Team,
    Tier,
    User,
    Voicemail,
)
from foundation.outgoing import Channel, Outgoing, Provider, channels
from scheduling import dispatch, rota, shifts

log = logging.getLogger(__name__)

# Set `session.info[QUIET] = True` and the shift changes of that session tell nobody (the demo).
QUIET = "shift_notices.quiet"
_CHANGES = "shift_notices.changes"
_ACTORS = "shift_notices.actors"
_DUTIES = "shift_notices.duties"

# Upcoming notices are planned for duties starting this far ahead: more than the longest lead of
# an "evening before" notice (up to 48 hours, plus a DST hour), so it is planned before it is due.
LOOKAHEAD = timedelta(hours=50)
LOOKBACK = timedelta(hours=1)
# How far past the planning horizon the rota is read, so that a duty's end is known.
EXTENT = shifts.MAX_SHIFT
# A notice whose moment passed this recently is still planned (the planner runs every minute).
PLAN_SLACK = timedelta(minutes=2)
SMS_CHANGES = 3  # changes listed in an SMS; the e-mail lists all

TIER_WORDS = {Tier.PRIMARY: "primär", Tier.BACKUP: "Hintergrund"}
SIGNATURE = "\n\n-- \nkonex hotline (automatische Nachricht)"
_USER_ACTOR = re.compile(r"^user:(\d+)\b")


# --- duties: the pure core --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duty:
    """A maximal interval in which one counsellor is on call for one team, in whatever tier."""

    counsellor_id: int
    start: datetime
    end: datetime | None  # None: it lasts beyond the part of the rota that was read
    tier: Tier  # at the start
    last_tier: Tier  # just before the end
    successor: int | None  # who takes over `last_tier` at the end; None: nobody (or end unknown)


def duties(segments: Sequence[rota.Segment]) -> list[Duty]:
    """The duties in a timeline, in start order. A duty cut by the timeline's start begins at
    the timeline's start (so only starts after it are real)."""
    running: dict[int, tuple[datetime, Tier, Tier]] = {}
    found: list[Duty] = []
    for segment in segments:
        here = _tiers(segment.on_call)
        for cid in [cid for cid in running if cid not in here]:
            start, first, last = running.pop(cid)
            successor = _successor(segment.on_call, last)
            found.append(Duty(cid, start, segment.start, first, last, successor))
        for cid, tier in here.items():
            start, first, _ = running.get(cid, (segment.start, tier, tier))
            running[cid] = (start, first, tier)
    found.extend(Duty(cid, s, None, first, last, None) for cid, (s, first, last) in running.items())
    return sorted(found, key=lambda duty: (duty.start, duty.counsellor_id))


def _tiers(on_call: rota.OnCall) -> dict[int, Tier]:
    return {cid: tier for tier, ids in on_call.tiers() for cid in ids}


def _successor(on_call: rota.OnCall, tier: Tier) -> int | None:
    """Who takes over a tier: the first in that tier, else the first on call at all."""
    same = on_call.primary if tier is Tier.PRIMARY else on_call.backup
    everyone = same + on_call.counsellors()
    return everyone[0] if everyone else None


@dataclass(frozen=True, slots=True)
class Planned:
    """A notice a duty calls for, before it is given a channel."""

    kind: NoticeKind
    duty: Duty
    at: datetime  # the instant it is about: the duty's start (upcoming) or end (handoff)
    label: str  # which of the duty's notices: "evening-1800", "60m", "handoff"
    due_at: datetime

    @property
    def tier(self) -> Tier:
        return self.duty.tier if self.kind is NoticeKind.UPCOMING else self.duty.last_tier

    def key(self, team: str, channel: str) -> str:
        """What the notice is about: planning it again, anywhere, finds the same key."""
        return ":".join(
            (
                self.kind.value,
                team,
                str(self.duty.counsellor_id),
                channel,
                self.tier.value,
                f"{self.at.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                self.label,
            )
        )


def evening_before(start: datetime, at: time, zone: ZoneInfo) -> datetime:
    """`at` (local wall-clock time) on the day before the local date of `start`."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    return datetime.combine(day, at.replace(fold=0), tzinfo=zone).astimezone(UTC)


def planned(
    duty: Duty, rules: Notices, zone: ZoneInfo, now: datetime, until: datetime
) -> list[Planned]:
    """The notices of one duty: before it starts (if it starts in (now, until]) and the handoff
    note (if it ends in (now, until] and someone takes over). Moments already past included:
    the caller decides what is too late."""
    found: list[Planned] = []
    if now < duty.start <= until:
        if rules.evening_before is not None:
            due = evening_before(duty.start, rules.evening_before, zone)
            label = f"evening-{rules.evening_before:%H%M}"
            if due < duty.start:
                found.append(Planned(NoticeKind.UPCOMING, duty, duty.start, label, due))
        for minutes in sorted(set(rules.before_minutes)):
            due = duty.start - timedelta(minutes=minutes)
            found.append(Planned(NoticeKind.UPCOMING, duty, duty.start, f"{minutes}m", due))
    end = duty.end
    if end is not None and now < end <= until and duty.successor is not None:
        due = end - timedelta(minutes=rules.handoff_minutes)
        if rules.handoff_minutes and due >= duty.start:
            found.append(Planned(NoticeKind.HANDOFF, duty, end, "handoff", due))
    return found


def horizon(rules: Notices) -> timedelta:
    """How far ahead the planner looks: far enough for the longest lead of any notice."""
    leads = [LOOKAHEAD, timedelta(minutes=rules.handoff_minutes) + PLAN_SLACK]
    leads += [timedelta(minutes=m) + PLAN_SLACK for m in rules.before_minutes]
    return max(leads)


# --- planning ---------------------------------------------------------------------------------


@dataclass
class PlanResult:
    inserted: int = 0
    revived: int = 0
    cancelled: int = 0


def team_duties(session: Session, config: HotlineConfig, slug: str, now: datetime) -> list[Duty]:
    """The team's duties around the planning window, from the rota as it stands."""
    until = now + horizon(config.notices) + EXTENT
    return duties(shifts.timeline(session, config, slug, now - LOOKBACK, until))


def plan(session: Session, settings: Settings, now: datetime) -> PlanResult:
    """Store the notices the rota calls for (each once) and cancel those it no longer does."""
    config = settings.config
    rules = config.notices
    until = now + horizon(rules)
    wanted: list[tuple[Team, Planned]] = []
    teams = {
        t.slug: t for t in session.scalars(select(Team).where(Team.slug.in_(list(config.teams))))
    }
    for slug, team in teams.items():
        for duty in team_duties(session, config, slug, now):
            wanted += [
                (team, p) for p in planned(duty, rules, config.organisation.zone, now, until)
            ]
    people = _people(session, {p.duty.counsellor_id for _, p in wanted})
    rows: dict[str, dict[str, Any]] = {}
    for team, notice in wanted:
        person = people.get(notice.duty.counsellor_id)
        for channel in channels(person) if person is not None else []:
            rows[notice.key(team.slug, channel)] = _row(team, notice, channel, now)
    due = {key: row for key, row in rows.items() if row["due_at"] >= now - PLAN_SLACK}
    result = PlanResult()
    result.inserted = _insert_new(session, due)
    result.revived = _revive(session, [k for k, row in due.items() if row["due_at"] > now], now)
    result.cancelled = _cancel_stale(session, set(rows), now, until)
    return result


def _row(team: Team, notice: Planned, channel: str, now: datetime) -> dict[str, Any]:
    duty = notice.duty
    return {
        "dedupe_key": notice.key(team.slug, channel),
        "counsellor_id": duty.counsellor_id,
        "team_id": team.id,
        "kind": notice.kind,
        "channel": channel,
        "due_at": notice.due_at,
        "payload": {
            "team": team.slug,
            "tier": notice.tier.value,
            "at": notice.at.isoformat(),
            "start": duty.start.isoformat(),
            "end": duty.end.isoformat() if duty.end else None,
            "successor": duty.successor,  # as planned; the handoff names who it is when sent
        },
        "state": DispatchState.PENDING,
        "attempts": 0,
        "created_at": now,
    }


def _people(session: Session, ids: Iterable[int]) -> dict[int, Counsellor]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = session.scalars(select(Counsellor).where(Counsellor.id.in_(wanted)))
    return {person.id: person for person in found if person.active}


def insert_ignoring_duplicates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING, on PostgreSQL and SQLite alike: of two
    transactions inserting one key, the second waits for the first and then does nothing."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(cast(Table, ShiftNotice.__table__)).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    )
    session.connection().execute(statement, list(rows))


def _insert_new(session: Session, rows: dict[str, dict[str, Any]]) -> int:
    if not rows:
        return 0
    known = set(
        session.scalars(
            select(ShiftNotice.dedupe_key).where(ShiftNotice.dedupe_key.in_(list(rows)))
        )
    )
    new = [row for key, row in rows.items() if key not in known]
    insert_ignoring_duplicates(session, new)
    return len(new)


def _revive(session: Session, keys: list[str], now: datetime) -> int:
    """A notice the planner cancelled becomes pending again when its duty is back (a stand-in
    deleted again) and its moment is still ahead. Only unsent rows were ever cancelled."""
    if not keys:
        return 0
    revived = session.execute(
        update(ShiftNotice)
        .where(
            ShiftNotice.dedupe_key.in_(keys),
            ShiftNotice.state == DispatchState.CANCELLED,
            ShiftNotice.due_at > now,
        )
        .values(state=DispatchState.PENDING)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(revived, "rowcount", 0) or 0)


def _cancel_stale(session: Session, valid: set[str], now: datetime, until: datetime) -> int:
    """Pending notices about a duty instant inside the planning window that the rota no longer
    calls for. Instants already past are left to the dispatcher (render re-checks them)."""
    pending = session.execute(
        select(ShiftNotice.id, ShiftNotice.dedupe_key, ShiftNotice.payload).where(
            ShiftNotice.state == DispatchState.PENDING,
            ShiftNotice.kind.in_([NoticeKind.UPCOMING, NoticeKind.HANDOFF]),
        )
    ).all()
    stale = [
        row_id
        for row_id, key, payload in pending
        if key not in valid and now < datetime.fromisoformat(payload["at"]) <= until
    ]
    if not stale:
        return 0
    cancelled = session.execute(
        update(ShiftNotice)
        .where(ShiftNotice.id.in_(stale), ShiftNotice.state == DispatchState.PENDING)
        .values(state=DispatchState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(cancelled, "rowcount", 0) or 0)


# --- change notices ---------------------------------------------------------------------------


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
    people = _people(session, {change.counsellor_id for change in future})
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
    session: Session, counsellor_id: int, channel: str, entries: list[dict[str, str]], due: datetime
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


# --- rendering --------------------------------------------------------------------------------


def local_day(moment: datetime) -> str:
    """'Do 26.11.' (moment already in the local zone)."""
    return dates.weekday_day(moment)


def day_words(moment: datetime, today: date) -> str:
    """'heute, Do 26.11.,' / 'morgen, Do 26.11.,' / 'am Do 26.11.' for a sentence."""
    if moment.date() == today:
        return f"heute, {local_day(moment)},"
    if moment.date() == today + timedelta(days=1):
        return f"morgen, {local_day(moment)},"
    return f"am {local_day(moment)}"


def duty_words(team: str, tier: Tier) -> str:
    return f"Ihre Rufbereitschaft ({team}, {TIER_WORDS[tier]})"


def upcoming_text(
    team: str, tier: Tier, start: datetime, end: datetime | None, now: datetime, zone: ZoneInfo
) -> str:
    begin = start.astimezone(zone)
    text = (
        f"{duty_words(team, tier)} beginnt {day_words(begin, now.astimezone(zone).date())} "
        f"um {begin:%H:%M} Uhr"
    )
    if end is not None:
        finish = end.astimezone(zone)
        day = "" if finish.date() == begin.date() else f"{local_day(finish)} "
        text += f" und endet {day}um {finish:%H:%M} Uhr"
    return text + "."


def handoff_text(
    team: str,
    tier: Tier,
    end: datetime,
    successor: str,
    open_voicemails: int,
    *,
    now: datetime,
    zone: ZoneInfo,
) -> str:
    finish = end.astimezone(zone)
    messages = (
        f"Offene Sprachnachrichten im Team: {open_voicemails}."
        if open_voicemails
        else "Keine offenen Sprachnachrichten im Team."
    )
    return (
        f"{duty_words(team, tier)} endet {day_words(finish, now.astimezone(zone).date())} "
        f"um {finish:%H:%M} Uhr. Danach übernimmt {successor}. {messages}"
    )


def change_lines(entries: Sequence[dict[str, str]], config: HotlineConfig) -> list[str]:
    """'Neu: Team Islamismus, primär, Do 26.11. 09:00 – Fr 27.11. 09:00', in start order."""
    zone = config.organisation.zone
    lines = []
    for entry in sorted(entries, key=lambda e: (e["start"], e["change"] != "removed")):
        start = datetime.fromisoformat(entry["start"]).astimezone(zone)
        end = datetime.fromisoformat(entry["end"]).astimezone(zone)
        what = "Neu" if entry["change"] == "new" else "Entfällt"
        lines.append(
            f"{what}: {team_name(config, entry['team'])}, {TIER_WORDS[Tier(entry['tier'])]}, "
            f"{local_day(start)} {start:%H:%M} – {local_day(end)} {end:%H:%M}"
        )
    return lines


def changed_sms(lines: Sequence[str]) -> str:
    shown = list(lines[:SMS_CHANGES])
    rest = len(lines) - len(shown)
    if rest:
        more = "1 weitere Änderung" if rest == 1 else f"{rest} weitere Änderungen"
        shown.append(f"{more} im Dienstplan")
    return "konex: Ihr Dienstplan wurde geändert. " + "; ".join(shown) + "."


def team_name(config: HotlineConfig, slug: str) -> str:
    team = config.teams.get(slug)
    return team.name if team is not None else slug


@dataclass(frozen=True, slots=True)
class Words:
    subject: str
    sms: str
    email: str


def render(
    session: Session, settings: Settings, row: ShiftNotice, now: datetime
) -> Outgoing | None:
    """The message for a claimed notice, or None when there is nothing to say any more (the
    duty is gone or has begun, the counsellor switched the channel off or was deactivated)."""
    person = session.get(Counsellor, row.counsellor_id)
    if person is None or not person.active or row.channel not in channels(person):
        return None
    words = _words(session, settings, row, now)
    if words is None:
        return None
    purpose = f"shift notice {row.kind.value}"
    if row.channel == Channel.EMAIL:
        return Outgoing(
            Channel.EMAIL, person.email or "", words.email, purpose, subject=words.subject
        )
    general = settings.config.organisation.general_number
    return Outgoing(Channel.SMS, person.phone, words.sms, purpose, from_number=general)


def _words(session: Session, settings: Settings, row: ShiftNotice, now: datetime) -> Words | None:
    config = settings.config
    zone = config.organisation.zone
    payload = row.payload
    if row.kind is NoticeKind.SWAP:
        text = str(payload.get("text", ""))
        subject = str(payload.get("subject") or "Diensttausch")
        return Words(subject, text, text + SIGNATURE) if text else None
    if row.kind is NoticeKind.CHANGED:
        entries = [e for e in payload.get("changes", []) if datetime.fromisoformat(e["end"]) > now]
        if not entries:
            return None
        lines = change_lines(entries, config)
        body = "Ihr Dienstplan wurde geändert:\n\n" + "\n".join(lines) + SIGNATURE
        return Words("Ihr Dienstplan wurde geändert", changed_sms(lines), body)
    duty = _standing(session, config, row, now)
    if duty is None:
        return None
    team = team_name(config, payload["team"])
    if row.kind is NoticeKind.UPCOMING:
        text = upcoming_text(team, duty.tier, duty.start, duty.end, now, zone)
        begin = duty.start.astimezone(zone)
        subject = f"Rufbereitschaft ab {local_day(begin)} {begin:%H:%M}"
    else:
        if duty.end is None or duty.successor is None:  # _standing found none such
            return None
        successor = session.get(Counsellor, duty.successor)
        first_name = successor.name.split()[0] if successor and successor.name else "jemand"
        waiting = _open_voicemails(session, row.team_id)
        text = handoff_text(team, duty.last_tier, duty.end, first_name, waiting, now=now, zone=zone)
        finish = duty.end.astimezone(zone)
        subject = f"Übergabe der Rufbereitschaft {local_day(finish)} {finish:%H:%M}"
    return Words(subject, f"konex: {text}", text + SIGNATURE)


def _standing(
    session: Session, config: HotlineConfig, row: ShiftNotice, now: datetime
) -> Duty | None:
    """The duty a notice is about, if the rota still has it and it has not begun (upcoming)
    or ended (handoff)."""
    slug = row.payload.get("team", "")
    at = datetime.fromisoformat(row.payload["at"])
    tier = Tier(row.payload["tier"])
    if slug not in config.teams:
        return None
    cache: dict[str, list[Duty]] = session.info.setdefault(_DUTIES, {})
    if slug not in cache:
        cache[slug] = team_duties(session, config, slug, now)
    for duty in cache[slug]:
        if duty.counsellor_id != row.counsellor_id:
            continue
        if row.kind is NoticeKind.UPCOMING and duty.start == at and duty.tier is tier:
            return duty if now < at else None
        if (
            row.kind is NoticeKind.HANDOFF
            and duty.end == at
            and duty.last_tier is tier
            and duty.successor is not None
        ):
            return duty if now < at else None
    return None


def _open_voicemails(session: Session, team_id: int | None) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Voicemail)
        .where(Voicemail.team_id == team_id, Voicemail.status == TaskStatus.NEW)
    )
    return int(found or 0)


# --- the scheduler's jobs ---------------------------------------------------------------------


class NoticeQueue:
    """Shift notices for `scheduling.dispatch`."""

    name = "shift notices"
    model: type[Reminder] | type[ShiftNotice] = ShiftNotice

    def grace(self, settings: Settings) -> timedelta:
        return timedelta(minutes=settings.config.notices.grace_minutes)

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        return render(session, settings, row, utcnow())


NOTICES = NoticeQueue()


def plan_job(db: Database, settings: Settings) -> PlanResult:
    with db.write() as session:
        return plan(session, settings, utcnow())


def dispatch_job(db: Database, settings: Settings, provider: Provider) -> dispatch.Round:
    return dispatch.dispatch(db, settings, NOTICES, send=provider.send)
