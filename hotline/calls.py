"""Call records: one row per CallSid, however often Twilio retries, moved only forward.

Twilio retries webhooks and delivers status callbacks more than once and out of order, so every
write here is idempotent: inserting an existing CallSid changes nothing, a state only advances
(ringing → in-progress → a final state), and an outcome once set is only ever refined from
"fallback" to nothing else.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from foundation.models import Call, Team, Tier, Voicemail

FINAL_STATES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# What became of a call (`Call.outcome`): a counsellor took it, the fallback number answered, the
# caller left a voicemail, or hung up before any of these.
OUTCOMES = ("accepted", "fallback", "voicemail", "hung_up")
_RANK = {"queued": 0, "ringing": 1, "in-progress": 2} | dict.fromkeys(FINAL_STATES, 3)


def rank(state: str) -> int:
    return _RANK.get(state, -1)


def call_values(
    *,
    call_sid: str,
    line: str,
    team_id: int | None,
    caller_hash: str | None,
    at: datetime,
    closed_reason: str | None = None,
    language: str | None = None,
) -> dict[str, object]:
    """The columns of a new call record; `closed_reason`: why the line was closed ("hours",
    "holiday"), None when it was open; `language`: the caller's (ISO 639-1)."""
    return {
        "call_sid": call_sid,
        "line": line,
        "team_id": team_id,
        "state": "in-progress",
        "caller_hash": caller_hash,
        "started_at": at,
        "from_relative": False,
        "fallback_used": False,
        "closed_reason": closed_reason,
        "language": language,
    }


def open_calls(session: Session, rows: list[dict[str, object]]) -> None:
    """Create call records; a CallSid that exists already (a retry) changes nothing. One
    statement, safe against concurrent retries: INSERT … ON CONFLICT DO NOTHING (on
    PostgreSQL, a batch of `call_values` rows goes through COPY first: `_copy_calls`)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if (
        dialect.name == "postgresql"
        and len(rows) >= COPY_FROM
        and all(row.keys() == _BATCH_KEYS for row in rows)
    ):
        _copy_calls(session, rows)
        return
    insert = postgresql_insert if dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Call).on_conflict_do_nothing(index_elements=["call_sid"]), rows)


# PostgreSQL: from this many rows on, the hot path's batches of call records are copied into a
# temporary table and moved from there in one statement. COPY costs the process about a third of
# the CPU per row that the INSERT's bound parameters do (`bench/README.md#voice`); that CPU is
# what a web process's event loop shares with the thread that writes the batch.
COPY_FROM = 8
_BATCH_COLUMNS = tuple(
    call_values(call_sid="", line="", team_id=None, caller_hash=None, at=datetime.now(UTC))
)
_BATCH_KEYS = frozenset(_BATCH_COLUMNS)
_NAMES = ", ".join(_BATCH_COLUMNS)
_BATCH = "pg_temp.hotline_call_batch"
_CREATE_BATCH = "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({})".format(
    _BATCH,
    ", ".join(
        f"{name} {Call.__table__.c[name].type.compile(postgresql.dialect())}"  # type: ignore[no-untyped-call]
        for name in _BATCH_COLUMNS
    ),
)
_COPY_BATCH = f"COPY {_BATCH} ({_NAMES}) FROM STDIN"
_MOVE_BATCH = (  # constants only
    f"WITH moved AS (DELETE FROM {_BATCH} RETURNING {_NAMES}) "  # noqa: S608
    f"INSERT INTO {Call.__tablename__} ({_NAMES}) SELECT {_NAMES} FROM moved "
    "ON CONFLICT (call_sid) DO NOTHING"
)


def _copy_calls(session: Session, rows: list[dict[str, object]]) -> None:
    """COPY into a temporary table of this connection (made when missing: it lasts as long as
    the connection, emptied by the move), then move the rows with INSERT … ON CONFLICT DO
    NOTHING, in the session's transaction. Values pass the columns' own bind processing (an
    aware instant, in UTC)."""
    dialect = session.get_bind().dialect
    binds = [Call.__table__.c[name].type.bind_processor(dialect) for name in _BATCH_COLUMNS]
    driver = session.connection().connection.driver_connection
    assert driver is not None  # a live connection of the session's transaction
    with driver.cursor() as cursor:
        # In every batch's transaction: through a pooler in transaction mode each may run on
        # another server connection. PostgreSQL skips it, with a notice, when the table exists.
        cursor.execute(_CREATE_BATCH)
        with cursor.copy(_COPY_BATCH) as copy:
            for row in rows:
                copy.write_row(
                    [
                        row[name] if bind is None else bind(row[name])
                        for name, bind in zip(_BATCH_COLUMNS, binds, strict=True)
                    ]
                )
        cursor.execute(_MOVE_BATCH)


def open_call(
    session: Session,
    *,
    call_sid: str,
    line: str,
    team: Team | None,
    caller_hash: str | None,
    at: datetime,
    closed_reason: str | None = None,
    language: str | None = None,
) -> None:
    """Create the call's record on the first webhook; a retry changes nothing."""
    open_calls(
        session,
        [
            call_values(
                call_sid=call_sid,
                line=line,
                team_id=team.id if team else None,
                caller_hash=caller_hash,
                at=at,
                closed_reason=closed_reason,
                language=language,
            )
        ],
    )


def find(session: Session, call_sid: str) -> Call | None:
    return session.scalar(select(Call).where(Call.call_sid == call_sid))


def skipped_busy(session: Session, call_sid: str, counsellor_ids: Collection[int]) -> None:
    """Note on the call whom it did not ring because they were in another conversation."""
    if counsellor_ids:
        session.execute(
            update(Call)
            .where(Call.call_sid == call_sid)
            .values(busy_skipped=sorted(counsellor_ids))
        )


def set_language(session: Session, call_sid: str, language: str) -> None:
    """The caller chose her language at the line's menu."""
    session.execute(update(Call).where(Call.call_sid == call_sid).values(language=language))


def mark_relative(session: Session, call_sid: str) -> None:
    session.execute(update(Call).where(Call.call_sid == call_sid).values(from_relative=True))


def accept(
    session: Session, call_sid: str, counsellor_id: int, at: datetime, tier: Tier | None = None
) -> float | None:
    """Record who took the call (and at which tier she was rung, if known); only the first
    acceptance counts. If this one did: the seconds the caller waited for it."""
    call = find(session, call_sid)
    if call is None or call.accepted_by_id is not None:
        return None
    waited = max(0.0, (at - call.started_at).total_seconds())
    call.accepted_by_id = counsellor_id
    call.answered_at = at
    call.ring_seconds = round(waited)
    call.outcome = "accepted"
    call.accepted_tier = tier
    return waited


def talked(session: Session, call_sid: str, seconds: int) -> None:
    call = find(session, call_sid)
    if call is not None and call.talk_seconds is None:
        call.talk_seconds = max(0, seconds)


def answered_unscreened(session: Session, call_sid: str, seconds: int) -> None:
    """A line without screening: an answered leg is taken for acceptance (a mailbox included)."""
    call = find(session, call_sid)
    if call is not None and call.outcome is None:
        call.outcome = "accepted"
    talked(session, call_sid, seconds)


def fallback(session: Session, call_sid: str, *, answered: bool, at: datetime) -> None:
    call = find(session, call_sid)
    if call is None:
        return
    call.fallback_used = True
    if answered and call.outcome is None:
        call.outcome = "fallback"
        call.answered_at = at
        call.ring_seconds = max(0, round((at - call.started_at).total_seconds()))


def status(session: Session, call_sid: str, state: str, at: datetime, duration: int | None) -> None:
    """A status callback: advance the state, never move it back."""
    call = find(session, call_sid)
    if call is None or rank(state) <= rank(call.state):
        return
    call.state = state
    if state in FINAL_STATES:
        call.ended_at = at
        if call.outcome is None:
            call.outcome = "hung_up"
        if duration is not None and call.accepted_by_id is not None and call.talk_seconds is None:
            call.talk_seconds = max(0, duration - (call.ring_seconds or 0))


def store_voicemail(
    session: Session,
    *,
    call_sid: str,
    line: str,
    team: Team,
    recording_sid: str,
    seconds: int,
    caller_phone_enc: bytes | None = None,
) -> Voicemail | None:
    """The voicemail as a task for the team; None if this recording was already stored.
    `caller_phone_enc`: the caller's number, sealed, for a call-back through the line."""
    if session.scalar(select(Voicemail.id).where(Voicemail.recording_sid == recording_sid)):
        return None
    call = find(session, call_sid)
    voicemail = Voicemail(
        call_id=call.id if call else None,
        caller_hash=call.caller_hash if call else None,
        line=line,
        team_id=team.id,
        recording_sid=recording_sid,
        duration_seconds=max(0, seconds),
        caller_phone_enc=caller_phone_enc,
    )
    try:
        with session.begin_nested():
            session.add(voicemail)
    except IntegrityError:
        return None
    if call is not None and call.outcome in (None, "hung_up"):
        call.outcome = "voicemail"
    return voicemail
