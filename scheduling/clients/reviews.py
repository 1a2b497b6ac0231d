"""The review reminder: on the date of a plan's next review, its responsible counsellors are
told, as a shift notice of kind `review` (`foundation.models.ShiftNotice`), sent exactly once
by the notice queue (`scheduling.dispatch`, `scheduling.notices.jobs`).

`plan` (a scheduler job, every few minutes) stores one notice per client, review date,
counsellor and channel (its `dedupe_key` says so; `INSERT … ON CONFLICT DO NOTHING` lets two
schedulers run at once), due at `[clients] review_notice_time` on that day, or at once when the
date was set later that day. `words` (when it is sent) checks that the review still stands: the
client is there, not ended, the date unchanged, the counsellor still responsible. The message
names the case by its number only, never by its pseudonym.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import Client, ClientStatus, DispatchState, NoticeKind, ShiftNotice, Team
from foundation.outgoing import channels
from scheduling.clients import records
from scheduling.notices.store import active_counsellors, insert_ignoring_duplicates
from scheduling.notices.words import SIGNATURE, Words, team_name

EVERY = timedelta(minutes=5)


def key(client_id: int, day: date, counsellor_id: int, channel: str) -> str:
    return f"review:{client_id}:{day.isoformat()}:{counsellor_id}:{channel}"


def plan(session: Session, settings: Settings, now: datetime) -> int:
    """Store the review reminders of today's reviews (each once); returns how many are new."""
    zone = settings.config.organisation.zone
    today = now.astimezone(zone).date()
    found = list(
        session.scalars(
            select(Client).where(Client.review_on == today, Client.status != ClientStatus.ENDED)
        )
    )
    if not found:
        return 0
    teams = {t.id: t.slug for t in session.scalars(select(Team))}
    wanted: dict[int, list[int]] = {c.id: records.responsible_ids(session, c.id) for c in found}
    people = active_counsellors(session, {i for ids in wanted.values() for i in ids})
    moment = datetime.combine(today, settings.config.clients.review_notice_time, tzinfo=zone)
    rows: dict[str, dict[str, Any]] = {}
    for client in found:
        for person_id in wanted[client.id]:
            person = people.get(person_id)
            for channel in channels(person) if person is not None else []:
                dedupe_key = key(client.id, today, person_id, channel)
                rows[dedupe_key] = {
                    "dedupe_key": dedupe_key,
                    "counsellor_id": person_id,
                    "team_id": client.team_id,
                    "kind": NoticeKind.REVIEW,
                    "channel": channel,
                    "due_at": max(moment, now),
                    "payload": {
                        "client_id": client.id,
                        "review_on": today.isoformat(),
                        "team": teams.get(client.team_id, ""),
                    },
                    "state": DispatchState.PENDING,
                    "attempts": 0,
                    "created_at": now,
                }
    known = set(
        session.scalars(
            select(ShiftNotice.dedupe_key).where(ShiftNotice.dedupe_key.in_(list(rows)))
        )
    )
    new = [row for dedupe_key, row in rows.items() if dedupe_key not in known]
    insert_ignoring_duplicates(session, new)
    return len(new)


def words(session: Session, settings: Settings, row: ShiftNotice) -> Words | None:
    """The reminder's words, or None when the review no longer stands."""
    payload = row.payload
    client = session.get(Client, int(payload.get("client_id", 0) or 0))
    if client is None or client.status is ClientStatus.ENDED:
        return None
    if client.review_on is None or client.review_on.isoformat() != payload.get("review_on"):
        return None
    if row.counsellor_id not in records.responsible_ids(session, client.id):
        return None
    team = team_name(settings.config, str(payload.get("team", "")))
    text = (
        f"Heute steht die Überprüfung des Ausstiegsplans von Fall Nr. {client.id} ({team}) an. "
        "Sie finden ihn unter „Klienten“."
    )
    return Words(f"Überprüfung des Plans: Fall Nr. {client.id}", f"konex: {text}", text + SIGNATURE)


def plan_job(db: Database, settings: Settings) -> int:
    with db.write() as session:
        return plan(session, settings, utcnow())
