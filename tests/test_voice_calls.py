"""The use cases of a call (hotline.voice_calls), without HTTP: each step against a real
database and an honest fake rota, as the webhooks run them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto, outbox
from foundation.db import Database, make_engine
from foundation.models import Call, Voicemail
from hotline import voice_calls
from hotline.routing import Target
from hotline.voice_calls import Caller
from tests.conftest import add_counsellor, berlin
from tests.fakes import FixedRota, OnCall, Person

WEDNESDAY_NOON = berlin(2026, 12, 2, 12)
EVENING = berlin(2026, 12, 2, 19, 30)
CALLER = "+4917612345678"


@dataclass
class Team:
    primary: Person
    backup: Person
    rota: FixedRota


@pytest.fixture
def team(database: Database, config: HotlineConfig) -> Team:
    with database.write() as session:
        primary, backup = (
            add_counsellor(session, config, "islamism", name=name) for name in ("P", "B")
        )
        people = Person(primary.id, primary.phone), Person(backup.id, backup.phone)
    handoff = berlin(2026, 12, 3, 9)
    rota = FixedRota({"islamism": OnCall([people[0]], [people[1]], next_change=handoff)})
    return Team(people[0], people[1], rota)


def sid(n: int) -> str:
    return f"CA{n:032d}"


def the_call(database: Database, call_sid: str) -> Call:
    with database.read() as session:
        return session.scalars(select(Call).where(Call.call_sid == call_sid)).one()


def opened(database: Database, settings: Settings, team: Team, n: int = 1) -> Call:
    voice_calls.open_call(
        database, settings, team.rota, "islamism", Caller(sid(n), CALLER), WEDNESDAY_NOON
    )
    return the_call(database, sid(n))


# --- an incoming call -------------------------------------------------------------------------


def test_an_incoming_call_is_recorded_with_whom_to_ring(
    database: Database, settings: Settings, team: Team
) -> None:
    call = Caller(sid(1), CALLER)
    result = voice_calls.open_call(
        database, settings, team.rota, "islamism", call, WEDNESDAY_NOON, next_change=True
    )
    assert result.closed is None
    assert result.plan is not None
    assert result.plan.steps == [
        [Target(team.primary.id, team.primary.phone)],
        [Target(team.backup.id, team.backup.phone)],
    ]
    assert result.plan.next_change == berlin(2026, 12, 3, 9)
    assert team.rota.asked == [("islamism", WEDNESDAY_NOON, True)]
    record = the_call(database, sid(1))
    assert (record.line, record.team_id, record.state) == (
        "islamism",
        result.plan.team_id,
        "in-progress",
    )
    assert record.caller_hash == crypto.keyed_hash(settings, "caller", CALLER)
    # Twilio retries the webhook: still one record.
    voice_calls.open_call(database, settings, team.rota, "islamism", call, WEDNESDAY_NOON)
    with database.read() as session:
        assert len(session.scalars(select(Call)).all()) == 1


def test_a_closed_line_records_the_call_and_plans_nothing(
    database: Database, settings: Settings, team: Team
) -> None:
    result = voice_calls.open_call(
        database, settings, team.rota, "islamism", Caller(sid(1), "anonymous"), EVENING
    )
    assert (result.closed, result.plan) == ("hours", None)
    assert team.rota.asked == []
    assert the_call(database, sid(1)).caller_hash is None  # a withheld number leaves nothing


def test_a_broken_database_still_routes(
    settings: Settings, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    gone = Database(make_engine("sqlite:////nonexistent/directory/hotline.sqlite3"))
    result = voice_calls.open_call(
        gone, settings, team.rota, "islamism", Caller(sid(1), CALLER), WEDNESDAY_NOON
    )
    assert (result.closed, result.plan) == (None, None)
    assert "call not recorded (OperationalError)" in caplog.text
    assert CALLER not in caplog.text


def test_steps_follow_the_tiers_of_relatives(
    database: Database, config: HotlineConfig, team: Team
) -> None:
    line = config.lines["islamism"].model_copy(update={"relatives_tiers": ("backup",)})
    steps = voice_calls.steps(database, team.rota, line, WEDNESDAY_NOON, relative=True)
    assert steps.steps == [[Target(team.backup.id, team.backup.phone)]]


def test_the_first_plan_needs_no_call(database: Database, settings: Settings, team: Team) -> None:
    plan = voice_calls.first_plan(database, settings, team.rota, "islamism", WEDNESDAY_NOON)
    assert plan.steps[0] == [Target(team.primary.id, team.primary.phone)]
    assert team.rota.asked == [("islamism", WEDNESDAY_NOON, True)]
    with database.read() as session:
        assert session.scalars(select(Call)).all() == []


@pytest.mark.parametrize(("digits", "relative"), [("2", True), ("1", False), ("", False)])
def test_the_menu_marks_relatives(
    database: Database, settings: Settings, team: Team, digits: str, relative: bool
) -> None:
    opened(database, settings, team)
    assert voice_calls.menu_chosen(database, sid(1), digits) is relative
    assert the_call(database, sid(1)).from_relative is relative


# --- a Dial ended -----------------------------------------------------------------------------


def test_a_dial_taken_at_the_whisper_ends_the_call(
    database: Database, settings: Settings, config: HotlineConfig, team: Team
) -> None:
    opened(database, settings, team)
    line = config.lines["islamism"]
    assert voice_calls.screen_answered(database, sid(1), team.primary.id, "1", WEDNESDAY_NOON)
    assert voice_calls.dial_ended(database, line, sid(1), "completed", 300)
    call = the_call(database, sid(1))
    assert (call.outcome, call.accepted_by_id, call.talk_seconds) == (
        "accepted",
        team.primary.id,
        300,
    )


@pytest.mark.parametrize("status", ["completed", "busy", "no-answer", "failed", "canceled"])
def test_a_dial_nobody_took_rings_the_next_step(
    database: Database, settings: Settings, config: HotlineConfig, team: Team, status: str
) -> None:
    """A mailbox answers too ('completed'): only the key at the whisper takes a call."""
    opened(database, settings, team)
    assert not voice_calls.dial_ended(database, config.lines["islamism"], sid(1), status, 20)
    assert the_call(database, sid(1)).outcome is None


def test_without_a_record_a_long_leg_was_a_conversation(
    database: Database, config: HotlineConfig
) -> None:
    line = config.lines["islamism"]
    long = voice_calls.SURELY_TALKED_SECONDS + 1
    assert voice_calls.dial_ended(database, line, sid(9), "completed", long)
    assert not voice_calls.dial_ended(database, line, sid(9), "completed", 20)


def test_without_screening_an_answer_takes_the_call(
    database: Database, settings: Settings, config: HotlineConfig, team: Team
) -> None:
    opened(database, settings, team)
    line = config.lines["islamism"].model_copy(update={"screening": False})
    assert voice_calls.dial_ended(database, line, sid(1), "answered", 120)
    call = the_call(database, sid(1))
    assert (call.outcome, call.talk_seconds) == ("accepted", 120)


@pytest.mark.parametrize(("status", "answered"), [("completed", True), ("no-answer", False)])
def test_the_fallback_number(
    database: Database, settings: Settings, team: Team, status: str, answered: bool
) -> None:
    opened(database, settings, team)
    later = WEDNESDAY_NOON + timedelta(seconds=50)
    assert voice_calls.fallback_ended(database, sid(1), status, later) is answered
    call = the_call(database, sid(1))
    assert call.fallback_used
    assert call.outcome == ("fallback" if answered else None)
    assert call.ring_seconds == (50 if answered else None)


# --- the counsellor's key ---------------------------------------------------------------------


def test_only_a_one_takes_the_call_and_only_the_first(
    database: Database, settings: Settings, team: Team
) -> None:
    opened(database, settings, team)
    assert not voice_calls.screen_answered(database, sid(1), team.primary.id, "2", WEDNESDAY_NOON)
    assert the_call(database, sid(1)).accepted_by_id is None
    assert voice_calls.screen_answered(database, sid(1), team.primary.id, "1", WEDNESDAY_NOON)
    voice_calls.screen_answered(database, sid(1), team.backup.id, "1", WEDNESDAY_NOON)
    assert the_call(database, sid(1)).accepted_by_id == team.primary.id


def test_a_late_key_press_connects_nobody(
    database: Database, settings: Settings, team: Team
) -> None:
    opened(database, settings, team)
    voice_calls.status_changed(database, sid(1), "completed", 30, WEDNESDAY_NOON)
    assert not voice_calls.screen_answered(database, sid(1), team.primary.id, "1", WEDNESDAY_NOON)
    assert the_call(database, sid(1)).accepted_by_id is None


def test_status_callbacks_only_move_forward(
    database: Database, settings: Settings, team: Team
) -> None:
    opened(database, settings, team)
    end = WEDNESDAY_NOON + timedelta(minutes=1)
    voice_calls.status_changed(database, sid(1), "completed", None, end)
    voice_calls.status_changed(database, sid(1), "ringing", None, end + timedelta(minutes=1))
    call = the_call(database, sid(1))
    assert (call.state, call.outcome) == ("completed", "hung_up")
    assert call.ended_at is not None


# --- a voicemail ------------------------------------------------------------------------------


def left(
    database: Database,
    settings: Settings,
    rota: FixedRota,
    *,
    recording: str = "RE1",
    caller: str = CALLER,
) -> list[int]:
    return voice_calls.voicemail_left(
        database,
        settings,
        rota,
        "islamism",
        Caller(sid(1), caller),
        recording_sid=recording,
        seconds=75,
        now=WEDNESDAY_NOON,
    )


def test_a_voicemail_is_a_task_and_the_primary_is_told(
    database: Database, settings: Settings, team: Team
) -> None:
    opened(database, settings, team)
    (message,) = left(database, settings, team.rota)
    with database.read() as session:
        (sms,) = outbox.recent(session, settings)
        voicemail = session.scalars(select(Voicemail)).one()
    assert sms.id == message
    assert (sms.to, sms.from_number) == (team.primary.phone, "+497112794555")
    assert sms.body == (
        "Neue Sprachnachricht auf der Leitung Islamismus-Leitung (1:15 min). "
        "Bitte im Hotline-Postfach abhören."
    )
    assert (voicemail.duration_seconds, voicemail.status) == (75, "new")
    assert voicemail.caller_phone_enc is not None
    assert crypto.box(settings).open(voicemail.caller_phone_enc) == CALLER
    call = the_call(database, sid(1))
    assert call.outcome == "voicemail"
    # Its call's caller hash, kept after the roll-up deletes the call (the reports' people).
    assert voicemail.caller_hash == call.caller_hash is not None
    assert left(database, settings, team.rota) == []  # Twilio retried: stored once, told once


def test_a_voicemail_with_nobody_on_call_is_stored_untold(
    database: Database, settings: Settings, team: Team
) -> None:
    assert left(database, settings, FixedRota(), caller="anonymous") == []
    with database.read() as session:
        voicemail = session.scalars(select(Voicemail)).one()
        assert outbox.recent(session, settings) == []
    assert voicemail.caller_phone_enc is None  # a withheld number is never kept


def test_no_recording_is_no_voicemail(database: Database, settings: Settings, team: Team) -> None:
    assert left(database, settings, team.rota, recording="") == []
    with database.read() as session:
        assert session.scalars(select(Voicemail)).all() == []
    assert team.rota.asked == []


def test_the_voicemail_sms_names_no_caller(config: HotlineConfig) -> None:
    text = voice_calls.voicemail_sms(config.lines["right-wing"], 3600 + 5)
    assert text.startswith("Neue Sprachnachricht auf der Leitung Leitung Rechtsextremismus (60:05")
    assert voice_calls.voicemail_sms(config.lines["islamism"], -3).count("(0:00 min)") == 1


@pytest.mark.parametrize("caller", ["anonymous", " Restricted ", "UNKNOWN", "+266696687", ""])
def test_withheld_numbers(caller: str) -> None:
    assert voice_calls.is_anonymous(caller)


def test_caller_hash_normalises_what_is_not_e164(settings: Settings, config: HotlineConfig) -> None:
    line = config.lines["islamism"]
    expected = crypto.keyed_hash(settings, "caller", CALLER)
    assert voice_calls.caller_hash(settings, line, "+49 176 12345678") == expected
    off = line.model_copy(update={"caller_hash": False})
    assert voice_calls.caller_hash(settings, off, CALLER) is None
