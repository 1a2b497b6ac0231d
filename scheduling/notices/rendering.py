"""A claimed notice turned into its message, re-checking that it still has something to say:
the duty still stands and has not begun (or ended), the counsellor is active and still wants
that channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.model import HotlineConfig
from config.settings import Settings
from foundation.models import Counsellor, NoticeKind, ShiftNotice, TaskStatus, Tier, Voicemail
from foundation.outgoing import Channel, Outgoing, channels
from scheduling.clients import reviews
from scheduling.notices.duties import Duty
from scheduling.notices.planning import team_duties
from scheduling.notices.words import (
    SIGNATURE,
    Words,
    change_lines,
    changed_sms,
    handoff_text,
    local_day,
    team_name,
    upcoming_text,
)

_DUTIES = "shift_notices.duties"


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
    if row.kind is NoticeKind.REVIEW:
        return reviews.words(session, settings, row)
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
