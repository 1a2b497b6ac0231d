"""Appointments: booking, moving, cancelling, done / no-show; no double-booking, even under
concurrent load; reminder rows kept in step; DST wall times; the API and the page."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from config import phone
from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database, make_engine, upgrade
from foundation.errors import Conflict, Invalid, NotFound
from foundation.models import (
    APPOINTMENT_OVERLAP,
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    AuditEntry,
    DispatchState,
    Recipient,
    Reminder,
    Role,
)
from scheduling import appointments as cases
from scheduling import reminders, wallclock
from scheduling.appointments import Client, NewAppointment, Overlap
from tests.conftest import add_counsellor, berlin, quoted, utc
from tests.helpers import counsellor_of
from tests.test_api import check_against_openapi
from tests.test_auth import csrf_of, make_user, sign_in
from web.appointment_form import fold_choices, start_from

BERLIN = ZoneInfo("Europe/Berlin")
PHONE = "+4915123456789"
NOW = utc(2026, 11, 25, 12)


# --- DST: wall times resolved honestly (pure) -----------------------------------------------------


def test_spring_gap_is_refused_with_an_explanation() -> None:
    gap = wallclock.resolve(date(2026, 3, 29), time(2, 30), BERLIN)
    assert isinstance(gap, wallclock.Nonexistent)
    assert (gap.jump_from, gap.jump_to) == (time(2), time(3))
    message = wallclock.explain_nonexistent(gap)
    assert message.startswith(
        "Diese Uhrzeit gibt es am 29.03.2026 nicht (Umstellung auf Sommerzeit)"
    )
    assert "02:00" in message
    assert "03:00" in message
    refused = start_from({"date": "2026-03-29", "time": "02:30"}, BERLIN)
    assert refused.at is None
    assert refused.error == message


def test_autumn_double_hour_needs_a_choice_and_both_choices_are_an_hour_apart() -> None:
    doubled = wallclock.resolve(date(2026, 10, 25), time(2, 30), BERLIN)
    assert isinstance(doubled, wallclock.Ambiguous)
    assert doubled.first == utc(2026, 10, 25, 0, 30)  # 02:30 MESZ
    assert doubled.second == utc(2026, 10, 25, 1, 30)  # 02:30 MEZ
    assert doubled.second - doubled.first == timedelta(hours=1)
    values = {"date": "2026-10-25", "time": "02:30"}
    assert fold_choices(values, BERLIN) == ("02:30 MESZ (erste)", "02:30 MEZ (zweite)")
    unchosen = start_from(values, BERLIN)
    assert unchosen.at is None
    assert unchosen.error is not None
    assert "zweimal" in unchosen.error
    first = start_from(values | {"fold": "0"}, BERLIN).at
    second = start_from(values | {"fold": "1"}, BERLIN).at
    assert first is not None
    assert second is not None
    assert second - first == timedelta(hours=1)
    assert cases.moment_text(first, BERLIN) == "25.10.2026 02:30 MESZ"
    assert cases.moment_text(second, BERLIN) == "25.10.2026 02:30 MEZ"


def test_ordinary_times_need_no_question() -> None:
    assert wallclock.resolve(date(2026, 12, 1), time(9), BERLIN) == wallclock.Exact(
        utc(2026, 12, 1, 8)
    )
    assert fold_choices({"date": "2026-12-01", "time": "09:00"}, BERLIN) is None
    assert start_from({"date": "2026-12-01", "time": "9 Uhr"}, BERLIN).at is None


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - wall times, deliberately naive
        max_value=datetime(2026, 12, 31, 23, 59),  # noqa: DTZ001
    ),
)
def test_only_the_two_dst_hours_are_special(moment: datetime) -> None:
    wall = moment.replace(second=0, microsecond=0)
    result = wallclock.resolve(wall.date(), wall.time(), BERLIN)
    if wall.date() == date(2026, 3, 29) and wall.hour == 2:
        assert isinstance(result, wallclock.Nonexistent)
    elif wall.date() == date(2026, 10, 25) and wall.hour == 2:
        assert isinstance(result, wallclock.Ambiguous)
        for instant in (result.first, result.second):
            assert instant.astimezone(BERLIN).replace(tzinfo=None) == wall
    else:
        assert isinstance(result, wallclock.Exact)
        assert result.at.astimezone(BERLIN).replace(tzinfo=None) == wall


# --- validation and presentation (pure) -----------------------------------------------------------


def test_masked_phone() -> None:
    assert phone.masked_phone("+4915123456789") == "+49 151 ••• ••89"
    assert phone.masked_phone("+497112794555") == "+49 711 ••• ••55"
    assert "2345678" not in phone.masked_phone("+4915123456789")


@pytest.mark.parametrize(
    "pseudonym", ["", "   ", "x" * 101, "0151 2345678", "Tel +49 (151) 234-567", "a\x00b"]
)
def test_bad_pseudonyms(pseudonym: str) -> None:
    with pytest.raises(Invalid) as refused:
        cases.check_pseudonym(pseudonym)
    assert refused.value.field == "client.pseudonym"


def test_good_pseudonyms_are_tidied() -> None:
    assert cases.check_pseudonym("  Herr   Fuchs ") == "Herr Fuchs"
    assert cases.check_pseudonym("K. aus Ulm, Jg. 1999") == "K. aus Ulm, Jg. 1999"


def test_reminder_plan() -> None:
    config = HotlineConfig.model_validate(_raw_config())
    start = utc(2026, 12, 1, 9)
    want = reminders.Wanted(start=start, booked=True, client_reachable=True)
    assert reminders.plan(config, want) == {
        (Recipient.COUNSELLOR, 30): start - timedelta(minutes=30),
        (Recipient.CLIENT, 1440): start - timedelta(days=1),
        (Recipient.CLIENT, 120): start - timedelta(hours=2),
    }
    assert set(reminders.plan(config, reminders.Wanted(start, True, False))) == {
        (Recipient.COUNSELLOR, 30)
    }
    assert reminders.plan(config, reminders.Wanted(start, False, True)) == {}


def _raw_config() -> dict[str, Any]:
    from config.model import load_config

    return load_config(None).model_dump()


# --- use cases, on every database ---------------------------------------------------------------


@pytest.fixture
def people(database: Database, config: HotlineConfig) -> tuple[int, int]:
    with database.write() as session:
        first = add_counsellor(session, config, "islamism", name="Amira Yilmaz").id
        second = add_counsellor(session, config, "islamism", name="Jonas Becker").id
    return first, second


def new(
    counsellor_id: int,
    start: datetime,
    minutes: int = 60,
    *,
    phone: str | None = PHONE,
    consent: bool = True,
    pseudonym: str = "Herr Fuchs",
    mode: AppointmentMode = AppointmentMode.PHONE,
    **extra: Any,
) -> NewAppointment:
    return NewAppointment(
        counsellor_id,
        Client(pseudonym, phone, consent),
        start,
        start + timedelta(minutes=minutes),
        mode,
        **extra,
    )


def book(database: Database, settings: Settings, appointment: NewAppointment) -> int:
    with database.write() as session:
        return cases.book(session, settings, appointment, actor="tests", now=NOW).id


def state(database: Database, appointment_id: int) -> dict[tuple[Recipient, int], Any]:
    with database.read() as session:
        rows = session.scalars(select(Reminder).where(Reminder.appointment_id == appointment_id))
        return {(r.recipient, r.offset_minutes): (r.state, r.due_at) for r in rows}


def table_counts(database: Database) -> tuple[int, int, int]:
    with database.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Appointment, Reminder, AuditEntry)
        )


def test_booking_writes_reminders_in_the_same_transaction(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    start = berlin(2026, 12, 1, 10)
    with_consent = book(database, settings, new(people[0], start))
    assert state(database, with_consent) == {
        (Recipient.COUNSELLOR, 30): (DispatchState.PENDING, start - timedelta(minutes=30)),
        (Recipient.CLIENT, 1440): (DispatchState.PENDING, start - timedelta(days=1)),
        (Recipient.CLIENT, 120): (DispatchState.PENDING, start - timedelta(hours=2)),
    }
    # No consent, or no number: the client gets nothing, the counsellor is still reminded.
    no_consent = book(database, settings, new(people[1], start, consent=False))
    assert set(state(database, no_consent)) == {(Recipient.COUNSELLOR, 30)}
    no_phone = book(
        database, settings, new(people[1], start + timedelta(hours=2), phone=None, consent=False)
    )
    assert set(state(database, no_phone)) == {(Recipient.COUNSELLOR, 30)}
    # Moments already past are not written: booked 90 minutes ahead, only the 30-minute one.
    soon = book(database, settings, new(people[0], NOW + timedelta(minutes=90)))
    assert set(state(database, soon)) == {(Recipient.COUNSELLOR, 30)}


def test_a_refused_booking_leaves_no_reminders(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    before = table_counts(database)
    with pytest.raises(Overlap):
        book(database, settings, new(people[0], berlin(2026, 12, 1, 10, 30)))
    assert table_counts(database) == before


def test_client_phone_is_never_stored_in_clear(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    appointment_id = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    with database.engine.connect() as connection:
        raw = connection.execute(
            text("SELECT client_phone_enc FROM appointments WHERE id = :id"), {"id": appointment_id}
        ).scalar_one()
        audit = connection.execute(text("SELECT before, after FROM audit_log")).all()
    raw = bytes(raw)
    assert raw.startswith(b"v1")
    for needle in (PHONE, PHONE[1:], "15123456789", "0151"):
        assert needle.encode() not in raw
        assert needle not in str(audit)
    assert "Fuchs" not in str(audit)  # no client data in the audit log either
    with database.read() as session:
        stored = session.get(Appointment, appointment_id)
        assert stored is not None
        from foundation import crypto

        assert cases.client_phone(crypto.box(settings), stored) == PHONE


def test_phone_is_normalised(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    appointment_id = book(
        database, settings, new(people[0], berlin(2026, 12, 1, 10), phone="0151 2345 6789")
    )
    from foundation import crypto

    with database.read() as session:
        stored = session.get(Appointment, appointment_id)
        assert stored is not None
        assert cases.client_phone(crypto.box(settings), stored) == PHONE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"minutes": 0}, "end"),
        ({"minutes": -30}, "end"),
        ({"minutes": 8 * 60 + 1}, "end"),
        ({"pseudonym": ""}, "client.pseudonym"),
        ({"pseudonym": "Ruf an: 0151 2345678"}, "client.pseudonym"),
        ({"phone": "12"}, "client.phone"),
        ({"phone": None, "consent": True}, "client.sms_consent"),
        ({"phone": "0711 2794555", "consent": True}, "client.sms_consent"),  # landline
        ({"mode": AppointmentMode.IN_PERSON}, "location"),
        ({"mode": AppointmentMode.IN_PERSON, "location": "   "}, "location"),
        ({"mode": AppointmentMode.VIDEO}, "video_link"),
        ({"mode": AppointmentMode.VIDEO, "video_link": "http://meet.example/x"}, "video_link"),
        ({"mode": AppointmentMode.VIDEO, "video_link": "https://"}, "video_link"),
        ({"mode": AppointmentMode.VIDEO, "video_link": "javascript:alert(1)"}, "video_link"),
    ],
)
def test_bad_bookings_are_refused_and_change_nothing(
    database: Database,
    settings: Settings,
    people: tuple[int, int],
    change: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(database)
    arguments: dict[str, Any] = {"minutes": 60} | change
    with pytest.raises(Invalid) as refused:
        book(database, settings, new(people[0], berlin(2026, 12, 1, 10), **arguments))
    assert refused.value.field == field
    assert "2345" not in refused.value.message  # messages never repeat a number
    assert table_counts(database) == before


def test_naive_times_are_refused(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    naive = datetime(2026, 12, 1, 10)  # noqa: DTZ001 - the point of the test
    with pytest.raises(Invalid, match="offset"):
        book(database, settings, new(people[0], naive))


def test_counsellor_must_exist_and_be_active(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    with pytest.raises(NotFound):
        book(database, settings, new(999_999, berlin(2026, 12, 1, 10)))
    from scheduling.counsellors import set_active

    with database.write() as session:
        set_active(session, people[1], False, actor="tests")
    with pytest.raises(Invalid) as refused:
        book(database, settings, new(people[1], berlin(2026, 12, 1, 10)))
    assert refused.value.field == "counsellor_id"


def test_modes_keep_only_their_own_place(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    start = berlin(2026, 12, 1, 10)
    in_person = book(
        database,
        settings,
        new(
            people[0],
            start,
            mode=AppointmentMode.IN_PERSON,
            location="Beratungsstelle, Raum 2",
            video_link="https://meet.example/abc",
        ),
    )
    video = book(
        database,
        settings,
        new(people[1], start, mode=AppointmentMode.VIDEO, video_link="https://meet.example/abc"),
    )
    with database.read() as session:
        first, second = session.get(Appointment, in_person), session.get(Appointment, video)
        assert first is not None
        assert second is not None
        assert (first.location, first.video_link) == ("Beratungsstelle, Raum 2", None)
        assert (second.location, second.video_link) == (None, "https://meet.example/abc")


def test_overlaps_of_one_counsellor_are_refused_with_the_appointment_in_the_way(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    first = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    for start, minutes in ((berlin(2026, 12, 1, 10, 30), 60), (berlin(2026, 12, 1, 9), 240)):
        with pytest.raises(Overlap) as refused:
            book(database, settings, new(people[0], start, minutes))
        assert refused.value.existing_id == first
        assert refused.value.message.startswith("Zu dieser Zeit ist bereits ein Termin gebucht (")
        assert "01.12.2026 10:00 MEZ – 11:00 MEZ" in refused.value.message
        assert isinstance(refused.value, Conflict)
    # Back to back, another counsellor, or a cancelled appointment: no conflict.
    book(database, settings, new(people[0], berlin(2026, 12, 1, 11)))
    book(database, settings, new(people[0], berlin(2026, 12, 1, 9)))
    book(database, settings, new(people[1], berlin(2026, 12, 1, 10)))
    with database.write() as session:
        cases.cancel(session, settings, first, actor="tests", now=NOW)
    book(database, settings, new(people[0], berlin(2026, 12, 1, 10, 15), 30))


def reminder_times(
    database: Database, appointment_id: int
) -> dict[tuple[Recipient, int, datetime], DispatchState]:
    """Every reminder row of an appointment, by (recipient, offset, the start it reminds of)."""
    with database.read() as session:
        rows = session.scalars(select(Reminder).where(Reminder.appointment_id == appointment_id))
        return {(r.recipient, r.offset_minutes, r.appointment_start): r.state for r in rows}


def test_reschedule_plans_reminders_for_the_new_time_and_counts_the_sequence(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    first = berlin(2026, 12, 1, 10)
    appointment_id = book(database, settings, new(people[0], first))
    # The day-before reminder went out already; the others are pending.
    with database.write() as session:
        sent = session.scalars(
            select(Reminder).where(
                Reminder.appointment_id == appointment_id, Reminder.offset_minutes == 1440
            )
        ).one()
        sent.state = DispatchState.SENT
    later = berlin(2026, 12, 3, 14)
    with database.write() as session:
        moved = cases.reschedule(
            session, settings, appointment_id, later, later + timedelta(hours=1), actor="tests",
            now=NOW,
        )  # fmt: skip
        assert moved.sequence == 1
    # The new time gets all its reminders, the day-before one included; the sent one stays as
    # history, the pending ones of the old time are cancelled.
    assert reminder_times(database, appointment_id) == {
        (Recipient.CLIENT, 1440, first): DispatchState.SENT,
        (Recipient.CLIENT, 120, first): DispatchState.CANCELLED,
        (Recipient.COUNSELLOR, 30, first): DispatchState.CANCELLED,
        (Recipient.CLIENT, 1440, later): DispatchState.PENDING,
        (Recipient.CLIENT, 120, later): DispatchState.PENDING,
        (Recipient.COUNSELLOR, 30, later): DispatchState.PENDING,
    }
    with database.read() as session:
        due = session.scalars(
            select(Reminder.due_at).where(
                Reminder.appointment_start == later, Reminder.offset_minutes == 1440
            )
        ).one()
        assert due == later - timedelta(hours=24)
    # The same times again change nothing, not even the sequence.
    with database.write() as session:
        same = cases.reschedule(
            session, settings, appointment_id, later, later + timedelta(hours=1), actor="tests",
            now=NOW,
        )  # fmt: skip
        assert same.sequence == 1
    # Moved so close that a reminder's moment has passed: none is written for it (not sent late).
    soon = NOW + timedelta(minutes=60)
    with database.write() as session:
        cases.reschedule(
            session, settings, appointment_id, soon, soon + timedelta(hours=1), actor="tests",
            now=NOW,
        )  # fmt: skip
    times = reminder_times(database, appointment_id)
    assert {key[:2] for key in times if key[2] == soon} == {(Recipient.COUNSELLOR, 30)}
    assert {state for key, state in times.items() if key[2] == later} == {DispatchState.CANCELLED}
    # Moved back to the first time: its cancelled rows are pending again, the sent one is not
    # sent twice.
    with database.write() as session:
        cases.reschedule(
            session, settings, appointment_id, first, first + timedelta(hours=1), actor="tests",
            now=NOW,
        )  # fmt: skip
    times = reminder_times(database, appointment_id)
    assert {key[:2]: state for key, state in times.items() if key[2] == first} == {
        (Recipient.CLIENT, 1440): DispatchState.SENT,
        (Recipient.CLIENT, 120): DispatchState.PENDING,
        (Recipient.COUNSELLOR, 30): DispatchState.PENDING,
    }
    with database.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "appointment").order_by(AuditEntry.id)
        ).all()
    assert [e.action for e in entries] == ["create", "reschedule", "reschedule", "reschedule"]


def test_reschedule_into_an_overlap_changes_nothing(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    first = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    second = book(database, settings, new(people[0], berlin(2026, 12, 1, 14)))
    before, reminders_before = table_counts(database), state(database, second)
    with pytest.raises(Overlap) as refused, database.write() as session:
        cases.reschedule(
            session, settings, second, berlin(2026, 12, 1, 10, 30), berlin(2026, 12, 1, 11, 30),
            actor="tests", now=NOW,
        )  # fmt: skip
    assert refused.value.existing_id == first
    assert table_counts(database) == before
    assert state(database, second) == reminders_before
    with database.read() as session:
        unchanged = session.get(Appointment, second)
        assert unchanged is not None
        assert unchanged.start_at == berlin(2026, 12, 1, 14)
        assert unchanged.sequence == 0
    # Moving within its own slot is no overlap with itself.
    with database.write() as session:
        cases.reschedule(
            session, settings, second, berlin(2026, 12, 1, 14, 30), berlin(2026, 12, 1, 15, 30),
            actor="tests", now=NOW,
        )  # fmt: skip


def test_cancel_and_marks(database: Database, settings: Settings, people: tuple[int, int]) -> None:
    ahead = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    past = book(database, settings, new(people[0], berlin(2026, 11, 20, 10)))
    # Marking needs the appointment to have begun.
    with pytest.raises(Invalid), database.write() as session:
        cases.mark(session, settings, ahead, AppointmentStatus.DONE, actor="t", now=NOW)
    with database.write() as session:
        done = cases.mark(session, settings, past, AppointmentStatus.DONE, actor="t", now=NOW)
        assert (done.status, done.sequence) == (AppointmentStatus.DONE, 1)
    with database.write() as session:  # corrected
        fixed = cases.mark(session, settings, past, AppointmentStatus.NO_SHOW, actor="t", now=NOW)
        assert (fixed.status, fixed.sequence) == (AppointmentStatus.NO_SHOW, 2)
    with pytest.raises(Conflict), database.write() as session:
        cases.cancel(session, settings, past, actor="t", now=NOW)
    with pytest.raises(Invalid), database.write() as session:
        cases.mark(session, settings, past, AppointmentStatus.BOOKED, actor="t", now=NOW)
    # Cancelling cancels the pending reminders; cancelling twice is harmless.
    with database.write() as session:
        cancelled = cases.cancel(session, settings, ahead, actor="t", now=NOW)
        assert (cancelled.status, cancelled.sequence) == (AppointmentStatus.CANCELLED, 1)
    assert {value[0] for value in state(database, ahead).values()} == {DispatchState.CANCELLED}
    with database.write() as session:
        assert cases.cancel(session, settings, ahead, actor="t", now=NOW).sequence == 1
    with pytest.raises(Conflict), database.write() as session:
        cases.mark(session, settings, ahead, AppointmentStatus.DONE, actor="t", now=NOW)
    later = berlin(2026, 12, 2, 10)
    with pytest.raises(Conflict), database.write() as session:
        cases.reschedule(
            session, settings, ahead, later, later + timedelta(hours=1), actor="t", now=NOW
        )
    with pytest.raises(NotFound), database.write() as session:
        cases.cancel(session, settings, 999_999, actor="t", now=NOW)


def test_done_cancels_pending_reminders(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    start = berlin(2026, 12, 1, 10)
    appointment_id = book(database, settings, new(people[0], start))
    with database.write() as session:  # it began early; the 30-minute reminder is still pending
        cases.mark(
            session, settings, appointment_id, AppointmentStatus.DONE, actor="t",
            now=start + timedelta(minutes=1),
        )  # fmt: skip
    assert {value[0] for value in state(database, appointment_id).values()} == {
        DispatchState.CANCELLED
    }


def test_list_for_a_counsellor_and_a_team(
    database: Database, settings: Settings, config: HotlineConfig, people: tuple[int, int]
) -> None:
    with database.write() as session:
        other_team = add_counsellor(session, config, "right-wing").id
    a = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    b = book(database, settings, new(people[1], berlin(2026, 12, 1, 9)))
    c = book(database, settings, new(other_team, berlin(2026, 12, 1, 9)))
    book(database, settings, new(people[0], berlin(2026, 12, 20, 9)))  # outside the window
    window = {"start": berlin(2026, 12, 1), "end": berlin(2026, 12, 2)}
    with database.read() as session:
        mine = cases.list_appointments(session, counsellor_ids=[people[0]], **window)
        from foundation.teams import team_by_slug

        team = team_by_slug(session, "islamism", settings.config)
        team_rows = cases.list_appointments(
            session, counsellor_ids=cases.team_counsellor_ids(team), **window
        )
        everyone = cases.list_appointments(session, **window)
    assert [r.id for r in mine] == [a]
    assert [r.id for r in team_rows] == [b, a]
    assert {r.id for r in everyone} == {a, b, c}


# --- no double-booking under concurrency ----------------------------------------------------------


def _race(n: int, attempt: Callable[[int], None]) -> list[str]:
    """Run `attempt` in n threads released at once; the outcome of each, by exception name."""
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            attempt(i)
            result = "ok"
        except Exception as exc:  # any other failure shows up in the assertion's message
            result = type(exc).__name__
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def wide_database(db_url: str, database: Database) -> Iterator[Database]:
    """The test database with a connection pool big enough for 50 threads at once, connected
    before the race: 50 connections opened at the same moment could pass the connect timeout
    (foundation.db.PG_CONNECT_TIMEOUT) on a busy machine (OperationalError instead of the
    outcome under test, seen in CI), and what races is the writes."""
    wide = Database(make_engine(db_url, pool_size=50, max_overflow=0))
    opened = [wide.engine.connect() for _ in range(50)]
    for connection in opened:
        connection.close()
    yield wide
    wide.dispose()


def test_concurrent_bookings_of_one_slot_admit_exactly_one(
    wide_database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    """50 requests for the same counsellor and slot at the same moment (PostgreSQL: 50
    connections; SQLite: its single writer): one wins, all others get the Conflict."""
    start = berlin(2026, 12, 1, 10)

    def attempt(i: int) -> None:
        slot = start + timedelta(minutes=i % 20)  # all overlap the first
        with wide_database.write() as session:
            cases.book(session, settings, new(people[0], slot), actor="tests", now=NOW)

    outcomes = _race(50, attempt)
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("Overlap") == 49, outcomes
    with wide_database.read() as session:
        assert session.scalar(select(func.count()).select_from(Appointment)) == 1
        # Reminders only for the winner.
        assert session.scalar(select(func.count()).select_from(Reminder)) == 3


def test_the_database_itself_refuses_overlaps_on_postgresql(
    wide_database: Database, people: tuple[int, int]
) -> None:
    """50 straight INSERTs, bypassing the use case's check: the exclusion constraint admits
    exactly one. Cancelled appointments and other counsellors are not constrained."""
    if wide_database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite relies on the use case's exclusive transaction")
    start = utc(2026, 12, 1, 9)

    def row(counsellor: int, offset: int, status: str = "booked") -> dict[str, Any]:
        return {
            "counsellor_id": counsellor,
            "client_pseudonym": "Fuchs",
            "sms_consent": False,
            "start_at": start + timedelta(minutes=offset),
            "end_at": start + timedelta(minutes=offset + 60),
            "mode": "phone",
            "status": status,
            "sequence": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }

    def attempt(i: int) -> None:
        with wide_database.write() as session:
            session.execute(insert(Appointment), [row(people[0], i % 30)])

    outcomes = _race(50, attempt)
    assert outcomes.count("ok") == 1, outcomes
    assert outcomes.count("IntegrityError") == 49, outcomes
    day = 24 * 60  # the next day, clear of the race's winner
    with wide_database.write() as session:
        session.execute(insert(Appointment), [row(people[0], day)])
        session.execute(insert(Appointment), [row(people[0], day + 10, "cancelled")])
        session.execute(insert(Appointment), [row(people[1], day + 10)])
        session.execute(insert(Appointment), [row(people[0], day + 60)])  # back to back
    with pytest.raises(IntegrityError, match=APPOINTMENT_OVERLAP), wide_database.write() as s:
        s.execute(insert(Appointment), [row(people[0], day + 59)])


def test_losing_the_race_on_the_constraint_is_a_conflict_naming_the_winner(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    """A booking that passed the check while a competing one was not yet committed: the
    constraint makes it wait, then refuse; the use case turns that into the same Overlap."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: on SQLite the second writer waits before its check")
    start = berlin(2026, 12, 1, 10)
    outcome: list[BaseException | int] = []
    with database.engine.connect() as competitor:
        transaction = competitor.begin()
        winner = competitor.execute(
            insert(Appointment).returning(Appointment.id),
            {
                "counsellor_id": people[0],
                "client_pseudonym": "Fuchs",
                "sms_consent": False,
                "start_at": start,
                "end_at": start + timedelta(hours=1),
                "mode": "phone",
                "status": "booked",
                "sequence": 0,
                "created_at": NOW,
                "updated_at": NOW,
            },
        ).scalar_one()

        def second() -> None:
            try:
                outcome.append(book(database, settings, new(people[0], start)))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        clock.sleep(0.5)
        assert thread.is_alive(), "the second booking should wait on the constraint"
        transaction.commit()
        thread.join(10)
    assert len(outcome) == 1
    refused = outcome[0]
    assert isinstance(refused, Overlap), refused
    assert refused.existing_id == winner


def test_the_constraint_is_built_by_the_migrations(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name != "postgresql":
                pytest.skip("PostgreSQL only")
            definition = connection.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name "
                    "AND contype = 'x' AND connamespace = current_schema()::regnamespace"
                ),
                {"name": APPOINTMENT_OVERLAP},
            ).scalar_one()
    finally:
        engine.dispose()
    assert "EXCLUDE USING gist" in definition
    assert "tstzrange(start_at, end_at, '[)'::text) WITH &&" in definition
    assert "(status)::text = 'booked'::text" in definition


# --- the API --------------------------------------------------------------------------------------


def payload(counsellor_id: int, start: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    return {
        "counsellor_id": counsellor_id,
        "client": {"pseudonym": "Herr Fuchs", "phone": "0151 2345 6789", "sms_consent": True},
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "mode": "phone",
        **extra,
    }


def test_api_book_list_get_reschedule_cancel(
    api: TestClient, database: Database, people: tuple[int, int]
) -> None:
    response = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 10)))
    assert response.status_code == 201, response.text
    check_against_openapi(response, "/api/v1/appointments", "post")
    created = response.json()
    assert created["client"] == {
        "pseudonym": "Herr Fuchs",
        "phone": "+49 151 ••• ••89",
        "sms_consent": True,
    }
    assert created["start"] == "2026-12-01T10:00:00+01:00"
    assert created["status"] == "booked"
    assert created["counsellor_name"] == "Amira Yilmaz"
    assert "23456789" not in response.text

    window = f"from={quoted(berlin(2026, 12, 1))}&to={quoted(berlin(2026, 12, 2))}"
    listed = api.get(f"/api/v1/appointments?counsellor_id={people[0]}&{window}")
    assert listed.status_code == 200, listed.text
    check_against_openapi(listed, "/api/v1/appointments", "get")
    assert [a["id"] for a in listed.json()["items"]] == [created["id"]]
    assert "23456789" not in listed.text
    team = api.get(f"/api/v1/appointments?team=right-wing&{window}")
    assert team.json()["items"] == []

    one = api.get(f"/api/v1/appointments/{created['id']}")
    assert one.status_code == 200
    check_against_openapi(one, "/api/v1/appointments/{appointment_id}", "get")

    moved = api.post(
        f"/api/v1/appointments/{created['id']}/reschedule",
        json={"start": "2026-12-02T15:00:00+01:00", "end": "2026-12-02T16:00:00+01:00"},
    )
    assert moved.status_code == 200, moved.text
    check_against_openapi(moved, "/api/v1/appointments/{appointment_id}/reschedule", "post")
    assert (moved.json()["start"], moved.json()["sequence"]) == ("2026-12-02T15:00:00+01:00", 1)

    cancelled = api.post(f"/api/v1/appointments/{created['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    check_against_openapi(cancelled, "/api/v1/appointments/{appointment_id}/cancel", "post")
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"/api/v1/appointments/{created['id']}/cancel")
    assert again.status_code == 200
    assert again.json()["sequence"] == 2
    with database.read() as session:
        actors = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.entity == "appointment")
        ).all()
    assert len(actors) == 3
    assert all(actor.startswith("api-key:") for actor in actors), actors


def test_api_books_in_the_clients_language(
    api: TestClient, database: Database, people: tuple[int, int]
) -> None:
    """`client_language` records the language of her SMS (German by default); only German and
    the languages of `[reminders.languages]` are accepted."""
    start = berlin(2026, 12, 1, 10)
    german = api.post("/api/v1/appointments", json=payload(people[0], start))
    assert german.json()["client_language"] == "de"
    turkish = api.post(
        "/api/v1/appointments",
        json=payload(people[0], start + timedelta(days=1), client_language="tr"),
    )
    assert turkish.status_code == 201, turkish.text
    check_against_openapi(turkish, "/api/v1/appointments", "post")
    assert turkish.json()["client_language"] == "tr"
    with database.read() as session:
        appointment = session.get(Appointment, turkish.json()["id"])
        assert appointment is not None
        assert appointment.client_language == "tr"
    for code in ("fr", "TR", "tur", ""):
        refused = api.post(
            "/api/v1/appointments",
            json=payload(people[0], start + timedelta(days=2), client_language=code),
        )
        assert refused.status_code == 422, (code, refused.text)
        assert "client_language" in refused.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Appointment)) == 2


def test_api_overlap_is_409_with_the_existing_appointment(
    api: TestClient, database: Database, people: tuple[int, int]
) -> None:
    first = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 10)))
    before = table_counts(database)
    clash = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 10, 30)))
    assert clash.status_code == 409, clash.text
    check_against_openapi(clash, "/api/v1/appointments", "post")
    body = clash.json()
    assert body["error"] == "conflict"
    assert body["message"].startswith("Zu dieser Zeit ist bereits ein Termin gebucht")
    assert body["existing"] == {
        "id": first.json()["id"],
        "start": "2026-12-01T10:00:00+01:00",
        "end": "2026-12-01T11:00:00+01:00",
    }
    assert table_counts(database) == before
    other = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 14)))
    moved = api.post(
        f"/api/v1/appointments/{other.json()['id']}/reschedule",
        json={"start": "2026-12-01T10:15:00+01:00", "end": "2026-12-01T10:45:00+01:00"},
    )
    assert moved.status_code == 409
    check_against_openapi(moved, "/api/v1/appointments/{appointment_id}/reschedule", "post")
    assert moved.json()["existing"]["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "2026-12-01T10:00:00"}, "start"),  # no offset: refused in the API
        ({"end": "2026-12-01T09:00:00+01:00"}, "end"),
        ({"mode": "carrier-pigeon"}, "mode"),
        ({"mode": "video", "video_link": "http://meet.example/x"}, "video_link"),
        ({"mode": "in_person"}, "location"),
        ({"counsellor_id": 999_999}, "counsellor_id"),
        ({"client": {"pseudonym": "", "phone": None}}, "client.pseudonym"),
        ({"client": {"pseudonym": "0151 2345 6789"}}, "client.pseudonym"),
        ({"client": {"pseudonym": "X", "phone": "+49 999 1234567890123"}}, "client.phone"),
        ({"client": {"pseudonym": "X", "sms_consent": True}}, "client.sms_consent"),
        ({"client": {"pseudonym": "X", "email": "x@example.org"}}, "client.email"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_api_bad_bookings_are_422_and_change_nothing(
    api: TestClient,
    database: Database,
    people: tuple[int, int],
    change: dict[str, Any],
    field: str,
) -> None:
    before = table_counts(database)
    response = api.post(
        "/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 10)) | change
    )
    assert response.status_code == 422, response.text
    check_against_openapi(response, "/api/v1/appointments", "post")
    assert any(field in (d["field"] or "") for d in response.json()["details"]), response.text
    assert "1234567890123" not in response.text
    assert "2345 6789" not in response.text
    assert table_counts(database) == before


def test_api_status_and_errors(api: TestClient, people: tuple[int, int]) -> None:
    past = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 11, 20, 10)))
    assert past.status_code == 201, past.text  # entered after the fact
    path = f"/api/v1/appointments/{past.json()['id']}/status"
    done = api.post(path, json={"status": "done"})
    assert done.status_code == 200, done.text
    check_against_openapi(done, "/api/v1/appointments/{appointment_id}/status", "post")
    assert done.json()["status"] == "done"
    for body, status in (({"status": "booked"}, 422), ({}, 422), ({"status": "no_show"}, 200)):
        response = api.post(path, json=body)
        assert response.status_code == status, response.text
        check_against_openapi(response, "/api/v1/appointments/{appointment_id}/status", "post")
    cancel = api.post(f"/api/v1/appointments/{past.json()['id']}/cancel")
    assert cancel.status_code == 409
    check_against_openapi(cancel, "/api/v1/appointments/{appointment_id}/cancel", "post")
    ahead_at = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    ahead = api.post("/api/v1/appointments", json=payload(people[0], ahead_at))
    early = api.post(f"/api/v1/appointments/{ahead.json()['id']}/status", json={"status": "done"})
    assert early.status_code == 422
    for method, url in (
        ("GET", "/api/v1/appointments/999999"),
        ("POST", "/api/v1/appointments/999999/cancel"),
    ):
        missing = api.request(method, url)
        assert missing.status_code == 404
        template = url.replace("999999", "{appointment_id}")
        check_against_openapi(missing, template, method.lower())
    assert api.get("/api/v1/appointments/abc").status_code == 422
    assert api.get("/api/v1/appointments?from=yesterday").status_code == 422
    assert api.get("/api/v1/appointments?team=left-wing").status_code == 422


def test_api_needs_a_key(client: TestClient) -> None:
    assert client.get("/api/v1/appointments").status_code == 401
    assert client.post("/api/v1/appointments/1/cancel").status_code == 401


# --- the page -------------------------------------------------------------------------------------


def form(csrf: str, **values: str) -> dict[str, str]:
    defaults = {
        "csrf": csrf,
        "pseudonym": "Frau Amsel",
        "phone": "0151 2345 6789",
        "sms_consent": "1",
        "date": "2026-12-01",
        "time": "10:00",
        "duration": "60",
        "mode": "phone",
    }
    return defaults | values


def test_counsellor_books_and_sees_own_appointments(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(browser, "beraterin")
        page = browser.get("/appointments")
        assert page.status_code == 200
        assert '<a href="/appointments" aria-current="page">Termine</a>' in page.text
        assert "Termin buchen" in page.text
        csrf = csrf_of(page.text)
        booked = browser.post("/appointments", data=form(csrf))
        assert booked.status_code == 303, booked.text
        shown = browser.get(booked.headers["location"])
    assert "Der Termin ist gebucht: 01.12.2026 10:00 MEZ – 11:00 MEZ." in shown.text
    assert "Frau Amsel" in shown.text
    assert "+49 151 ••• ••89" in shown.text
    assert "2345 6789" not in shown.text
    assert "23456789" not in shown.text
    with database.read() as session:
        stored = session.scalars(select(Appointment)).one()
    assert stored.counsellor_id == counsellor_of(database, "beraterin")
    assert stored.start_at == utc(2026, 12, 1, 9)
    assert stored.sms_consent


def test_page_refuses_the_spring_gap_and_asks_about_the_autumn_hour(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with time_machine.travel(berlin(2026, 3, 1, 12), tick=False):
        sign_in(browser, "beraterin")
        csrf = csrf_of(browser.get("/appointments").text)
        gap = browser.post("/appointments", data=form(csrf, date="2026-03-29", time="02:30"))
        assert gap.status_code == 422
        assert "Diese Uhrzeit gibt es am 29.03.2026 nicht (Umstellung auf Sommerzeit)" in gap.text
        assert 'aria-invalid="true"' in gap.text
        ask = browser.post("/appointments", data=form(csrf, date="2026-10-25", time="02:30"))
        assert ask.status_code == 422
        assert "02:30 MESZ (erste)" in ask.text
        assert "02:30 MEZ (zweite)" in ask.text
        assert 'type="radio" name="fold" value="1"' in ask.text
        assert table_counts(database)[0] == 0
        second = browser.post(
            "/appointments", data=form(csrf, date="2026-10-25", time="02:30", fold="1")
        )
        assert second.status_code == 303, second.text
        assert "Der Termin ist gebucht: 25.10.2026 02:30 MEZ – 03:30 MEZ." in (
            browser.get(second.headers["location"]).text
        )
        first = browser.post(
            "/appointments",
            data=form(csrf, date="2026-10-25", time="02:30", fold="0", duration="30"),
        )
        assert first.status_code == 303, first.text
        listing = browser.get("/appointments?team=").text
    # Half an hour after the first 02:30 the clocks read 02:00 again.
    assert "25.10.2026 02:30 MESZ – 02:00 MEZ" in listing
    assert "25.10.2026 02:30 MEZ – 03:30 MEZ" in listing
    with database.read() as session:
        starts = sorted(session.scalars(select(Appointment.start_at)))
    assert starts == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
    assert starts[1] - starts[0] == timedelta(hours=1)


def test_page_explains_refusals_in_german_and_changes_nothing(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    sign_in(browser, "beraterin")
    csrf = csrf_of(browser.get("/appointments").text)
    assert browser.post("/appointments", data=form(csrf)).status_code == 303
    cases_ = [
        (form(csrf, time="10:30"), "Zu dieser Zeit ist bereits ein Termin gebucht"),
        (form(csrf, time="14:00", pseudonym="0170 9876543"), "ohne Telefonnummer"),
        (form(csrf, time="14:00", phone="12"), "keine gültige Telefonnummer"),
        (form(csrf, time="14:00", mode="video", video_link="meet"), "https://"),
        (form(csrf, time="14:00", mode="in_person"), "Ort des Termins"),
        (form(csrf, time="14:00", duration="600"), "zwischen 5 Minuten und 8 Stunden"),
        (form(csrf, time="14:00", date="morgen"), "Datum und Uhrzeit"),
    ]
    for data, message in cases_:
        response = browser.post("/appointments", data=data)
        assert response.status_code == 422, (data, response.status_code)
        assert message in response.text, message
        assert "Es wurde nichts gebucht." in response.text
        assert "9876543" not in response.text.replace('value="0170 9876543"', "")
    assert table_counts(database)[0] == 1


def test_page_reschedule_cancel_and_marks(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(browser, "beraterin")
        csrf = csrf_of(browser.get("/appointments").text)
        browser.post("/appointments", data=form(csrf))
        browser.post("/appointments", data=form(csrf, date="2026-11-20", pseudonym="Herr Star"))
        with database.read() as session:
            ahead, past = (
                session.scalars(select(Appointment.id).order_by(Appointment.start_at.desc()))
            ).all()
        editing = browser.get(f"/appointments?edit={ahead}")
        assert "Termin verschieben" in editing.text
        assert 'value="2026-12-01"' in editing.text
        moved = browser.post(
            f"/appointments/{ahead}/reschedule",
            data={"csrf": csrf, "date": "2026-12-02", "time": "11:00", "duration": "45"},
        )
        assert moved.status_code == 303, moved.text
        assert "Der Termin ist verschoben: 02.12.2026 11:00 MEZ – 11:45 MEZ." in (
            browser.get(moved.headers["location"]).text
        )
        gap = browser.post(
            f"/appointments/{ahead}/reschedule",
            data={"csrf": csrf, "date": "2027-03-28", "time": "02:15", "duration": "45"},
        )
        assert gap.status_code == 422
        assert "Diese Uhrzeit gibt es am 28.03.2027 nicht" in gap.text
        early = browser.post(f"/appointments/{ahead}/status", data={"csrf": csrf, "status": "done"})
        assert early.status_code == 422
        assert "erst ab seinem Beginn" in early.text
        done = browser.post(f"/appointments/{past}/status", data={"csrf": csrf, "status": "done"})
        assert done.status_code == 303
        cancelled = browser.post(f"/appointments/{ahead}/cancel", data={"csrf": csrf})
        assert cancelled.status_code == 303
        page = browser.get(cancelled.headers["location"]).text
    assert "Der Termin ist abgesagt" in page
    with database.read() as session:
        rows = {a.id: a for a in session.scalars(select(Appointment))}
    assert rows[ahead].status is AppointmentStatus.CANCELLED
    assert rows[ahead].start_at == utc(2026, 12, 2, 10)
    assert rows[past].status is AppointmentStatus.DONE


def test_team_view_for_coordinators_only_and_only_their_teams(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    make_user(database, config, "kollege", Role.COUNSELLOR, "islamism")
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    make_user(database, config, "rechts", Role.COORDINATOR, "right-wing")
    colleague = counsellor_of(database, "kollege")
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(browser, "beraterin")
        csrf = csrf_of(browser.get("/appointments").text)
        browser.post("/appointments", data=form(csrf))
        with database.read() as session:
            mine = session.scalars(select(Appointment.id)).one()
        assert browser.get("/appointments?team=islamism").status_code == 403
        browser.cookies.clear()

        sign_in(browser, "koordination")
        team = browser.get("/appointments?team=islamism")
        assert team.status_code == 200
        assert "Beraterin" in team.text  # the counsellor column and the team's names
        assert "Frau Amsel" in team.text
        csrf = csrf_of(team.text)
        booked = browser.post(
            "/appointments",
            data=form(csrf, team="islamism", counsellor_id=str(colleague), pseudonym="Herr Kauz"),
        )
        assert booked.status_code == 303, booked.text
        assert "team=islamism" in booked.headers["location"]
        assert browser.post(f"/appointments/{mine}/cancel", data={"csrf": csrf}).status_code == 303
        browser.cookies.clear()

        sign_in(browser, "rechts")
        assert browser.get("/appointments?team=islamism").status_code == 403
        csrf = csrf_of(browser.get("/appointments").text)
        refused = browser.post(
            f"/appointments/{mine}/status", data={"csrf": csrf, "status": "done"}
        )
        assert refused.status_code == 404
        assert "Diesen Termin gibt es nicht" in refused.text
        outside = browser.post(
            "/appointments",
            data=form(csrf, team="islamism", counsellor_id=str(colleague), time="15:00"),
        )
        assert outside.status_code == 403
    with database.read() as session:
        rows = {a.client_pseudonym: a for a in session.scalars(select(Appointment))}
    assert rows["Herr Kauz"].counsellor_id == colleague
    assert rows["Frau Amsel"].status is AppointmentStatus.CANCELLED
    assert len(rows) == 2


def test_counsellor_cannot_touch_a_colleagues_appointment(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    make_user(database, config, "kollege", Role.COUNSELLOR, "islamism")
    theirs = book(
        database, settings, new(counsellor_of(database, "kollege"), berlin(2026, 12, 1, 10))
    )
    sign_in(browser, "beraterin")
    page = browser.get("/appointments")
    assert "Herr Fuchs" not in page.text
    csrf = csrf_of(page.text)
    for action, data in (
        ("cancel", {}),
        ("status", {"status": "done"}),
        ("reschedule", {"date": "2026-12-02", "time": "10:00", "duration": "60"}),
    ):
        response = browser.post(f"/appointments/{theirs}/{action}", data={"csrf": csrf, **data})
        assert response.status_code == 404, action  # as if it did not exist
    with database.read() as session:
        stored = session.get(Appointment, theirs)
        assert stored is not None
        assert (stored.status, stored.sequence) == (AppointmentStatus.BOOKED, 0)


def test_utc_round_trip_of_booked_times(
    database: Database, settings: Settings, people: tuple[int, int]
) -> None:
    appointment_id = book(database, settings, new(people[0], berlin(2026, 12, 1, 10)))
    with database.read() as session:
        stored = session.get(Appointment, appointment_id)
        assert stored is not None
        assert stored.start_at.tzinfo is UTC
        assert stored.start_at == utc(2026, 12, 1, 9)


@pytest.mark.parametrize(
    ("start", "explanation"),
    [
        ("2026-03-29T02:30:00+01:00", "Diese Uhrzeit gibt es am 29.03.2026 nicht"),
        ("2026-07-01T10:00:00+01:00", "01.07.2026 10:00 Uhr hat hier den UTC-Versatz +02:00"),
    ],
)
def test_api_refuses_an_offset_berlin_does_not_have_then(
    api: TestClient, database: Database, people: tuple[int, int], start: str, explanation: str
) -> None:
    """A wall time written with the wrong offset would be booked an hour off in local terms
    (2026-03-29T02:30+01:00 is 03:30 MESZ): 422 with the page's explanation, nothing changed.
    UTC and Berlin's own offsets are fine, both 02:30 of the autumn night included."""
    before = table_counts(database)
    body = payload(people[0], berlin(2026, 12, 1, 10)) | {"start": start}
    body["end"] = (datetime.fromisoformat(start) + timedelta(hours=1)).isoformat()
    refused = api.post("/api/v1/appointments", json=body)
    assert refused.status_code == 422, refused.text
    check_against_openapi(refused, "/api/v1/appointments", "post")
    assert refused.json()["message"].startswith(explanation)
    assert refused.json()["details"][0]["field"] == "start"
    assert table_counts(database) == before

    booked = api.post("/api/v1/appointments", json=payload(people[0], berlin(2026, 12, 1, 10)))
    assert booked.status_code == 201, booked.text
    path = f"/api/v1/appointments/{booked.json()['id']}/reschedule"
    moved = api.post(path, json={"start": start, "end": body["end"]})
    assert moved.status_code == 422, moved.text
    assert moved.json()["message"].startswith(explanation)
    for fine in ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-12-02T09:00:00Z"):
        end = datetime.fromisoformat(fine) + timedelta(minutes=30)
        found = api.post(path, json={"start": fine, "end": end.astimezone(BERLIN).isoformat()})
        assert found.status_code == 200, found.text
