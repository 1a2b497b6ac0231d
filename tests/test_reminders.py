"""Appointment reminders: neutral words, consent, exactly once (also across restarts and two
scheduler processes), missed and uncertain rows, and the client's answers ABSAGEN and STOP."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from config.model import ConfigError, HotlineConfig, load_config
from config.settings import Settings
from foundation import crypto, db, outbox
from foundation.clock import utcnow
from foundation.db import Database
from foundation.jobs import Job
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    AuditEntry,
    DispatchState,
    Recipient,
    Reminder,
)
from foundation.outgoing import Outgoing
from foundation.teams import sync_teams
from hotline import providers
from scheduling import appointments, replies
from scheduling import dispatch as engine
from scheduling.dispatch import Round
from scheduling.reminder_sending import QUEUE, dispatch_job
from scheduling.scheduler import Scheduler
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import FakeTwilio, running
from tests.helpers import post_signed, wait_for

ROOT = Path(__file__).resolve().parent.parent
GENERAL = "+497112794556"  # the shipped sender_number
CLIENT = "+4917612345678"
THURSDAY = berlin(2026, 11, 26, 14)  # the example: "Do, 26.11. um 14:00 Uhr"
SID, TOKEN = "AC" + "7" * 32, "reminder-test-token"
# Words a client's SMS must never contain: they would tell a reader of a shared phone what
# the service is, or who the client sees.
TELLING = ("konex", "Extremismus", "Ausstieg", "Islam", "Rechts", "Beratung", "Team", "Leitung")
_phones = itertools.count(10_000_000)


def client_phone() -> str:
    return f"+49176{next(_phones):08d}"


def book(
    database: Database,
    settings: Settings,
    counsellor_id: int,
    start: datetime,
    *,
    phone: str | None = CLIENT,
    consent: bool = True,
    mode: AppointmentMode = AppointmentMode.PHONE,
    reminders: dict[Recipient, int] | None = None,
    due: datetime | None = None,
    pseudonym: str = "Klient A.",
    language: str = "de",
) -> int:
    """An appointment and its reminder rows (offset in minutes per recipient; `due` overrides
    every row's due moment), written directly: the tests here are about sending."""
    wanted = {Recipient.CLIENT: 1440, Recipient.COUNSELLOR: 30} if reminders is None else reminders
    box = crypto.box(settings)
    with database.write() as session:
        appointment = Appointment(
            counsellor_id=counsellor_id,
            client_pseudonym=pseudonym,
            client_phone_enc=box.seal(phone) if phone else None,
            sms_consent=consent,
            start_at=start,
            end_at=start + timedelta(minutes=50),
            mode=mode,
            status=AppointmentStatus.BOOKED,
            client_language=language,
        )
        session.add(appointment)
        session.flush()
        for recipient, offset in wanted.items():
            session.add(
                Reminder(
                    appointment_id=appointment.id,
                    recipient=recipient,
                    offset_minutes=offset,
                    appointment_start=start,
                    due_at=due or start.astimezone(UTC) - timedelta(minutes=offset),
                    state=DispatchState.PENDING,
                    attempts=0,
                )
            )
        return appointment.id


def rows(database: Database, appointment_id: int | None = None) -> dict[Recipient, Reminder]:
    with database.read() as session:
        query = select(Reminder)
        if appointment_id is not None:
            query = query.where(Reminder.appointment_id == appointment_id)
        return {row.recipient: row for row in session.scalars(query)}


def states(database: Database) -> dict[DispatchState, int]:
    with database.read() as session:
        found: dict[DispatchState, int] = {}
        for state in session.scalars(select(Reminder.state)):
            found[state] = found.get(state, 0) + 1
        return found


def sent_messages(database: Database, settings: Settings) -> list[outbox.Plain]:
    with database.read() as session:
        return outbox.recent(session, settings, limit=10_000)


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


@pytest.fixture
def counsellor_id(database: Database, config: HotlineConfig) -> int:
    with database.write() as session:
        return add_counsellor(
            session, config, "islamism", name="Beraterin", phone="+4915199990000"
        ).id


def dispatch(db: Database, settings: Settings, queue: Any, **options: Any) -> Round:
    """The engine, sending through the settings' own way out unless a test hands in `send`."""
    options.setdefault("send", providers.for_settings(db, settings).send)
    return engine.dispatch(db, settings, queue, **options)


def dispatch_round(db: Database, settings: Settings, queue: Any, **options: Any) -> Round:
    options.setdefault("send", providers.for_settings(db, settings).send)
    return engine.dispatch_round(db, settings, queue, **options)


# --- words ------------------------------------------------------------------------------------


def test_client_and_counsellor_reminders_are_neutral(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    book(database, settings, counsellor_id, THURSDAY, pseudonym="Herr Geheim")
    assert dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(days=1))).sent == 1
    assert dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(minutes=30))).sent == 1
    messages = sent_messages(database, settings)
    by_purpose = {m.purpose: m for m in messages}
    client = by_purpose["reminder-client"]
    assert client.body == (
        "Erinnerung: Ihr Termin am Do, 26.11. um 14:00 Uhr. Antworten Sie ABSAGEN, um abzusagen."
    )
    assert client.to == CLIENT
    assert client.from_number == GENERAL  # the neutral number, not a line's
    for word in (*TELLING, "Geheim", "Beraterin"):
        assert word.casefold() not in client.body.casefold(), word
    counsellor = by_purpose["reminder-counsellor"]
    assert counsellor.body == "Erinnerung: Beratungstermin heute um 14:00 Uhr (Telefon)."
    assert counsellor.to == "+4915199990000"
    assert "Geheim" not in counsellor.body
    assert CLIENT[3:] not in counsellor.body


def test_rows_record_the_provider_id(
    database: Database, live: tuple[Settings, FakeTwilio], counsellor_id: int
) -> None:
    settings, fake = live
    appointment = book(database, settings, counsellor_id, THURSDAY)
    dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(days=1)))
    row = rows(database, appointment)[Recipient.CLIENT]
    assert row.state == DispatchState.SENT
    assert [m["Sid"] for m in fake.messages] == [row.provider_sid]
    assert fake.messages[0]["To"] == CLIENT
    assert fake.messages[0]["From"] == GENERAL
    assert row.sent_at is not None


def test_words_follow_the_configuration(
    database: Database, settings: Settings, counsellor_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "hotline.toml"
    shipped = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    path.write_text(
        shipped.replace(
            'client_template = "Erinnerung: Ihr Termin am {weekday}, {date} um {time} Uhr.',
            'client_template = "Bis {when} um {time} ({mode}).',
        ).replace('sender_number = "0711-279-4556"', 'sender_number = "+49 151 1111 2222"'),
        encoding="utf-8",
    )
    configured = replace(settings, config=load_config(path))
    book(database, configured, counsellor_id, THURSDAY, mode=AppointmentMode.VIDEO)
    dispatch(database, configured, QUEUE, clock=at(THURSDAY - timedelta(days=1)))
    (message,) = sent_messages(database, configured)
    assert message.body == "Bis morgen um 14:00 (Video). Antworten Sie ABSAGEN, um abzusagen."
    assert message.from_number == "+4915111112222"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Termin am {wochentag}", "unknown placeholder {wochentag}"),
        ("Termin um {time:%H}", "placeholder {time} takes no format"),
        ("Termin {", "Single '{' encountered"),
        ("Termin {}", "unknown placeholder {}"),
    ],
)
def test_a_misspelt_placeholder_stops_the_service(
    tmp_path: Path, template: str, problem: str
) -> None:
    path = tmp_path / "hotline.toml"
    shipped = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    path.write_text(
        shipped.replace(
            'cancel_reply = "Ihr Termin am {weekday}, {date} um {time} Uhr ist abgesagt."',
            f'cancel_reply = "{template}"',
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "reminders.cancel_reply" in str(error.value)
    assert problem in str(error.value)


def test_stop_reply_takes_no_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    shipped = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    path.write_text(
        shipped.replace('stop_reply = "Sie erhalten', 'stop_reply = "{date}: Sie erhalten'),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"reminders.stop_reply: unknown placeholder \{date\}"):
        load_config(path)


# --- words in the client's language ---------------------------------------------------------

IN_LANGUAGE = {
    "tr": "Hatırlatma: Perşembe 26 Kasım, saat 14:00 randevunuz var. "
    "İptal etmek için IPTAL yazıp yanıtlayın.",
    "en": "Reminder: your appointment on Thursday 26 November at 14:00. Reply CANCEL to cancel.",
    "ru": "Напоминание: ваша встреча 26 ноября (четверг) в 14:00. Чтобы отменить, ответьте ОТМЕНА.",
    "ar": "تذكير: موعدك يوم الخميس 26 نوفمبر الساعة 14:00. للإلغاء أرسل كلمة إلغاء.",
    "de": "Erinnerung: Ihr Termin am Do, 26.11. um 14:00 Uhr. Antworten Sie ABSAGEN, um abzusagen.",
    "fr": "Erinnerung: Ihr Termin am Do, 26.11. um 14:00 Uhr. Antworten Sie ABSAGEN, um abzusagen.",
}


@pytest.mark.parametrize("language", ["tr", "en", "ru", "ar", "de", "fr"])
def test_the_clients_reminder_is_in_the_language_of_the_appointment(
    database: Database, settings: Settings, counsellor_id: int, language: str
) -> None:
    """The appointment's language picks the template; one the configuration has no texts for
    (fr) is German. The counsellor's reminder stays German."""
    book(database, settings, counsellor_id, THURSDAY, language=language)
    dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(days=1)))
    dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(minutes=30)))
    by_purpose = {m.purpose: m for m in sent_messages(database, settings)}
    client = by_purpose["reminder-client"]
    assert client.body == IN_LANGUAGE[language]
    assert (client.to, client.from_number) == (CLIENT, GENERAL)
    for word in (*TELLING, "Beraterin"):
        assert word.casefold() not in client.body.casefold(), word
    counsellor = by_purpose["reminder-counsellor"]
    assert counsellor.body == "Erinnerung: Beratungstermin heute um 14:00 Uhr (Telefon)."


def shipped_with(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "hotline.toml"
    shipped = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    assert old in shipped
    path.write_text(shipped.replace(old, new, 1), encoding="utf-8")
    return path


TR_TEMPLATE = 'client_template = "Hatırlatma: {weekday} {date}, saat {time} randevunuz var.'
EN_CANCEL = 'cancel_reply = "Your appointment on {weekday} {date} at {time} has been cancelled."'


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            TR_TEMPLATE,
            'client_template = "Hatırlatma: {haftagunu} {date}, saat {time} randevunuz var.',
            "reminders.languages.tr.client_template: unknown placeholder {haftagunu}",
        ),
        (
            TR_TEMPLATE,
            'client_template = "Hatırlatma: {weekday} {date}, saat {time:%H} randevunuz var.',
            "reminders.languages.tr.client_template: placeholder {time} takes no format",
        ),
        (
            EN_CANCEL,
            'cancel_reply = "Your appointment {when} at {time} has been cancelled."',
            "reminders.languages.en.cancel_reply: unknown placeholder {when}",
        ),
        (
            EN_CANCEL,
            'cancel_reply = "Your appointment on {weekday} {date at {time} is cancelled."',
            "reminders.languages.en.cancel_reply: ",
        ),
        (
            'stop_reply = "You will no longer',
            'stop_reply = "{date}: You will no longer',
            "reminders.languages.en.stop_reply: unknown placeholder {date}",
        ),
        (
            'cancel_keywords = ["CANCEL"]\n',
            "",
            "reminders.languages.en.cancel_keywords: Field required",
        ),
        (
            'cancel_keywords = ["CANCEL"]',
            'cancel_keywords = ["CANCEL", "STOP"]',
            "a keyword both cancels and stops: stop",
        ),
        (
            TR_TEMPLATE,
            'client_templat = "Hatırlatma: {weekday} {date}, saat {time} randevunuz var.',
            "reminders.languages.tr.client_template: Field required",
        ),
    ],
)
def test_a_languages_template_is_checked_at_load(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    """Every language's texts are checked as the German ones are: the error names the key."""
    with pytest.raises(ConfigError) as error:
        load_config(shipped_with(tmp_path, old, new))
    assert problem in str(error.value)


def test_a_line_language_without_reminder_texts_stops_the_service(tmp_path: Path) -> None:
    start = "[reminders.languages.en]"
    shipped = (ROOT / "config" / "hotline.toml").read_text(encoding="utf-8")
    table = shipped[shipped.index(start) : shipped.index("\n\n", shipped.index(start))]
    with pytest.raises(ConfigError, match=r"reminders\.languages\.en: missing"):
        load_config(shipped_with(tmp_path, table, ""))


# --- time: DST --------------------------------------------------------------------------------


def test_24_hours_before_means_24_real_hours(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    """Offsets are durations: "24 h before" is 24 real hours, whatever the clocks do. On the
    day after a change both readings agree (the issue's example); on the day of a change the
    reminder keeps the real distance and moves by an hour on the wall clock. Booked through
    the appointments use case, from local times, as the pages and the API do."""

    def due(start: datetime, offset: int = 1440) -> datetime:
        new = appointments.NewAppointment(
            counsellor_id=counsellor_id,
            client=appointments.Client("Klient", CLIENT, sms_consent=True),
            start=start,
            end=start + timedelta(minutes=30),
            mode=AppointmentMode.PHONE,
        )
        with database.write() as session:
            booked = appointments.book(
                session, settings, new, actor="tests", now=berlin(2026, 1, 1)
            )
            row = session.scalars(
                select(Reminder).where(
                    Reminder.appointment_id == booked.id,
                    Reminder.recipient == Recipient.CLIENT,
                    Reminder.offset_minutes == offset,
                )
            ).one()
            return row.due_at

    assert due(berlin(2026, 3, 30, 14)) == berlin(2026, 3, 29, 14)  # the example
    assert berlin(2026, 3, 30, 14) - berlin(2026, 3, 29, 14) == timedelta(hours=24)
    # Appointments on the change days themselves (23- and 25-hour days).
    assert due(berlin(2026, 3, 29, 14)) == berlin(2026, 3, 28, 13)
    assert due(berlin(2026, 10, 25, 14)) == berlin(2026, 10, 24, 15)
    # Two hours before 03:30 on the spring day is 00:30: the hour from 02:00 does not exist.
    assert due(berlin(2026, 3, 29, 3, 30), 120) == berlin(2026, 3, 29, 0, 30)


@pytest.mark.parametrize(
    ("start", "due", "text"),
    [
        (berlin(2026, 3, 30, 14), berlin(2026, 3, 29, 14), "am Mo, 30.03. um 14:00 Uhr"),
        (berlin(2026, 3, 29, 14), berlin(2026, 3, 28, 13), "am So, 29.03. um 14:00 Uhr"),
        (berlin(2026, 10, 25, 14), berlin(2026, 10, 24, 15), "am So, 25.10. um 14:00 Uhr"),
    ],
)
def test_reminders_across_dst_name_local_time(
    database: Database,
    settings: Settings,
    counsellor_id: int,
    start: datetime,
    due: datetime,
    text: str,
) -> None:
    book(database, settings, counsellor_id, start, reminders={Recipient.CLIENT: 1440})
    assert rows(database)[Recipient.CLIENT].due_at == due
    assert dispatch(database, settings, QUEUE, clock=at(due - timedelta(seconds=1))).sent == 0
    assert dispatch(database, settings, QUEUE, clock=at(due)).sent == 1
    (message,) = sent_messages(database, settings)
    assert text in message.body


# --- consent ----------------------------------------------------------------------------------


def test_no_sms_to_a_client_without_consent(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    due = THURSDAY - timedelta(days=1)
    without = book(database, settings, counsellor_id, THURSDAY, consent=False, due=due)
    no_phone = book(
        database, settings, counsellor_id, THURSDAY + timedelta(hours=1), phone=None, due=due
    )
    withdrawn = book(database, settings, counsellor_id, THURSDAY + timedelta(hours=2), due=due)
    with database.write() as session:  # consent withdrawn after the rows were planned
        session.execute(
            update(Appointment).where(Appointment.id == withdrawn).values(sms_consent=False)
        )
    done = dispatch(database, settings, QUEUE, clock=at(due))
    assert (done.cancelled, done.sent) == (3, 3)
    for appointment in (without, no_phone, withdrawn):
        found = rows(database, appointment)
        assert found[Recipient.CLIENT].state == DispatchState.CANCELLED
        assert found[Recipient.CLIENT].provider_sid is None
        assert found[Recipient.COUNSELLOR].state == DispatchState.SENT
    messages = sent_messages(database, settings)
    assert {m.purpose for m in messages} == {"reminder-counsellor"}  # the counsellor still is
    assert CLIENT not in {m.to for m in messages}


def test_a_cancelled_appointment_is_not_reminded(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    appointment = book(database, settings, counsellor_id, THURSDAY)
    with database.write() as session:
        session.execute(
            update(Appointment)
            .where(Appointment.id == appointment)
            .values(status=AppointmentStatus.CANCELLED)
        )
    done = dispatch(database, settings, QUEUE, clock=at(THURSDAY - timedelta(days=1)))
    assert done.cancelled == 1
    assert done.sent == 0
    assert sent_messages(database, settings) == []


# --- exactly once -----------------------------------------------------------------------------


def test_a_reminder_past_its_grace_is_missed_not_sent_late(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    late = book(database, settings, counsellor_id, THURSDAY, reminders={Recipient.CLIENT: 60})
    just = book(
        database,
        settings,
        counsellor_id,
        THURSDAY + timedelta(hours=1),
        reminders={Recipient.CLIENT: 118},  # due two minutes after the first
    )
    # 31 minutes after the first is due: past the 30-minute grace; the second is 29 late.
    now = THURSDAY - timedelta(minutes=29)
    done = dispatch(database, settings, QUEUE, clock=at(now))
    assert (done.missed, done.sent) == (1, 1)
    assert rows(database, late)[Recipient.CLIENT].state == DispatchState.MISSED
    assert rows(database, just)[Recipient.CLIENT].state == DispatchState.SENT
    assert dispatch(database, settings, QUEUE, clock=at(now + timedelta(minutes=1))).sent == 0
    assert len(sent_messages(database, settings)) == 1


def test_a_send_that_may_have_happened_is_never_repeated(
    database: Database, live: tuple[Settings, FakeTwilio], counsellor_id: int
) -> None:
    """A crash between sending and recording leaves the row `sending`; after its lease it is
    `uncertain` and stays so. A 5xx from Twilio (it may have accepted) likewise."""
    settings, fake = live
    crashed = book(database, settings, counsellor_id, THURSDAY, reminders={Recipient.CLIENT: 60})
    now = THURSDAY - timedelta(minutes=50)
    with database.write() as session:
        session.execute(
            update(Reminder)
            .where(Reminder.appointment_id == crashed)
            .values(state=DispatchState.SENDING, lease_until=now - timedelta(seconds=1), attempts=1)
        )
    answered_500 = book(
        database,
        settings,
        counsellor_id,
        THURSDAY + timedelta(hours=1),
        reminders={Recipient.CLIENT: 110},
    )
    fake.fail_next = 1
    done = dispatch(database, settings, QUEUE, clock=at(now))
    assert (done.expired, done.uncertain, done.sent) == (1, 1, 0)
    for _ in range(3):  # later rounds, and far later ones: nothing goes out again
        dispatch(database, settings, QUEUE, clock=at(now + timedelta(minutes=5)))
    dispatch(database, settings, QUEUE, clock=at(now + timedelta(days=1)))
    assert fake.messages == []
    for appointment in (crashed, answered_500):
        assert rows(database, appointment)[Recipient.CLIENT].state == DispatchState.UNCERTAIN


def test_a_refused_connection_is_retried(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    """Certainly not sent (nothing listens): pending again, then sent once it works."""
    broken = replace(
        settings,
        twilio_account_sid=SID,
        twilio_auth_token=Secret(TOKEN),
        twilio_api_url="http://127.0.0.1:9",  # discard port: connection refused
    )
    book(database, settings, counsellor_id, THURSDAY, reminders={Recipient.CLIENT: 60})
    now = THURSDAY - timedelta(minutes=59)
    assert dispatch(database, broken, QUEUE, clock=at(now)).retry == 1
    assert rows(database)[Recipient.CLIENT].state == DispatchState.PENDING
    with running(SID, TOKEN) as fake:
        working = replace(broken, twilio_api_url=fake.url)
        assert dispatch(database, working, QUEUE, clock=at(now)).claimed == 0  # backoff
        later = now + timedelta(seconds=2)
        assert dispatch(database, working, QUEUE, clock=at(later)).sent == 1
        assert len(fake.messages) == 1


def test_a_round_claims_one_batch_at_most(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    """Small batches bound what a crash can leave uncertain. (PostgreSQL once claimed every
    due row at once: `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`.)"""
    due = THURSDAY - timedelta(days=1)
    for hour in range(10):
        start = THURSDAY + timedelta(hours=hour)
        book(database, settings, counsellor_id, start, phone=client_phone(), due=due)
    done = dispatch_round(database, settings, QUEUE, clock=at(due), batch=4)
    assert (done.claimed, done.sent) == (4, 4)
    assert states(database) == {DispatchState.SENT: 4, DispatchState.PENDING: 16}


def test_a_restart_within_the_grace_sends_each_reminder_once(
    database: Database, live: tuple[Settings, FakeTwilio], counsellor_id: int
) -> None:
    settings, fake = live
    now = utcnow()
    count = 40
    for i in range(count):
        book(
            database,
            settings,
            counsellor_id,
            now + timedelta(hours=2 + i),
            phone=client_phone(),
            reminders={Recipient.CLIENT: 120 + 60 * i},  # all due now
        )

    way_out = providers.for_settings(database, settings)

    def slow(message: Outgoing) -> str:
        time.sleep(0.01)
        return way_out.send(message)

    def job() -> Job:  # one small batch per run, so a stop leaves rows due
        return Job(
            "reminders.dispatch",
            timedelta(milliseconds=50),
            lambda: dispatch(database, settings, QUEUE, send=slow, batch=4, max_rounds=1),
        )

    first = Scheduler([job()])
    first.start()
    wait_for(lambda: len(fake.messages) >= 8)
    first.shutdown(wait=True)  # the batch under way is sent and recorded
    stopped_at = len(fake.messages)
    assert 0 < stopped_at < count
    assert states(database).get(DispatchState.SENDING) is None
    second = Scheduler([job()])
    second.start()
    try:
        wait_for(lambda: states(database) == {DispatchState.SENT: count})
    finally:
        second.shutdown(wait=True)
    assert len(fake.messages) == count
    assert len({m["To"] for m in fake.messages}) == count
    assert {r.provider_sid for r in all_rows(database)} == {m["Sid"] for m in fake.messages}


def all_rows(database: Database) -> list[Reminder]:
    with database.read() as session:
        return list(session.scalars(select(Reminder)))


def test_the_scheduler_job_sends_through_the_default_queue(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    now = utcnow()
    book(database, settings, counsellor_id, now + timedelta(minutes=20))  # counsellor's due
    done = dispatch_job(database, settings, providers.for_settings(database, settings))
    assert done.sent == 1  # the client's (due 23 h 40 ago) was missed
    assert done.missed == 1


def test_two_scheduler_processes_send_every_reminder_exactly_once(
    db_url: str, config: HotlineConfig, tmp_path: Path
) -> None:
    """Two real `hotline scheduler` processes against one database, 240 reminders coming due
    at the same moment while both are polling."""
    db.upgrade(db_url)
    database = Database(db.make_engine(db_url))
    settings = Settings(config=config, database_url=db_url)
    count = 240
    try:
        with database.write() as session:
            sync_teams(session, config)
            counsellors = [
                add_counsellor(session, config, "islamism", name=f"B{i}").id for i in range(4)
            ]
        later = utcnow() + timedelta(days=1)
        for i in range(count):
            book(
                database,
                settings,
                counsellors[i % 4],
                later + timedelta(hours=i // 4),
                phone=client_phone(),
                reminders={Recipient.CLIENT: 60 * (i // 4) + 60},
            )  # all due at `later - 1 h`, until moved below
        with running(SID, TOKEN) as fake:
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("HOTLINE_", "TWILIO_"))
            } | {
                "HOTLINE_DATABASE_URL": db_url,
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "HOTLINE_TWILIO_API_URL": fake.url,
            }
            logs = [tmp_path / f"scheduler-{i}.log" for i in range(2)]
            processes = []
            try:
                for log in logs:
                    with log.open("wb") as sink:
                        processes.append(
                            subprocess.Popen(
                                [sys.executable, "-m", "hotline", "scheduler"],
                                cwd=ROOT,
                                env=env,
                                stdout=sink,
                                stderr=subprocess.STDOUT,
                            )
                        )
                wait_for(lambda: all("scheduler started" in log.read_text() for log in logs), 60)
                with database.write() as session:  # due now, for both at once
                    session.execute(update(Reminder).values(due_at=utcnow()))
                wait_for(
                    lambda: states(database) == {DispatchState.SENT: count},
                    60,
                    lambda: f"{states(database)}\n" + "\n".join(log.read_text() for log in logs),
                )
                time.sleep(2.5)  # a full polling interval more: nothing may follow
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                codes = [process.wait(timeout=30) for process in processes]
            output = "\n".join(log.read_text() for log in logs)
            assert codes == [0, 0], output
            assert len(fake.messages) == count
            assert len({m["To"] for m in fake.messages}) == count  # no duplicates
            assert {r.provider_sid for r in all_rows(database)} == {m["Sid"] for m in fake.messages}
            assert CLIENT_PREFIX not in output  # no number in the logs
    finally:
        database.dispose()


CLIENT_PREFIX = "+49176"


# --- answers: ABSAGEN, STOP ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("ABSAGEN", "cancel"),
        ("absagen", "cancel"),
        ("  Absagen.\n", "cancel"),
        ("absagen!", "cancel"),
        ("STOP", "stop"),
        (" stop ", "stop"),
        ("Stopp", "stop"),
        ("Ich möchte absagen", None),
        ("stop it", None),
        ("", None),
        ("IPTAL", "cancel"),
        ("iptal", "cancel"),
        ("İptal!", "cancel"),
        ("ıptal", "cancel"),
        ("CANCEL", "cancel"),
        ("cancel.", "cancel"),
        ("отмена", "cancel"),
        ("ОТМЕНИТЬ", "cancel"),
        ("إلغاء", "cancel"),
        ("الغاء؟", "cancel"),
        ("СТОП", "stop"),
        ("توقف", "stop"),
        ("cancel it", None),
        ("...", None),
    ],
)
def test_keywords(body: str, word: str | None, config: HotlineConfig) -> None:
    assert replies.keyword(body, config.reminders) == word


def test_keywords_name_their_languages(config: HotlineConfig) -> None:
    iptal = replies.match("iptal", config.reminders)
    assert iptal is not None
    assert (iptal.word, iptal.languages) == ("IPTAL", ("tr",))
    stop = replies.match("Stop", config.reminders)
    assert stop is not None
    assert stop.languages == ("de", "tr", "ar", "ru", "en")
    assert stop.language_for("en") == "en"
    assert stop.language_for("fr") == "de"
    # Only German without a configuration.
    assert replies.keyword("IPTAL") is None
    assert replies.keyword("ABSAGEN") == "cancel"


def post_sms(client: TestClient, settings: Settings, body: str, sender: str = CLIENT, **extra: str):  # type: ignore[no-untyped-def]
    params = {
        "MessageSid": extra.pop("sid", "SM" + os.urandom(16).hex()),
        "From": sender,
        "To": GENERAL,
        "Body": body,
        **extra,
    }
    return post_signed(client, settings, settings.public_url + "/twilio/sms", params)


NOW = berlin(2026, 11, 24, 10)


def test_absagen_cancels_the_next_appointment_and_tells_the_counsellor(
    client: TestClient, database: Database, settings: Settings, counsellor_id: int
) -> None:
    later = book(database, settings, counsellor_id, THURSDAY + timedelta(days=7))
    first = book(database, settings, counsellor_id, THURSDAY)
    past = book(database, settings, counsellor_id, NOW - timedelta(days=3))
    other = book(
        database, settings, counsellor_id, THURSDAY - timedelta(days=1), phone="+4917699999999"
    )
    with time_machine.travel(NOW, tick=False):
        response = post_sms(client, settings, " Absagen. ", sid="SM" + "1" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert ">Ihr Termin am Do, 26.11. um 14:00 Uhr ist abgesagt.</Message>" in response.text
    with database.read() as session:
        status = {a.id: a.status for a in session.scalars(select(Appointment))}
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "appointment").order_by(AuditEntry.id)
        ).all()
    assert status == {
        later: AppointmentStatus.BOOKED,
        first: AppointmentStatus.CANCELLED,
        past: AppointmentStatus.BOOKED,
        other: AppointmentStatus.BOOKED,
    }
    assert [(e.actor, e.action, e.entity_id) for e in entries] == [
        ("client-sms", "cancelled", first),
        ("client-sms", "sms-answer", first),
    ]
    assert all(CLIENT[3:] not in f"{e.before}{e.after}" for e in entries)
    assert {r.state for r in rows(database, first).values()} == {DispatchState.CANCELLED}
    assert {r.state for r in rows(database, later).values()} == {DispatchState.PENDING}
    (notice,) = sent_messages(database, settings)
    assert notice.body == "Termin am Do, 26.11. um 14:00 Uhr wurde per SMS abgesagt."
    assert notice.to == "+4915199990000"
    assert notice.from_number == GENERAL
    # The same message delivered again changes nothing more, and says nothing.
    with time_machine.travel(NOW, tick=False):
        again = post_sms(client, settings, "ABSAGEN", sid="SM" + "1" * 32)
    assert "<Message" not in again.text
    with database.read() as session:
        assert session.get(Appointment, later).status == AppointmentStatus.BOOKED  # type: ignore[union-attr]
    assert len(sent_messages(database, settings)) == 1


def test_absagen_is_delivered_to_the_counsellor_through_twilio(
    database: Database, live: tuple[Settings, FakeTwilio], counsellor_id: int
) -> None:
    settings, fake = live
    book(database, settings, counsellor_id, THURSDAY)
    from web.app import create_app

    with (
        TestClient(create_app(settings, database=database)) as client,
        time_machine.travel(NOW, tick=False),
    ):
        response = post_sms(client, settings, "ABSAGEN", sender="whatsapp:" + CLIENT)
    assert "ist abgesagt" in response.text
    wait_for(lambda: len(fake.messages) == 1, 10)
    assert fake.messages[0]["To"] == "+4915199990000"
    assert fake.messages[0]["From"] == GENERAL
    assert "per SMS abgesagt" in fake.messages[0]["Body"]


def test_stop_withdraws_consent_everywhere(
    client: TestClient, database: Database, settings: Settings, counsellor_id: int
) -> None:
    first = book(database, settings, counsellor_id, THURSDAY)
    second = book(database, settings, counsellor_id, THURSDAY + timedelta(days=7))
    with time_machine.travel(NOW, tick=False):
        response = post_sms(client, settings, "Stop")
    assert ">Sie erhalten von dieser Nummer keine Erinnerungen mehr.</Message>" in (response.text)
    with database.read() as session:
        appointments = session.scalars(select(Appointment)).all()
        audits = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "client-sms")
        ).all()
    assert {(a.status, a.sms_consent) for a in appointments} == {(AppointmentStatus.BOOKED, False)}
    assert audits == ["withdraw-consent", "withdraw-consent"]
    for appointment in (first, second):
        found = rows(database, appointment)
        assert found[Recipient.CLIENT].state == DispatchState.CANCELLED
        assert found[Recipient.COUNSELLOR].state == DispatchState.PENDING
    # No consent now: a second STOP, or ABSAGEN, gets no SMS and changes nothing.
    with time_machine.travel(NOW, tick=False):
        assert "<Message" not in post_sms(client, settings, "STOP").text
        assert "<Message" not in post_sms(client, settings, "ABSAGEN").text
    with database.read() as session:
        assert {a.status for a in session.scalars(select(Appointment))} == {
            AppointmentStatus.BOOKED
        }
    assert sent_messages(database, settings) == []


@pytest.mark.parametrize(
    ("language", "body", "reply"),
    [
        ("tr", "IPTAL", "Perşembe 26 Kasım, saat 14:00 randevunuz iptal edildi."),
        ("tr", " iptal. ", "Perşembe 26 Kasım, saat 14:00 randevunuz iptal edildi."),
        ("en", "Cancel", "Your appointment on Thursday 26 November at 14:00 has been cancelled."),
        ("de", "CANCEL", "Your appointment on Thursday 26 November at 14:00 has been cancelled."),
        ("tr", "ABSAGEN", "Ihr Termin am Do, 26.11. um 14:00 Uhr ist abgesagt."),
        ("ru", "ОТМЕНА", "Ваша встреча 26 ноября (четверг) в 14:00 отменена."),
        ("ar", "إلغاء", "تم إلغاء موعدك يوم الخميس 26 نوفمبر الساعة 14:00."),
    ],
)
def test_a_cancel_keyword_of_any_language_cancels_and_is_answered_in_it(
    client: TestClient,
    database: Database,
    settings: Settings,
    counsellor_id: int,
    language: str,
    body: str,
    reply: str,
) -> None:
    """The keywords of every language are accepted from every client; the answer is in the
    keyword's language, what the counsellor is told German."""
    first = book(database, settings, counsellor_id, THURSDAY, language=language)
    later = book(database, settings, counsellor_id, THURSDAY + timedelta(days=7), language=language)
    with time_machine.travel(NOW, tick=False):
        response = post_sms(client, settings, body, sid="SM" + "3" * 32)
    assert response.status_code == 200
    assert f">{reply}</Message>" in response.text
    with database.read() as session:
        status = {a.id: a.status for a in session.scalars(select(Appointment))}
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "sms-answer")).one()
    assert status == {first: AppointmentStatus.CANCELLED, later: AppointmentStatus.BOOKED}
    assert entry.after is not None
    assert entry.after["keyword"] == body.strip(" .").upper().replace("İ", "I")
    (notice,) = sent_messages(database, settings)
    assert notice.body == "Termin am Do, 26.11. um 14:00 Uhr wurde per SMS abgesagt."
    # Replayed: nothing more, in any language.
    with time_machine.travel(NOW, tick=False):
        again = post_sms(client, settings, body, sid="SM" + "3" * 32)
    assert "<Message" not in again.text
    with database.read() as session:
        assert session.get(Appointment, later).status == AppointmentStatus.BOOKED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("language", "body", "reply"),
    [
        ("tr", "STOP", "Bu numaradan artık hatırlatma almayacaksınız."),
        ("en", "stop", "You will no longer receive reminders from this number."),
        ("de", "STOP", "Sie erhalten von dieser Nummer keine Erinnerungen mehr."),
        ("en", "Stopp", "Sie erhalten von dieser Nummer keine Erinnerungen mehr."),
        ("ru", "стоп", "Вы больше не будете получать напоминания с этого номера."),
        ("ar", "توقف", "لن تتلقى بعد الآن تذكيرات من هذا الرقم."),
        ("fr", "STOP", "Sie erhalten von dieser Nummer keine Erinnerungen mehr."),
    ],
)
def test_stop_is_answered_in_the_clients_language(
    client: TestClient,
    database: Database,
    settings: Settings,
    counsellor_id: int,
    language: str,
    body: str,
    reply: str,
) -> None:
    """STOP belongs to several languages: the answer is in the appointment's; a word of one
    language only (Stopp) is answered in that one."""
    appointment = book(database, settings, counsellor_id, THURSDAY, language=language)
    with time_machine.travel(NOW, tick=False):
        response = post_sms(client, settings, body)
    assert f">{reply}</Message>" in response.text
    with database.read() as session:
        assert session.get(Appointment, appointment).sms_consent is False  # type: ignore[union-attr]
    assert rows(database, appointment)[Recipient.CLIENT].state == DispatchState.CANCELLED
    with time_machine.travel(NOW, tick=False):
        assert "<Message" not in post_sms(client, settings, "IPTAL").text  # no consent now


def test_a_keyword_of_another_language_from_an_unknown_number_gets_no_answer(
    client: TestClient, database: Database, settings: Settings, counsellor_id: int
) -> None:
    book(database, settings, counsellor_id, THURSDAY, language="tr")
    with time_machine.travel(NOW, tick=False):
        for body in ("IPTAL", "CANCEL", "STOP"):
            response = post_sms(client, settings, body, sender="+4917600000001")
            assert response.status_code == 200
            assert "<Message" not in response.text
    with database.read() as session:
        assert session.scalars(select(Appointment.status)).one() == AppointmentStatus.BOOKED


def test_other_messages_and_unknown_numbers_get_no_answer(
    client: TestClient, database: Database, settings: Settings, counsellor_id: int
) -> None:
    book(database, settings, counsellor_id, THURSDAY)
    with time_machine.travel(NOW, tick=False):
        for body, sender_number in (
            ("Hallo, ich komme etwas später", CLIENT),
            ("ABSAGEN", "+4917600000001"),
            ("STOP", "anonymous"),
        ):
            response = post_sms(client, settings, body, sender=sender_number)
            assert response.status_code == 200
            assert "<Message" not in response.text
            assert "<Response" in response.text
    with database.read() as session:
        appointment = session.scalars(select(Appointment)).one()
    assert (appointment.status, appointment.sms_consent) == (AppointmentStatus.BOOKED, True)


def test_unsigned_or_forged_messages_are_refused(
    client: TestClient, database: Database, settings: Settings, counsellor_id: int
) -> None:
    book(database, settings, counsellor_id, THURSDAY)
    params = {"MessageSid": "SM" + "2" * 32, "From": CLIENT, "To": GENERAL, "Body": "ABSAGEN"}
    assert client.post("/twilio/sms", data=params).status_code == 403
    url = settings.public_url + "/twilio/sms"
    response = post_signed(client, settings, url, params, token="wrong")
    assert response.status_code == 403
    with database.read() as session:
        assert session.scalars(select(Appointment.status)).one() == AppointmentStatus.BOOKED


def test_answers_never_log_the_number_or_the_body(
    client: TestClient,
    database: Database,
    settings: Settings,
    counsellor_id: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    book(database, settings, counsellor_id, THURSDAY)
    with caplog.at_level("DEBUG"), time_machine.travel(NOW, tick=False):
        post_sms(client, settings, "ABSAGEN")
        post_sms(client, settings, "Mein Geheimnis")
    assert "cancelled by SMS" in caplog.text
    assert CLIENT not in caplog.text
    assert CLIENT[3:] not in caplog.text
    assert "Geheimnis" not in caplog.text


# --- issue 5: a change during a claim, reminders of a new time, rate limits --------------------


class PausedQueue:
    """The reminder queue, but rendering waits until told: the claiming transaction stays open
    and holds its row locks, as it does while a batch is rendered on a busy database."""

    name = "reminders"
    model = Reminder

    def __init__(self) -> None:
        self.claimed = threading.Event()
        self.go = threading.Event()

    def grace(self, settings: Settings) -> timedelta:
        return QUEUE.grace(settings)

    def render(self, session: Session, settings: Settings, row: Any) -> Outgoing | None:
        self.claimed.set()
        assert self.go.wait(10)
        return QUEUE.render(session, settings, row)


@pytest.mark.parametrize("change", ["cancel", "reschedule", "stop"])
def test_a_change_during_a_claim_waits_and_leaves_the_claim_alone(
    database: Database, settings: Settings, counsellor_id: int, db_url: str, change: str
) -> None:
    """Real concurrent transactions: the client's day-before reminder is claimed (lock held)
    when the appointment is cancelled, moved or the client sends STOP. The change waits for
    the claim, leaves the row `sending`, and the SMS that goes out is recorded `sent`."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer)")
    appointment_id = book(database, settings, counsellor_id, THURSDAY)
    due, later = THURSDAY - timedelta(days=1), THURSDAY + timedelta(days=2)
    sent: list[str] = []

    def send(message: Outgoing) -> str:
        sent.append(message.purpose)
        return "SM" + "1" * 32

    queue = PausedQueue()
    dispatcher = threading.Thread(
        target=dispatch_round,
        args=(database, settings, queue),
        kwargs={"clock": at(due), "send": send},
    )
    dispatcher.start()
    assert queue.claimed.wait(10)

    def act() -> None:
        with database.write() as session:
            if change == "cancel":
                appointments.cancel(session, settings, appointment_id, actor="tests", now=due)
            elif change == "reschedule":
                appointments.reschedule(
                    session, settings, appointment_id, later, later + timedelta(hours=1),
                    actor="tests", now=due,
                )  # fmt: skip
            else:
                replies.stop(session, settings, CLIENT, due)

    actor = threading.Thread(target=act)
    actor.start()
    actor.join(1.0)
    assert actor.is_alive()  # waiting for the claim's row lock
    queue.go.set()
    dispatcher.join(10)
    actor.join(10)
    assert not dispatcher.is_alive()
    assert not actor.is_alive()
    assert sent == ["reminder-client"]
    with database.read() as session:
        mine = select(Reminder).where(Reminder.appointment_id == appointment_id)
        found = {
            (r.recipient, r.offset_minutes, r.appointment_start): (r.state, r.provider_sid)
            for r in session.scalars(mine)
        }
    assert found.pop((Recipient.CLIENT, 1440, THURSDAY)) == (DispatchState.SENT, "SM" + "1" * 32)
    if change == "cancel":
        assert found == {(Recipient.COUNSELLOR, 30, THURSDAY): (DispatchState.CANCELLED, None)}
    elif change == "reschedule":
        assert found == {
            (Recipient.COUNSELLOR, 30, THURSDAY): (DispatchState.CANCELLED, None),
            (Recipient.CLIENT, 1440, later): (DispatchState.PENDING, None),
            (Recipient.CLIENT, 120, later): (DispatchState.PENDING, None),
            (Recipient.COUNSELLOR, 30, later): (DispatchState.PENDING, None),
        }
    else:  # the counsellor's reminder stays
        assert found == {(Recipient.COUNSELLOR, 30, THURSDAY): (DispatchState.PENDING, None)}


def test_a_moved_appointment_is_reminded_of_its_new_time(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    """The day-before SMS went out; the appointment moves two days later that same day: the
    client gets the day-before SMS for the new date too (once), and the 2-hour one."""
    first, later = berlin(2026, 12, 1, 10), berlin(2026, 12, 3, 14)
    new = appointments.NewAppointment(
        counsellor_id, appointments.Client("Klient A.", CLIENT, True), first,
        first + timedelta(hours=1), AppointmentMode.PHONE,
    )  # fmt: skip
    with database.write() as session:
        appointment_id = appointments.book(
            session, settings, new, actor="tests", now=first - timedelta(days=5)
        ).id
    texts: list[str] = []

    def send(message: Outgoing) -> str:
        texts.append(f"{message.purpose}: {message.body}")
        return f"SM{len(texts):032d}"

    dispatch(database, settings, QUEUE, clock=at(first - timedelta(hours=24)), send=send)
    with database.write() as session:
        appointments.reschedule(
            session, settings, appointment_id, later, later + timedelta(hours=1), actor="tests",
            now=first - timedelta(hours=23),
        )  # fmt: skip
    for before in (timedelta(hours=24), timedelta(hours=2), timedelta(minutes=30)):
        for _ in range(2):  # a second run sends nothing twice
            dispatch(database, settings, QUEUE, clock=at(later - before), send=send)
    client = [text for text in texts if text.startswith("reminder-client")]
    assert len(client) == 3
    assert "Di, 01.12. um 10:00" in client[0]
    assert all("Do, 03.12. um 14:00" in text for text in client[1:])
    assert sum(text.startswith("reminder-counsellor") for text in texts) == 1


def test_a_rate_limit_backs_off_instead_of_burning_the_attempts(
    database: Database, settings: Settings, counsellor_id: int
) -> None:
    """Twilio answers 429 to the next 20 requests: the backlog waits (2 s, 4 s, … per row)
    and then goes out, each SMS once; nothing is given up for a few seconds of throttling."""
    due = THURSDAY - timedelta(days=1)
    for hour in range(40):
        book(
            database, settings, counsellor_id, THURSDAY + timedelta(hours=hour),
            phone=client_phone(), reminders={Recipient.CLIENT: 1440}, due=due,
        )  # fmt: skip
    with running(SID, TOKEN) as fake:
        live = replace(
            settings,
            twilio_account_sid=SID,
            twilio_auth_token=Secret(TOKEN),
            twilio_api_url=fake.url,
        )
        fake.rate_limit_next = 20
        first = dispatch(database, live, QUEUE, clock=at(due))
        assert first.claimed < 40  # the round ended at the first 429
        assert first.retry >= 1
        assert first.failed == 0
        for second in range(0, 120, 2):  # the scheduler's poll, for two minutes
            dispatch(database, live, QUEUE, clock=at(due + timedelta(seconds=second)))
        assert fake.rate_limit_next == 0
        assert states(database) == {DispatchState.SENT: 40}
        assert len({message["To"] for message in fake.messages}) == len(fake.messages) == 40


def test_a_keyword_locks_only_the_senders_appointments(
    database: Database, settings: Settings, counsellor_id: int, db_url: str
) -> None:
    """ABSAGEN or STOP decrypts first and locks only the sender's rows: while another client's
    appointment is locked, neither a stranger's message nor the client's own has to wait."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer)")
    other = book(database, settings, counsellor_id, THURSDAY, phone=client_phone())
    book(database, settings, counsellor_id, THURSDAY + timedelta(days=1))  # CLIENT's
    answers: dict[str, str | None] = {}

    def message(sender: str, body: str) -> None:
        with database.write() as session:
            found = replies.answer(
                session, settings, sender=sender, body=body, message_sid="SM" + sender[-8:],
                now=NOW,
            )  # fmt: skip
            answers[sender] = found.text

    with database.write() as session:
        session.get(Appointment, other, with_for_update=True)  # a booking of the other client
        threads = [
            threading.Thread(target=message, args=(sender, body))
            for sender, body in (("+4917699999999", "ABSAGEN"), (CLIENT, "STOP"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(3)
        waiting = [thread.is_alive() for thread in threads]
    for thread in threads:
        thread.join(10)
    assert waiting == [False, False]
    assert answers == {
        "+4917699999999": None,
        CLIENT: "Sie erhalten von dieser Nummer keine Erinnerungen mehr.",
    }
