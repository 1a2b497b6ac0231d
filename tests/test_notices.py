"""Shift notices: the evening before and an hour before a duty (DST days included), the handoff
note, a coordinator's changes gathered into one notice; the person actually serving is told;
each notice is stored once and sent once, however many planners and dispatchers run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import delete, select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import outbox
from foundation.clock import utcnow
from foundation.db import Database, make_engine
from foundation.models import (
    AbsenceKind,
    Channel,
    Counsellor,
    DispatchState,
    NoticeKind,
    Role,
    Shift,
    ShiftNotice,
    TaskStatus,
    Team,
    Tier,
    Voicemail,
)
from hotline import providers
from scheduling import absences, shifts, standins
from scheduling.demo import load_demo
from scheduling.dispatch import Round
from scheduling.notices import changes, jobs, planning
from scheduling.notices.duties import Duty, duties
from scheduling.notices.planning import PlanResult
from scheduling.notices.words import changed_sms, local_day, upcoming_text
from scheduling.rota import OnCall, Segment, local_span
from tests import fake_smtp
from tests.conftest import add_counsellor, berlin, utc
from tests.fake_twilio import FakeTwilio
from tests.helpers import https_client
from tests.test_auth import csrf_of, make_user, sign_in

ZONE = ZoneInfo("Europe/Berlin")
GENERAL = "+497112794556"
WEDNESDAY_NOON = berlin(2026, 11, 25, 12)
THURSDAY = date(2026, 11, 26)
AMIRA, JONAS, LEYLA = "+4915111110001", "+4915111110002", "+4915111110003"


@dataclass(frozen=True)
class People:
    amira: int
    jonas: int
    leyla: int


@pytest.fixture
def people(database: Database, config: HotlineConfig) -> People:
    with database.write() as session:
        ids = [
            add_counsellor(session, config, "islamism", name=name, phone=phone).id
            for name, phone in (
                ("Amira Yilmaz", AMIRA),
                ("Jonas Becker", JONAS),
                ("Leyla Demir", LEYLA),
            )
        ]
    return People(*ids)


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    with time_machine.travel(moment, tick=False):
        yield


def add_shift(
    database: Database,
    config: HotlineConfig,
    counsellor: int,
    day: date,
    *,
    tier: Tier = Tier.PRIMARY,
    days: int = 1,
    actor: str = "tests",
) -> int:
    start, end = local_span(day, time(9), days, ZONE)
    new = shifts.NewShift("islamism", counsellor, tier, start, end)
    with database.write() as session:
        return shifts.create_shift(session, config, new, actor=actor).id


def rotation(database: Database, config: HotlineConfig, ids: list[int], first: date) -> None:
    """Daily handoff at 09:00: ids[0] on the first day, ids[1] on the next, ..."""
    for offset, counsellor in enumerate(ids):
        add_shift(database, config, counsellor, first + timedelta(days=offset))


def plan_at(database: Database, settings: Settings, moment: datetime) -> PlanResult:
    with at(moment), database.write() as session:
        return planning.plan(session, settings, utcnow())


def dispatch_at(database: Database, settings: Settings, moment: datetime) -> Round:
    with at(moment):
        return jobs.dispatch_job(database, settings, providers.for_settings(database, settings))


def local(moment: datetime) -> str:
    return f"{moment.astimezone(ZONE):%d.%m. %H:%M}"


def pending(database: Database) -> set[tuple[str, int, str, str]]:
    """(kind, counsellor, channel, local due) of every pending notice."""
    with database.read() as session:
        rows = session.scalars(
            select(ShiftNotice).where(ShiftNotice.state == DispatchState.PENDING)
        ).all()
    return {(r.kind.value, r.counsellor_id, r.channel, local(r.due_at)) for r in rows}


def rows(database: Database, kind: NoticeKind | None = None) -> list[ShiftNotice]:
    with database.read() as session:
        query = select(ShiftNotice).order_by(ShiftNotice.id)
        if kind is not None:
            query = query.where(ShiftNotice.kind == kind)
        return list(session.scalars(query))


def by_due(database: Database) -> dict[str, ShiftNotice]:
    return {local(row.due_at): row for row in rows(database)}


def sent_sms(database: Database, settings: Settings) -> list[tuple[str, str]]:
    """(to, body) of the outbox (simulation mode), oldest first."""
    with database.read() as session:
        messages = outbox.recent(session, settings, limit=500)
    assert all(m.from_number == GENERAL for m in messages if m.channel == Channel.SMS)
    return [(m.to, m.body) for m in reversed(messages)]


# --- the pure core ----------------------------------------------------------------------------


def test_duties_follow_a_counsellor_across_tiers_and_name_who_takes_over() -> None:
    t = [utc(2026, 11, 26, h) for h in (8, 12, 16, 20)]
    segments = [
        Segment(t[0], t[1], OnCall(primary=(1,), backup=(2,))),
        Segment(t[1], t[2], OnCall(primary=(2,), backup=(3,))),  # 1 leaves, 2 moves up
        Segment(t[2], t[3], OnCall(primary=(), backup=())),
    ]
    found = {d.counsellor_id: d for d in duties(segments)}
    assert found[1] == Duty(1, t[0], t[1], Tier.PRIMARY, Tier.PRIMARY, 2)
    assert found[2] == Duty(2, t[0], t[2], Tier.BACKUP, Tier.PRIMARY, None)  # a gap
    assert found[3] == Duty(3, t[1], t[2], Tier.BACKUP, Tier.BACKUP, None)
    open_end = duties([Segment(t[0], t[1], OnCall((1,), ()))])
    assert open_end == [Duty(1, t[0], None, Tier.PRIMARY, Tier.PRIMARY, None)]


@pytest.mark.parametrize(
    ("now", "start", "end", "text"),
    [
        (
            berlin(2026, 11, 25, 18),
            berlin(2026, 11, 26, 9),
            berlin(2026, 11, 27, 9),
            "beginnt morgen, Do 26.11., um 09:00 Uhr und endet Fr 27.11. um 09:00 Uhr.",
        ),
        (
            berlin(2026, 11, 26, 8),
            berlin(2026, 11, 26, 9),
            berlin(2026, 11, 26, 17),
            "beginnt heute, Do 26.11., um 09:00 Uhr und endet um 17:00 Uhr.",
        ),
        (
            berlin(2026, 11, 23, 8),
            berlin(2026, 11, 26, 9),
            None,
            "beginnt am Do 26.11. um 09:00 Uhr.",
        ),
        (  # late on the evening before, in UTC already the same day as the start
            berlin(2026, 3, 28, 23, 30),
            berlin(2026, 3, 29, 9),
            berlin(2026, 3, 30, 9),
            "beginnt morgen, So 29.03., um 09:00 Uhr und endet Mo 30.03. um 09:00 Uhr.",
        ),
    ],
)
def test_the_words_say_today_tomorrow_or_the_day(
    now: datetime, start: datetime, end: datetime | None, text: str
) -> None:
    words = upcoming_text("Team Islamismus", Tier.PRIMARY, start, end, now, ZONE)
    assert words == f"Ihre Rufbereitschaft (Team Islamismus, primär) {text}"


def test_an_sms_lists_three_changes_and_counts_the_rest() -> None:
    lines = [f"Neu: Zeile {i}" for i in range(5)]
    assert changed_sms(lines[:1]) == "konex: Ihr Dienstplan wurde geändert. Neu: Zeile 0."
    assert changed_sms(lines).endswith("Neu: Zeile 2; 2 weitere Änderungen im Dienstplan.")
    assert "1 weitere Änderung im" in changed_sms(lines[:4])


# --- planning ---------------------------------------------------------------------------------


def test_a_daily_rotation_gets_the_evening_before_and_the_hour_before(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    rotation(database, config, [people.amira, people.jonas, people.amira], THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    assert pending(database) == {
        ("upcoming", people.amira, Channel.SMS, "25.11. 18:00"),
        ("upcoming", people.amira, Channel.SMS, "26.11. 08:00"),
        ("upcoming", people.jonas, Channel.SMS, "26.11. 18:00"),
        ("upcoming", people.jonas, Channel.SMS, "27.11. 08:00"),
        ("handoff", people.amira, Channel.SMS, "27.11. 08:00"),
        # Amira's Saturday is more than two days ahead: planned later
    }
    dispatch_at(database, settings, berlin(2026, 11, 25, 18))
    dispatch_at(database, settings, berlin(2026, 11, 26, 8))
    assert sent_sms(database, settings) == [
        (
            AMIRA,
            "konex: Ihre Rufbereitschaft (Team Islamismus, primär) beginnt morgen, Do 26.11., "
            "um 09:00 Uhr und endet Fr 27.11. um 09:00 Uhr.",
        ),
        (
            AMIRA,
            "konex: Ihre Rufbereitschaft (Team Islamismus, primär) beginnt heute, Do 26.11., "
            "um 09:00 Uhr und endet Fr 27.11. um 09:00 Uhr.",
        ),
    ]
    plan_at(database, settings, berlin(2026, 11, 26, 12))
    assert ("upcoming", people.amira, Channel.SMS, "27.11. 18:00") in pending(database)
    assert ("handoff", people.jonas, Channel.SMS, "28.11. 08:00") in pending(database)


@pytest.mark.parametrize(
    ("day", "evening_utc", "hour_before_utc"),
    [
        (date(2026, 3, 29), utc(2026, 3, 28, 17), utc(2026, 3, 29, 6)),  # CET -> CEST
        (date(2026, 10, 25), utc(2026, 10, 24, 16), utc(2026, 10, 25, 7)),  # CEST -> CET
    ],
)
def test_notices_keep_the_local_time_across_dst(
    database: Database,
    settings: Settings,
    config: HotlineConfig,
    people: People,
    day: date,
    evening_utc: datetime,
    hour_before_utc: datetime,
) -> None:
    """A duty from 09:00 local on the DST day: told 18:00 the evening before and at 08:00
    local; the handoff of the 23- or 25-hour duty before it is at 08:00 local too."""
    rotation(database, config, [people.jonas, people.amira], day - timedelta(days=1))
    plan_at(database, settings, berlin(day.year, day.month, day.day - 2, 12))
    with database.read() as session:
        mine = session.scalars(
            select(ShiftNotice.due_at)
            .where(ShiftNotice.counsellor_id == people.amira)
            .order_by(ShiftNotice.due_at)
        ).all()
        handoff = session.scalars(
            select(ShiftNotice.due_at).where(ShiftNotice.kind == NoticeKind.HANDOFF)
        ).all()
    assert list(mine) == [evening_utc, hour_before_utc]
    assert list(handoff) == [hour_before_utc]
    dispatch_at(database, settings, hour_before_utc)
    assert (
        AMIRA,
        f"konex: Ihre Rufbereitschaft (Team Islamismus, primär) beginnt heute, "
        f"{local_day(datetime.combine(day, time(9)))}, um 09:00 Uhr und endet "
        f"{local_day(datetime.combine(day + timedelta(days=1), time(9)))} um 09:00 Uhr.",
    ) in sent_sms(database, settings)


def test_the_substitute_is_told_and_the_absent_counsellor_is_not(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    assert {cid for _, cid, _, _ in pending(database)} == {people.amira}
    start, end = local_span(THURSDAY, time(9), 1, ZONE)
    with at(WEDNESDAY_NOON), database.write() as session:
        stand_in = standins.create_stand_in(
            session,
            config,
            standins.NewStandIn("islamism", people.amira, people.leyla, start, end),
            actor="tests",
        ).id
    result = plan_at(database, settings, WEDNESDAY_NOON + timedelta(minutes=1))
    assert result.cancelled == 2
    assert pending(database) == {
        ("upcoming", people.leyla, Channel.SMS, "25.11. 18:00"),
        ("upcoming", people.leyla, Channel.SMS, "26.11. 08:00"),
    }
    dispatch_at(database, settings, berlin(2026, 11, 25, 18))
    assert [to for to, _ in sent_sms(database, settings)] == [LEYLA]

    # The stand-in is taken back: Amira's hour-before notice is pending again, Leyla's goes.
    with at(berlin(2026, 11, 25, 20)), database.write() as session:
        standins.delete_stand_in(session, stand_in, actor="tests")
    plan_at(database, settings, berlin(2026, 11, 25, 20, 1))
    assert pending(database) == {("upcoming", people.amira, Channel.SMS, "26.11. 08:00")}


def test_an_absent_counsellor_without_a_stand_in_is_not_told(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    add_shift(database, config, people.jonas, THURSDAY)
    start, end = local_span(THURSDAY, time(0), 2, ZONE)
    with database.write() as session:
        absences.create_absence(
            session,
            absences.NewAbsence(people.jonas, AbsenceKind.SICK, start, end),
            actor="tests",
        )
    plan_at(database, settings, WEDNESDAY_NOON)
    assert pending(database) == set()


def test_a_moved_shift_cancels_its_notices_and_gets_new_ones(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    shift = add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    start, end = local_span(THURSDAY, time(12), 1, ZONE)
    moved = shifts.NewShift("islamism", people.amira, Tier.PRIMARY, start, end)
    with at(WEDNESDAY_NOON), database.write() as session:
        shifts.update_shift(session, config, shift, moved, actor="tests")
    result = plan_at(database, settings, WEDNESDAY_NOON + timedelta(minutes=1))
    assert (result.cancelled, result.inserted) == (2, 2)
    assert pending(database) == {
        ("upcoming", people.amira, Channel.SMS, "25.11. 18:00"),  # same moment, new duty
        ("upcoming", people.amira, Channel.SMS, "26.11. 11:00"),
    }
    dispatch_at(database, settings, berlin(2026, 11, 26, 8))  # the old moment: nothing
    assert sent_sms(database, settings) == []
    dispatch_at(database, settings, berlin(2026, 11, 26, 11))
    assert [body.split("beginnt ")[1] for _, body in sent_sms(database, settings)] == [
        "heute, Do 26.11., um 12:00 Uhr und endet Fr 27.11. um 12:00 Uhr."
    ]


def test_a_shift_deleted_after_planning_is_never_sent(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    """The dispatcher re-checks the duty: a deletion between two planning runs counts."""
    shift = add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    with database.write() as session:
        shifts.delete_shift(session, shift, actor="tests")
    done = dispatch_at(database, settings, berlin(2026, 11, 25, 18))
    assert (done.cancelled, done.sent) == (1, 0)
    assert sent_sms(database, settings) == []


def test_a_handoff_names_who_takes_over_and_counts_open_voicemails(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    rotation(database, config, [people.amira, people.jonas], THURSDAY)
    with database.write() as session:
        team = session.scalars(select(Team).where(Team.slug == "islamism")).one()
        for i, status in enumerate((TaskStatus.NEW, TaskStatus.NEW, TaskStatus.DONE)):
            session.add(
                Voicemail(line="islamism", team_id=team.id, recording_sid=f"RE{i}", status=status)
            )
    plan_at(database, settings, berlin(2026, 11, 26, 12))
    dispatch_at(database, settings, berlin(2026, 11, 27, 8))
    assert (
        AMIRA,
        "konex: Ihre Rufbereitschaft (Team Islamismus, primär) endet heute, Fr 27.11., um "
        "09:00 Uhr. Danach übernimmt Jonas. Offene Sprachnachrichten im Team: 2.",
    ) in sent_sms(database, settings)


def test_planning_twice_and_in_two_threads_stores_each_notice_once(
    database: Database, settings: Settings, config: HotlineConfig, people: People, db_url: str
) -> None:
    rotation(database, config, [people.amira, people.jonas, people.leyla], THURSDAY)
    first = plan_at(database, settings, WEDNESDAY_NOON)
    assert first.inserted == 5
    assert plan_at(database, settings, WEDNESDAY_NOON).inserted == 0
    with database.write() as session:  # start again from nothing, with two planners at once
        session.execute(delete(ShiftNotice))
    others = [Database(make_engine(db_url)) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def planner(db: Database) -> None:
        try:
            for _ in range(5):
                barrier.wait()
                with db.write() as session:
                    planning.plan(session, settings, WEDNESDAY_NOON)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=planner, args=(db,)) for db in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in others:
        db.dispose()
    assert errors == []
    keys = [row.dedupe_key for row in rows(database)]
    assert len(keys) == len(set(keys)) == 5


def test_two_dispatchers_send_each_notice_exactly_once(
    database: Database,
    config: HotlineConfig,
    db_url: str,
    live: tuple[Settings, FakeTwilio],
) -> None:
    settings, fake = live
    with database.write() as session:
        crowd = [
            add_counsellor(session, config, "islamism", name=f"Person {i}").id for i in range(24)
        ]
    for counsellor in crowd:  # everyone on call at once: 24 notices due at the same moment
        add_shift(database, config, counsellor, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    dispatchers = [Database(make_engine(db_url)) for _ in range(2)]
    barrier = threading.Barrier(2)
    rounds: list[Round] = []

    def dispatcher(db: Database) -> None:
        barrier.wait()
        for _ in range(3):
            rounds.append(jobs.dispatch_job(db, settings, providers.for_settings(db, settings)))

    with at(berlin(2026, 11, 26, 8)):
        threads = [threading.Thread(target=dispatcher, args=(db,)) for db in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for db in dispatchers:
        db.dispose()
    assert sum(r.sent for r in rounds) == 24
    assert sorted(m["To"] for m in fake.messages) == sorted({m["To"] for m in fake.messages})
    assert len(fake.messages) == 24
    assert {m["From"] for m in fake.messages} == {GENERAL}
    assert {row.state for row in rows(database) if row.due_at == berlin(2026, 11, 26, 8)} == {
        DispatchState.SENT
    }


# --- sending ----------------------------------------------------------------------------------


def test_a_notice_too_late_is_missed_not_sent(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    done = dispatch_at(database, settings, berlin(2026, 11, 25, 18, 31))  # grace: 30 minutes
    assert (done.missed, done.sent) == (1, 0)
    assert sent_sms(database, settings) == []


def test_maybe_sent_is_uncertain_and_never_sent_again(
    database: Database, config: HotlineConfig, people: People, live: tuple[Settings, FakeTwilio]
) -> None:
    settings, fake = live
    add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    fake.fail_next = 1  # Twilio answers 500: it may have taken the message
    assert dispatch_at(database, settings, berlin(2026, 11, 25, 18)).uncertain == 1
    for minute in (1, 5, 20):
        dispatch_at(database, settings, berlin(2026, 11, 25, 18, minute))
    assert fake.messages == []
    assert by_due(database)["25.11. 18:00"].state is DispatchState.UNCERTAIN


def test_not_sent_is_tried_again(
    database: Database, config: HotlineConfig, people: People, live: tuple[Settings, FakeTwilio]
) -> None:
    settings, fake = live
    add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    unreachable = replace(settings, twilio_api_url="http://127.0.0.1:9")  # connection refused
    assert dispatch_at(database, unreachable, berlin(2026, 11, 25, 18)).retry == 1
    assert dispatch_at(database, settings, berlin(2026, 11, 25, 18, 1)).sent == 1
    assert [m["To"] for m in fake.messages] == [AMIRA]
    assert by_due(database)["25.11. 18:00"].attempts == 2


def test_email_notices_go_through_smtp(
    database: Database, config: HotlineConfig, people: People, live: tuple[Settings, FakeTwilio]
) -> None:
    settings, fake = live
    with database.write() as session:
        amira = session.get(Counsellor, people.amira)
        assert amira is not None
        amira.email, amira.notify_email = "amira@example.org", True
    add_shift(database, config, people.amira, THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    with fake_smtp.running() as server:
        mailing = replace(
            settings, smtp_url=Secret(server.url()), mail_from="hotline@konex.example"
        )
        assert dispatch_at(database, mailing, berlin(2026, 11, 25, 18)).sent == 2
    [email] = server.messages
    assert email["To"] == "amira@example.org"
    assert email["Subject"] == "Rufbereitschaft ab Do 26.11. 09:00"
    assert email.get_content().startswith(
        "Ihre Rufbereitschaft (Team Islamismus, primär) beginnt morgen, Do 26.11., um 09:00 Uhr"
    )
    assert [m["To"] for m in fake.messages] == [AMIRA]
    by_channel = {row.channel: row for row in rows(database) if row.state is DispatchState.SENT}
    assert by_channel[Channel.EMAIL].provider_sid == email["Message-ID"]


def test_logs_hold_no_numbers_addresses_or_words(
    database: Database,
    config: HotlineConfig,
    people: People,
    live: tuple[Settings, FakeTwilio],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, fake = live
    caplog.set_level(logging.DEBUG, logger="hotline")
    caplog.set_level(logging.DEBUG, logger="scheduling")
    rotation(database, config, [people.amira, people.jonas], THURSDAY)
    plan_at(database, settings, WEDNESDAY_NOON)
    fake.fail_next = 1
    dispatch_at(database, settings, berlin(2026, 11, 25, 18))
    dispatch_at(database, settings, berlin(2026, 11, 26, 8))
    assert fake.messages
    logged = caplog.text
    assert "shift notice" in logged
    for secret in (AMIRA, JONAS, AMIRA[3:], "Rufbereitschaft", "Islamismus", "Amira", "Jonas"):
        assert secret not in logged


# --- change notices ---------------------------------------------------------------------------


def test_a_coordinators_changes_are_gathered_into_one_notice(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    changes.watch(database, settings)
    chef = f"user:{make_user(database, config, 'chefin', Role.COORDINATOR, 'islamism')} chefin"
    with at(berlin(2026, 11, 20, 10)):
        first = add_shift(database, config, people.amira, THURSDAY, actor=chef)
        add_shift(database, config, people.amira, date(2026, 11, 28), actor=chef)
    with at(berlin(2026, 11, 20, 10, 1)), database.write() as session:
        shifts.delete_shift(session, first, actor=chef)  # never mind: no news about it
    with at(berlin(2026, 11, 20, 10, 2)):
        add_shift(database, config, people.amira, date(2026, 11, 30), tier=Tier.BACKUP, actor=chef)
    [notice] = rows(database, NoticeKind.CHANGED)
    assert (notice.counsellor_id, notice.channel) == (people.amira, Channel.SMS)
    assert notice.due_at == berlin(2026, 11, 20, 10, 4)  # two minutes after the last change
    assert [entry["start"][:10] for entry in notice.payload["changes"]] == [
        "2026-11-28",
        "2026-11-30",
    ]
    assert dispatch_at(database, settings, berlin(2026, 11, 20, 10, 3)).sent == 0
    assert dispatch_at(database, settings, berlin(2026, 11, 20, 10, 4)).sent == 1
    assert sent_sms(database, settings) == [
        (
            AMIRA,
            "konex: Ihr Dienstplan wurde geändert. "
            "Neu: Team Islamismus, primär, Sa 28.11. 09:00 – So 29.11. 09:00; "
            "Neu: Team Islamismus, Hintergrund, Mo 30.11. 09:00 – Di 01.12. 09:00.",
        )
    ]
    with at(berlin(2026, 11, 20, 11)):  # after it was sent, a new change starts a new notice
        add_shift(database, config, people.amira, date(2026, 12, 2), actor=chef)
    assert [n.state for n in rows(database, NoticeKind.CHANGED)] == [
        DispatchState.SENT,
        DispatchState.PENDING,
    ]


def test_moving_a_shift_to_someone_else_tells_both(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    """A swap reassigns the shift in place; a moved shift shows as removed and new."""
    shift = add_shift(database, config, people.amira, THURSDAY)
    changes.watch(database, settings)
    with at(WEDNESDAY_NOON), database.write() as session:
        row = session.get(Shift, shift)
        jonas = session.get(Counsellor, people.jonas)
        assert row is not None
        assert jonas is not None
        row.counsellor = jonas
    told = {n.counsellor_id: n.payload["changes"] for n in rows(database, NoticeKind.CHANGED)}
    assert [c["change"] for c in told[people.amira]] == ["removed"]
    assert [c["change"] for c in told[people.jonas]] == ["new"]
    # Re-saving a shift unchanged (the rota page's update) tells nobody anything new.
    start, end = local_span(THURSDAY, time(9), 1, ZONE)
    same = shifts.NewShift("islamism", people.jonas, Tier.PRIMARY, start, end)
    with at(WEDNESDAY_NOON), database.write() as session:
        shifts.update_shift(session, config, shift, same, actor="tests")
    told = {n.counsellor_id: n.payload["changes"] for n in rows(database, NoticeKind.CHANGED)}
    assert [c["change"] for c in told[people.jonas]] == ["new"]


def test_own_changes_and_past_shifts_tell_nobody(
    database: Database, settings: Settings, config: HotlineConfig
) -> None:
    changes.watch(database, settings)
    user = make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    with database.read() as session:
        amira = session.scalars(select(Counsellor).where(Counsellor.name == "Amira")).one().id
    with at(WEDNESDAY_NOON):
        add_shift(database, config, amira, THURSDAY, actor=f"user:{user} amira")
        add_shift(database, config, amira, date(2026, 11, 20), actor="tests")  # over already
    assert rows(database, NoticeKind.CHANGED) == []


def test_a_change_rolled_back_in_a_savepoint_tells_nobody(
    database: Database, settings: Settings, config: HotlineConfig, people: People
) -> None:
    changes.watch(database, settings)
    start, end = local_span(THURSDAY, time(9), 1, ZONE)
    with at(WEDNESDAY_NOON), database.write() as session:
        savepoint = session.begin_nested()
        new = shifts.NewShift("islamism", people.amira, Tier.PRIMARY, start, end)
        shifts.create_shift(session, config, new, actor="tests")
        savepoint.rollback()  # refused after all
        new = shifts.NewShift("islamism", people.jonas, Tier.PRIMARY, start, end)
        shifts.create_shift(session, config, new, actor="tests")
    assert [n.counsellor_id for n in rows(database, NoticeKind.CHANGED)] == [people.jonas]


def test_loading_the_demo_tells_nobody(
    database: Database, settings: Settings, config: HotlineConfig
) -> None:
    changes.watch(database, settings)
    with at(WEDNESDAY_NOON), database.write() as session:
        assert load_demo(session, config, THURSDAY)
    assert rows(database, NoticeKind.CHANGED) == []
    assert rows(database) == []


def test_a_shift_created_through_the_api_queues_a_change_notice(
    api: TestClient, database: Database, people: People
) -> None:
    start, end = local_span(THURSDAY, time(9), 1, ZONE)
    with at(WEDNESDAY_NOON):
        response = api.post(
            "/api/v1/shifts",
            json={
                "team": "islamism",
                "counsellor_id": people.jonas,
                "tier": "backup",
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
        )
    assert response.status_code == 201, response.text
    [notice] = rows(database, NoticeKind.CHANGED)
    assert notice.counsellor_id == people.jonas
    assert notice.payload["changes"][0]["tier"] == "backup"


def test_swap_notices_are_sent_as_written(
    database: Database, settings: Settings, people: People
) -> None:
    with database.write() as session:
        session.add(
            ShiftNotice(
                dedupe_key="swap:1:accepted:1:sms",
                counsellor_id=people.leyla,
                kind=NoticeKind.SWAP,
                channel=Channel.SMS,
                due_at=WEDNESDAY_NOON,
                payload={"text": "konex: Jonas übernimmt Ihren Dienst Do 26.11. 09:00."},
            )
        )
    assert dispatch_at(database, settings, WEDNESDAY_NOON).sent == 1
    assert sent_sms(database, settings) == [
        (LEYLA, "konex: Jonas übernimmt Ihren Dienst Do 26.11. 09:00.")
    ]


# --- the counsellors page ---------------------------------------------------------------------


@pytest.fixture
def admin(settings: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    make_user(database, config, "chef", Role.ADMIN)
    with https_client(settings, database) as client:
        yield sign_in(client, "chef")


def test_the_counsellor_form_sets_the_notice_channels(
    admin: TestClient, database: Database
) -> None:
    page = admin.get("/counsellors").text
    assert 'name="notify_sms" value="1" checked' in page  # SMS is the default
    form = {"csrf": csrf_of(page), "name": "Lena Brandt", "phone": "0151 23456789"}
    refused = admin.post("/counsellors", data=form | {"notify_email": "1", "teams": ["islamism"]})
    assert refused.status_code == 422
    assert "Für Dienst-Hinweise per E-Mail geben Sie bitte eine E-Mail-Adresse an." in refused.text
    with database.read() as session:
        assert session.scalars(select(Counsellor)).all() == []
    created = admin.post(
        "/counsellors",
        data=form | {"email": "lena@example.org", "notify_email": "1", "teams": ["islamism"]},
    )
    assert created.status_code == 303
    with database.read() as session:
        lena = session.scalars(select(Counsellor)).one()
    assert (lena.notify_sms, lena.notify_email) == (False, True)
    edit = admin.get(f"/counsellors/{lena.id}").text
    assert 'name="notify_email" value="1" checked' in edit
    assert 'name="notify_sms" value="1" checked' not in edit


def test_the_dashboard_shows_an_email_in_the_outbox(
    admin: TestClient, database: Database, settings: Settings, people: People
) -> None:
    with database.write() as session:
        session.add(
            ShiftNotice(
                dedupe_key="swap:2:decided:1:email",
                counsellor_id=people.amira,
                kind=NoticeKind.SWAP,
                channel=Channel.EMAIL,
                due_at=utcnow(),
                payload={"text": "Ihr Tausch wurde genehmigt.", "subject": "Diensttausch"},
            )
        )
        amira = session.get(Counsellor, people.amira)
        assert amira is not None
        amira.email, amira.notify_email = "amira@example.org", True
    assert (
        jobs.dispatch_job(database, settings, providers.for_settings(database, settings)).sent == 1
    )
    page = admin.get("/").text
    assert "amira@example.org" in page
    assert "Diensttausch" in page


def test_the_planner_reads_whole_duties_from_the_stored_rota(
    database: Database, config: HotlineConfig, people: People
) -> None:
    """The planner's input: shifts.timeline over the stored rota (guards the EXTENT window)."""
    rotation(database, config, [people.amira, people.jonas], THURSDAY)
    with database.read() as session:
        found = planning.team_duties(session, config, "islamism", WEDNESDAY_NOON)
    starts = [(d.counsellor_id, local(d.start), d.end and local(d.end)) for d in found]
    assert starts == [
        (people.amira, "26.11. 09:00", "27.11. 09:00"),
        (people.jonas, "27.11. 09:00", "28.11. 09:00"),
    ]
    assert [d.successor for d in found] == [people.jonas, None]
