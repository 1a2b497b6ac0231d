"""The use cases of a call to a line, one transaction each, testable without HTTP.

The webhooks (`web.twilio.voice`) check the signature, keep the time budget and speak HTTP;
what a step means is decided here: the incoming call's record and who to ring, the caller's
menu choice, what a Dial's result means (taken, or the next step), the fallback's result, the
counsellor's key press, a voicemail (stored, and who is told with which SMS), a status callback.
Who is on call comes from the `Rota` handed in; who of them to ring from `hotline.routing`;
how it sounds from `hotline.twiml`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from config.languages import Speech
from config.model import Line
from config.phone import InvalidPhoneNumber, normalise
from config.settings import Settings
from foundation import copies, crypto, outbox
from foundation.db import Database
from foundation.models import Direction, Tier
from foundation.teams import team_by_slug
from hotline import busy, calls, hours, routing
from hotline.routing import Rota, Target

log = logging.getLogger(__name__)

# Withheld numbers, as Twilio sends them in `From`: callers like any other, but nothing to keep.
ANONYMOUS = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "+266696687"})
_E164 = re.compile(r"\+[1-9]\d{5,14}")
ANSWERED = frozenset({"completed", "answered"})  # DialCallStatus of a leg that was picked up
# Longer than the whisper can possibly last (two prompts and the key timeout).
SURELY_TALKED_SECONDS = 45


@dataclass(frozen=True, slots=True)
class Caller:
    """A call as Twilio names it: its CallSid and the caller's number (`From`, as sent)."""

    call_sid: str
    number: str = ""


@dataclass(frozen=True, slots=True)
class Steps:
    """Who to ring, step by step; `skipped`: on call, but busy in another conversation."""

    steps: list[list[Target]]
    skipped: frozenset[int] = frozenset()

    @property
    def all_busy(self) -> bool:
        """Somebody is on call, and everyone on call is in another conversation."""
        return not self.steps and bool(self.skipped)


@dataclass(frozen=True, slots=True)
class Plan:
    """Who to ring, step by step, as the rota stood (and who was skipped as busy); the team's
    id and when the rota changes next (the hot path keeps its first answer until then)."""

    steps: list[list[Target]]
    team_id: int
    next_change: datetime | None
    skipped: frozenset[int] = frozenset()

    @property
    def ringing(self) -> frozenset[int]:
        """Everyone the plan rings: if any of them becomes busy, the plan is out of date."""
        return frozenset(target.counsellor_id for step in self.steps for target in step)


@dataclass(frozen=True, slots=True)
class Opened:
    """An incoming call: why the line is closed ("holiday", "hours") or None, and, on the common
    path (open, no menu first), its plan. No plan also when the record could not be written: the
    caller is routed anyway."""

    closed: str | None
    plan: Plan | None = None


# --- the caller's number -----------------------------------------------------------------------


def is_anonymous(caller: str) -> bool:
    return caller.strip().lower() in ANONYMOUS


def caller_hash(settings: Settings, line: Line, caller: str) -> str | None:
    """The keyed hash that counts repeat callers; None for a withheld number or when the line
    keeps none."""
    if not line.caller_hash or is_anonymous(caller):
        return None
    if not _E164.fullmatch(caller):  # Twilio sends E.164; anything else is normalised
        with contextlib.suppress(InvalidPhoneNumber):
            caller = normalise(caller)
    return crypto.keyed_hash(settings, "caller", caller)


def sealed_caller(settings: Settings, line: Line, caller: str) -> bytes | None:
    """The caller's number, encrypted, to keep with a voicemail for a call-back through the
    line; None for a withheld number or when the line keeps none."""
    if not line.voicemail_keeps_number or is_anonymous(caller):
        return None
    try:
        number = normalise(caller)
    except InvalidPhoneNumber:
        return None
    return crypto.box(settings).seal(number)


# --- who to ring --------------------------------------------------------------------------------


def steps(
    db: Database,
    rota: Rota,
    line: Line,
    at: datetime,
    *,
    relative: bool,
    call_sid: str = "",
    now: datetime | None = None,
    language: str | None = None,
) -> Steps:
    """Who to ring at each step of a call that came in at `at`, recomputed at every step from
    the rota at that instant, so the steps need no session state. Who is busy in another
    conversation is decided once, at the call's first step (`now` given: it is noted on the
    call's record), and read back from the record at the later ones, so that the steps stay
    the same steps. Those on call who speak the caller's `language` are rung first."""
    if now is None:
        with db.read() as session:
            on_call = rota(session, routing.team_of(line, relative=relative), at)
            call = calls.find(session, call_sid) if call_sid else None
            skipped = frozenset(call.busy_skipped or ()) if call is not None else frozenset()
        found = routing.plan(on_call, line, relative=relative, busy=skipped, language=language)
        return Steps(found, skipped)
    with db.write() as session:
        on_call = rota(session, routing.team_of(line, relative=relative), at)
        skipped = _busy_now(session, on_call, line, relative, now)
        if call_sid:
            calls.skipped_busy(session, call_sid, skipped)
    found = routing.plan(on_call, line, relative=relative, busy=skipped, language=language)
    return Steps(found, skipped)


def _busy_now(
    session: Session, on_call: routing.OnCall, line: Line, relative: bool, now: datetime
) -> frozenset[int]:
    return busy.busy(session, now, among=routing.wanted(on_call, line, relative=relative))


def first_plan(db: Database, settings: Settings, rota: Rota, line_slug: str, at: datetime) -> Plan:
    """The plan a call to the line would get at `at`, without a call (the hot path refreshes its
    first answer with it): in the line's first language, as for a caller who presses nothing."""
    line = settings.config.lines[line_slug]
    with db.read() as session:
        team = team_by_slug(session, line.team, settings.config)
        on_call = rota(session, line.team, at, next_change=True)
        skipped = _busy_now(session, on_call, line, False, at)
    found = routing.plan(on_call, line, busy=skipped, language=line.languages[0])
    return Plan(found, team.id, on_call.next_change, skipped)


# --- the steps of a call -----------------------------------------------------------------------


def open_call(
    db: Database,
    settings: Settings,
    rota: Rota,
    line_slug: str,
    caller: Caller,
    now: datetime,
    *,
    next_change: bool = False,
) -> Opened:
    """A call came in: record it and, on the common path, work out who to ring, in one
    transaction. A retried webhook changes nothing. If the record cannot be written the caller
    is routed anyway (the plan is then worked out again, step by step). The record and the
    plan are in the line's first language: what a caller who presses no key at the language
    menu gets (`language_chosen` changes the record when she does)."""
    line = settings.config.lines[line_slug]
    closed = hours.closed_reason(settings.config, line, now)
    plan = None
    try:
        with db.write() as session:
            team = team_by_slug(session, line.team, settings.config)
            calls.open_call(
                session,
                call_sid=caller.call_sid,
                line=line_slug,
                team=team,
                caller_hash=caller_hash(settings, line, caller.number),
                at=now,
                closed_reason=closed,
                language=line.languages[0],
            )
            if closed is None and not line.relatives_menu:
                on_call = rota(session, line.team, now, next_change=next_change)
                skipped = _busy_now(session, on_call, line, False, now)
                calls.skipped_busy(session, caller.call_sid, skipped)
                plan = Plan(
                    routing.plan(on_call, line, busy=skipped, language=line.languages[0]),
                    team.id,
                    on_call.next_change,
                    skipped,
                )
    except Exception as exc:  # the record is not worth a caller: route anyway
        log.error("line %s: call not recorded (%s)", line_slug, type(exc).__name__)
    return Opened(closed, plan)


def language_chosen(db: Database, line: Line, call_sid: str, digits: str) -> Speech:
    """The caller's key at the language menu: the n-th language of the line for key n, noted on
    the call's record; any other key is the line's first language."""
    speech = line.language_at(digits) or line.spoken[0]
    if speech.code != line.languages[0]:
        try:
            with db.write() as session:
                calls.set_language(session, call_sid, speech.code)
        except Exception as exc:  # the record is not worth a caller: on in her language
            log.error("call's language not recorded (%s)", type(exc).__name__)
    return speech


def menu_chosen(db: Database, call_sid: str, digits: str) -> bool:
    """The caller's answer to the relatives menu: True for a relative (key 2), whose call is
    marked so; anything else is a call like any other."""
    relative = digits == "2"
    if relative:
        try:
            with db.write() as session:
                calls.mark_relative(session, call_sid)
        except Exception as exc:  # the record is not worth a caller: on to the relatives' tiers
            log.error("call not marked as a relative's (%s)", type(exc).__name__)
    return relative


def dial_ended(
    db: Database, line: Line, call_sid: str, status: str, duration: int, *, dial_sid: str = ""
) -> bool:
    """A tier's Dial ended with `status` after `duration` seconds. True: the call was taken, the
    caller's leg hangs up; False: ring the next step. `dial_sid`: Twilio's id of the leg that
    was dialled, noted for the retention (`foundation.copies`)."""
    with db.write() as session:
        copies.record(session, dial_sid, Direction.OUT, "dial")
        call = calls.find(session, call_sid)
        if call is not None and call.accepted_by_id is not None:
            calls.talked(session, call_sid, duration)
            return True
        if call is None and status in ANSWERED and duration > SURELY_TALKED_SECONDS:
            # No record to tell (it could not be written): a leg this long was a conversation,
            # not a whisper that timed out. Do not ring the next tier after it.
            return True
        if not line.screening and status in ANSWERED:
            # Without screening, an answer is taken for acceptance (a mailbox included).
            calls.answered_unscreened(session, call_sid, duration)
            return True
    return False


def fallback_ended(
    db: Database, call_sid: str, status: str, now: datetime, *, dial_sid: str = ""
) -> bool:
    """The Dial to the fallback number ended; True if it was answered (else: voicemail)."""
    answered = status in ANSWERED
    with db.write() as session:
        copies.record(session, dial_sid, Direction.OUT, "fallback-dial", now)
        calls.fallback(session, call_sid, answered=answered, at=now)
    return answered


@dataclass(frozen=True, slots=True)
class Taken:
    """A counsellor takes the call and is bridged. `waited`: the seconds from the call's start,
    when hers is the call's first acceptance (None: a repeated key press, or no record)."""

    waited: float | None


def screen_answered(
    db: Database,
    parent_sid: str,
    counsellor_id: int,
    digits: str,
    now: datetime,
    *,
    tier: Tier | None = None,
) -> Taken | None:
    """The counsellor pressed `digits` at the whisper. Taken: she takes the call and is
    bridged; None: her leg hangs up (another key, or the caller is gone: a replayed or late
    key press)."""
    if digits != "1":
        return None
    with db.write() as session:
        call = calls.find(session, parent_sid)
        if call is not None and call.state in calls.FINAL_STATES:
            return None
        return Taken(calls.accept(session, parent_sid, counsellor_id, now, tier))


def voicemail_left(
    db: Database,
    settings: Settings,
    rota: Rota,
    line_slug: str,
    caller: Caller,
    *,
    recording_sid: str,
    seconds: int,
    now: datetime,
    language: str | None = None,
) -> list[int]:
    """The caller left a voicemail: stored as a task for the team (with the caller's number
    sealed, if the line keeps it) and the first reachable counsellor on call told by SMS from
    the line's number. Returns the outbox messages to deliver once committed; none for a
    recording stored already (a retry) or no recording at all."""
    if not recording_sid:
        return []
    line = settings.config.lines[line_slug]
    with db.write() as session:
        team = team_by_slug(session, line.team, settings.config)
        stored = calls.store_voicemail(
            session,
            call_sid=caller.call_sid,
            line=line_slug,
            team=team,
            recording_sid=recording_sid,
            seconds=seconds,
            caller_phone_enc=sealed_caller(settings, line, caller.number),
        )
        if stored is None:
            return []
        counsellor = routing.first_reachable(rota(session, line.team, now))
        if counsellor is None:
            log.warning("line %s: voicemail %d left; nobody on call to tell", line_slug, stored.id)
            return []
        return [
            outbox.queue(
                session,
                settings,
                to=counsellor.phone,
                body=voicemail_sms(line, seconds, language),
                from_number=line.number,
                purpose="voicemail",
            )
        ]


def voicemail_sms(line: Line, seconds: int, language: str | None = None) -> str:
    """The note to the on-call counsellor. No caller data at all; the caller's language when it
    is not the line's first."""
    minutes, rest = divmod(max(seconds, 0), 60)
    speech = line.in_language(language)
    spoken = f"Sprache {speech.name}, " if speech.code != line.languages[0] else ""
    return (
        f"Neue Sprachnachricht auf der Leitung {line.display_name} "
        f"({spoken}{minutes}:{rest:02d} min). Bitte im Hotline-Postfach abhören."
    )


def status_changed(
    db: Database, call_sid: str, state: str, duration: int | None, now: datetime
) -> None:
    """Twilio's status callback of the call: its state moves forward only."""
    with db.write() as session:
        calls.status(session, call_sid, state, now, duration)
