"""Calendar feeds show the duty as it will be worked: a stand-in's feed has the part she covers,
the absent counsellor's feed has it cancelled, the team feed names who works each part and
shows a gap where nobody does; ETags and SEQUENCEs move with every stand-in and absence, UIDs
stay. Parsed with icalendar, vobject, recurring-ical-events and libical, and subscribed for
real (vdirsyncer over HTTP, then khal), across both DST changes of 2026.

The story: Anna Berger holds the primary duty of team Islamismus on both DST days and on
1 December; Clara Wolf the backup on the spring day. Ben Kraus stands in for Anna from 21:00
on 28 March to the handoff on 29 March (across the spring change) and from noon on 24 October
to the handoff on 25 October (across the autumn change, while Anna is on holiday). Anna falls
sick at 14:00 on 1 December, and nobody stands in: a gap. Every change is written at a
time-machine moment, so the SEQUENCEs that count seconds are certain to grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events
import time_machine
import vobject
from sqlalchemy import select, text

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database, make_engine, upgrade
from foundation.models import AbsenceKind, Shift, Team, Tier
from scheduling import absences, counsellors, shifts, standins
from scheduling.feeds import queries
from scheduling.feeds.events import Owner, window
from tests.conftest import add_counsellor, berlin, utc
from tests.helpers import free_port, serving
from tests.test_feeds import BERLIN, _tool, issue, libical, run, unfold, with_feeds
from web.app import create_app

NOW = utc(2026, 11, 25, 12)  # every feed is read as of this day (its window reaches March)
HOST = "127.0.0.1"
PRIMARY = "Rufbereitschaft Islamismus (primär)"
STAND_IN = "Rufbereitschaft Islamismus (primär, Vertretung)"


@dataclass
class Story:
    anna: int
    ben: int
    clara: int
    team: int
    spring: int  # Anna's shift ids
    autumn: int
    december: int
    clara_spring: int


def at(moment: datetime) -> time_machine.travel:
    """Write as of `moment`: created_at, updated_at and cover_changed_at follow it."""
    return time_machine.travel(moment, tick=False)


def build_story(database: Database, config: HotlineConfig) -> Story:
    with at(utc(2026, 1, 5, 9)), database.write() as session:
        anna = add_counsellor(session, config, "islamism", name="Anna Berger")
        ben = add_counsellor(session, config, "islamism", name="Ben Kraus")
        clara = add_counsellor(session, config, "islamism", name="Clara Wolf")
        made = [
            shifts.create_shift(
                session, config, shifts.NewShift("islamism", who.id, tier, start, end), actor="t"
            ).id
            for who, tier, start, end in [
                (anna, Tier.PRIMARY, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),
                (anna, Tier.PRIMARY, berlin(2026, 10, 24, 9), berlin(2026, 10, 25, 9)),
                (anna, Tier.PRIMARY, berlin(2026, 12, 1, 8), berlin(2026, 12, 2, 8)),
                (clara, Tier.BACKUP, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),
            ]
        ]
        team = session.scalars(select(Team.id).where(Team.slug == "islamism")).one()
        return Story(anna.id, ben.id, clara.id, team, *made)


def stand_in(
    database: Database,
    config: HotlineConfig,
    absent: int,
    substitute: int,
    start: datetime,
    end: datetime,
) -> int:
    with database.write() as session:
        return standins.create_stand_in(
            session,
            config,
            standins.NewStandIn("islamism", absent, substitute, start, end),
            actor="t",
        ).id


def away(database: Database, who: int, start: datetime, end: datetime) -> int:
    with database.write() as session:
        return absences.create_absence(
            session, absences.NewAbsence(who, AbsenceKind.HOLIDAY, start, end), actor="t"
        ).id


def enter_the_rota_changes(database: Database, config: HotlineConfig, story: Story) -> None:
    with at(utc(2026, 3, 20, 9)):
        stand_in(
            database, config, story.anna, story.ben, berlin(2026, 3, 28, 21), berlin(2026, 3, 29, 9)
        )
    with at(utc(2026, 10, 1, 9)):
        away(database, story.anna, berlin(2026, 10, 24, 12), berlin(2026, 10, 27))
    with at(utc(2026, 10, 2, 9)):
        stand_in(
            database,
            config,
            story.anna,
            story.ben,
            berlin(2026, 10, 24, 12),
            berlin(2026, 10, 25, 9),
        )
    with at(utc(2026, 11, 20, 9)), database.write() as session:
        absences.create_absence(
            session,
            absences.NewAbsence(
                story.anna, AbsenceKind.SICK, berlin(2026, 12, 1, 14), berlin(2026, 12, 4)
            ),
            actor="t",
        )


@pytest.fixture
def story(database: Database, config: HotlineConfig) -> Story:
    made = build_story(database, config)
    enter_the_rota_changes(database, config, made)
    return made


@pytest.fixture
def wide(config: HotlineConfig) -> HotlineConfig:
    """A window reaching both DST days of 2026 from NOW, with reminders before own duties."""
    return with_feeds(config, past_days=366, alarm_minutes=15)


def render(database: Database, config: HotlineConfig, owner: Owner, now: datetime = NOW) -> bytes:
    with database.read() as session:
        span = window(now, BERLIN, config.feeds)
        return queries.build(session, Settings(config=config), owner, span)


def etag(database: Database, config: HotlineConfig, owner: Owner, now: datetime = NOW) -> str:
    with database.read() as session:
        span = window(now, BERLIN, config.feeds)
        return queries.fingerprint(session, Settings(config=config), owner, span).etag


@dataclass(frozen=True)
class Seen:
    """One VEVENT as icalendar reads it: instants in UTC."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    status: str
    sequence: int
    alarm: bool


def events(body: bytes) -> dict[str, Seen]:
    found = {}
    for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        seen = Seen(
            uid=str(event["UID"]).removesuffix(f"@{HOST}"),
            summary=str(event["SUMMARY"]),
            start=event.start.astimezone(UTC),
            end=event.end.astimezone(UTC),
            status=str(event["STATUS"]),
            sequence=int(event["SEQUENCE"]),
            alarm=bool(event.walk("VALARM")),
        )
        found[seen.uid] = seen
    return found


def spans(found: dict[str, Seen], **where: str) -> list[tuple[datetime, datetime]]:
    return sorted(
        (e.start, e.end)
        for e in found.values()
        if all(getattr(e, key) == value for key, value in where.items())
    )


# --- the stand-in's feed ------------------------------------------------------------------------


def test_the_stand_in_sees_the_part_she_covers_across_both_dst_changes(
    database: Database, wide: HotlineConfig, story: Story
) -> None:
    body = render(database, wide, Owner(story.ben))
    found = events(body)
    assert spans(found, summary=STAND_IN, status="CONFIRMED") == [
        # 21:00 CET to 09:00 CEST: 11 real hours across the spring change.
        (berlin(2026, 3, 28, 21).astimezone(UTC), berlin(2026, 3, 29, 9).astimezone(UTC)),
        # Noon CEST to 09:00 CET: 22 real hours across the autumn change.
        (berlin(2026, 10, 24, 12).astimezone(UTC), berlin(2026, 10, 25, 9).astimezone(UTC)),
    ]
    spring, autumn = sorted(found.values(), key=lambda e: e.start)
    assert spring.end - spring.start == timedelta(hours=11)
    assert autumn.end - autumn.start == timedelta(hours=22)
    assert spring.uid == f"shift-{story.spring}-20260328T200000Z"  # a later part of the shift
    assert autumn.uid == f"shift-{story.autumn}-20261024T100000Z"
    assert all(e.alarm for e in found.values())  # she works them: her reminder too
    text = unfold(body.decode())
    assert "Anna" not in text  # whom she replaces is not named by default
    assert "DTSTART;TZID=Europe/Berlin:20260328T210000" in text
    assert "DTEND;TZID=Europe/Berlin:20260329T090000" in text

    named = events(render(database, with_feeds(wide, show_replaced=True), Owner(story.ben)))
    assert {e.summary for e in named.values()} == {
        "Rufbereitschaft Islamismus (primär, Vertretung für Anna Berger)"
    }
    assert set(named) == set(found)  # the setting changes words, not UIDs


def test_every_parser_reads_the_stand_ins_duty_at_the_same_instants(
    database: Database, wide: HotlineConfig, story: Story
) -> None:
    libical_read = False
    for owner in (Owner(story.ben), Owner(story.anna), Owner(team_id=story.team)):
        body = render(database, wide, owner)
        parsed = vobject.readOne(body.decode())
        parsed.validate()
        expected = {(e.start, e.end) for e in events(body).values()}
        assert {
            (e.dtstart.value.astimezone(UTC), e.dtend.value.astimezone(UTC))
            for e in parsed.vevent_list
        } == expected
        lines = libical(body)
        if lines is not None:
            libical_read = True
            assert not [line for line in lines if line.startswith("ERROR")], lines
            seen = {tuple(int(x) for x in line.split()[1:]) for line in lines}
            assert seen == {(int(s.timestamp()), int(e.timestamp())) for s, e in expected}
    calendar = icalendar.Calendar.from_ical(render(database, wide, Owner(story.ben)))
    spring = recurring_ical_events.of(calendar).at((2026, 3, 29))
    assert [(e.start, e.end) for e in spring] == [(berlin(2026, 3, 28, 21), berlin(2026, 3, 29, 9))]
    autumn = recurring_ical_events.of(calendar).at((2026, 10, 25))
    assert [e.end.astimezone(UTC) for e in autumn] == [utc(2026, 10, 25, 8)]
    if not libical_read:
        pytest.skip("libical's GObject bindings are not installed (gir1.2-ical-3.0)")


# --- the absent counsellor's feed ---------------------------------------------------------------


def test_the_absent_counsellors_covered_part_is_cancelled_with_a_stable_uid(
    database: Database, wide: HotlineConfig, story: Story
) -> None:
    keep = with_feeds(wide, cancelled_keep_days=366)  # March's change is months old by NOW
    found = events(render(database, keep, Owner(story.anna)))
    own = found[f"shift-{story.spring}"]  # the first part keeps the shift's UID
    assert (own.start, own.end, own.status) == (
        berlin(2026, 3, 28, 9).astimezone(UTC),
        berlin(2026, 3, 28, 21).astimezone(UTC),
        "CONFIRMED",
    )
    assert own.summary == PRIMARY
    assert own.alarm
    covered = found[f"shift-{story.spring}-20260328T200000Z"]
    assert (covered.start, covered.end, covered.status) == (
        berlin(2026, 3, 28, 21).astimezone(UTC),
        berlin(2026, 3, 29, 9).astimezone(UTC),
        "CANCELLED",
    )
    assert covered.summary == PRIMARY  # the duty it was, so her calendar drops that event
    assert not covered.alarm
    # Autumn: on holiday from noon, Ben works the rest (so it is cancelled for her).
    assert spans(found, status="CANCELLED") == [
        (berlin(2026, 3, 28, 21).astimezone(UTC), berlin(2026, 3, 29, 9).astimezone(UTC)),
        (berlin(2026, 10, 24, 12).astimezone(UTC), berlin(2026, 10, 25, 9).astimezone(UTC)),
        # Sick from 14:00 on 1 December, nobody stands in: not her duty either.
        (berlin(2026, 12, 1, 14).astimezone(UTC), berlin(2026, 12, 2, 8).astimezone(UTC)),
    ]
    assert spans(found, status="CONFIRMED") == [
        (berlin(2026, 3, 28, 9).astimezone(UTC), berlin(2026, 3, 28, 21).astimezone(UTC)),
        (berlin(2026, 10, 24, 9).astimezone(UTC), berlin(2026, 10, 24, 12).astimezone(UTC)),
        (berlin(2026, 12, 1, 8).astimezone(UTC), berlin(2026, 12, 1, 14).astimezone(UTC)),
    ]
    assert "Ben" not in render(database, keep, Owner(story.anna)).decode()


def test_cancelled_parts_stay_a_while_then_go(
    database: Database, wide: HotlineConfig, story: Story
) -> None:
    """Like cancelled appointments: `cancelled_keep_days` after the change that cancelled
    them (the sick note of 20 November), then they leave the feed; her own parts stay."""
    owner = Owner(story.anna)
    soon = events(render(database, wide, owner, utc(2026, 11, 30, 12)))
    assert f"shift-{story.december}-20261201T130000Z" in soon
    later = events(render(database, wide, owner, utc(2026, 12, 5, 12)))
    assert f"shift-{story.december}-20261201T130000Z" not in later
    assert later[f"shift-{story.december}"].status == "CONFIRMED"
    # The spring and autumn changes are months old: those cancelled parts went long ago.
    assert [e.status for e in soon.values()].count("CANCELLED") == 1


# --- the team feed ------------------------------------------------------------------------------


def test_the_team_feed_names_who_works_each_part_and_shows_the_gap(
    database: Database, wide: HotlineConfig, story: Story
) -> None:
    found = events(render(database, wide, Owner(team_id=story.team)))
    by_summary = {}
    for e in found.values():
        by_summary.setdefault(e.summary, []).append((e.start, e.end))
    assert by_summary == {
        f"{PRIMARY}: Anna Berger": [
            (berlin(2026, 3, 28, 9).astimezone(UTC), berlin(2026, 3, 28, 21).astimezone(UTC)),
            (berlin(2026, 10, 24, 9).astimezone(UTC), berlin(2026, 10, 24, 12).astimezone(UTC)),
            (berlin(2026, 12, 1, 8).astimezone(UTC), berlin(2026, 12, 1, 14).astimezone(UTC)),
        ],
        f"{STAND_IN}: Ben Kraus": [
            (berlin(2026, 3, 28, 21).astimezone(UTC), berlin(2026, 3, 29, 9).astimezone(UTC)),
            (berlin(2026, 10, 24, 12).astimezone(UTC), berlin(2026, 10, 25, 9).astimezone(UTC)),
        ],
        "Rufbereitschaft Islamismus (Hintergrund): Clara Wolf": [
            (berlin(2026, 3, 28, 9).astimezone(UTC), berlin(2026, 3, 29, 9).astimezone(UTC)),
        ],
        f"{PRIMARY}: Lücke": [
            (berlin(2026, 12, 1, 14).astimezone(UTC), berlin(2026, 12, 2, 8).astimezone(UTC)),
        ],
    }
    assert {e.status for e in found.values()} == {"CONFIRMED"}
    assert not any(e.alarm for e in found.values())
    named = events(
        render(database, with_feeds(wide, show_replaced=True), Owner(team_id=story.team))
    )
    assert "Rufbereitschaft Islamismus (primär, Vertretung für Anna Berger): Ben Kraus" in {
        e.summary for e in named.values()
    }


def test_the_team_feed_agrees_with_the_router_at_every_boundary(
    database: Database, config: HotlineConfig, wide: HotlineConfig, story: Story
) -> None:
    """Who the team feed says works a duty is who a call would ring (`shifts.on_call`)."""
    found = events(render(database, wide, Owner(team_id=story.team)))
    instants = sorted({t for e in found.values() for t in (e.start, e.end - timedelta(minutes=1))})
    with database.read() as session:
        for instant in instants:
            named = {
                e.summary.rsplit(": ", 1)[1]
                for e in found.values()
                if e.start <= instant < e.end and not e.summary.endswith(": Lücke")
            }
            now = shifts.on_call(session, config, "islamism", instant, next_change=False)
            assert named == {c.name for c in now.primary + now.backup}, instant
            gap = any(e.start <= instant < e.end and "Lücke" in e.summary for e in found.values())
            assert gap == (not now.primary), instant


# --- ETag, SEQUENCE and UIDs --------------------------------------------------------------------


def test_etag_and_sequence_move_with_stand_ins_and_absences_and_uids_stay(
    database: Database, config: HotlineConfig, wide: HotlineConfig
) -> None:
    wide = with_feeds(wide, cancelled_keep_days=366)  # the changes are written in March
    story = build_story(database, config)
    anna, ben, team = Owner(story.anna), Owner(story.ben), Owner(team_id=story.team)
    first = {
        o: (etag(database, wide, o), events(render(database, wide, o))) for o in (anna, ben, team)
    }
    assert render(database, wide, anna) == render(database, wide, anna)  # nothing changed
    whole = f"shift-{story.spring}"
    later = f"shift-{story.spring}-20260328T200000Z"

    with at(utc(2026, 3, 20, 9)):  # Ben stands in from 21:00
        stand_in_id = stand_in(
            database, config, story.anna, story.ben, berlin(2026, 3, 28, 21), berlin(2026, 3, 29, 9)
        )
    covered = {
        o: (etag(database, wide, o), events(render(database, wide, o))) for o in (anna, ben, team)
    }
    for owner in (anna, ben, team):
        assert covered[owner][0] != first[owner][0]
    mine = covered[anna][1]
    assert mine[whole].sequence > first[anna][1][whole].sequence
    assert mine[whole].end == berlin(2026, 3, 28, 21).astimezone(UTC)
    assert mine[later].status == "CANCELLED"
    assert mine[later].sequence == mine[whole].sequence
    assert set(mine) == set(first[anna][1]) | {later}  # the other UIDs stay
    for uid in set(first[anna][1]) - {whole}:
        assert mine[uid] == first[anna][1][uid]  # untouched events: not even their SEQUENCE
    assert set(covered[ben][1]) == {later}

    with at(utc(2026, 3, 21, 9)):  # Ben falls ill that night: the stand-in serves nothing
        ben_away = away(database, story.ben, berlin(2026, 3, 28, 23), berlin(2026, 3, 29, 3))
    ill = {
        o: (etag(database, wide, o), events(render(database, wide, o))) for o in (anna, ben, team)
    }
    for owner in (anna, ben, team):
        assert ill[owner][0] != covered[owner][0]
    assert spans(ill[ben][1]) == [
        (berlin(2026, 3, 28, 21).astimezone(UTC), berlin(2026, 3, 28, 23).astimezone(UTC)),
        (berlin(2026, 3, 29, 3).astimezone(UTC), berlin(2026, 3, 29, 9).astimezone(UTC)),
    ]
    assert f"{PRIMARY}: Lücke" in {e.summary for e in ill[team][1].values()}
    assert ill[anna][1][later].sequence > covered[anna][1][later].sequence

    with at(utc(2026, 3, 22, 9)), database.write() as session:  # he is well again
        absences.delete_absence(session, ben_away, actor="t")
    well = events(render(database, wide, anna))
    assert spans(events(render(database, wide, ben))) == spans(covered[ben][1])
    assert well[whole].sequence > ill[anna][1][whole].sequence
    assert etag(database, wide, anna) != ill[anna][0]

    with at(utc(2026, 3, 23, 9)), database.write() as session:  # the stand-in is withdrawn
        standins.delete_stand_in(session, stand_in_id, actor="t")
    back = {
        o: (etag(database, wide, o), events(render(database, wide, o))) for o in (anna, ben, team)
    }
    for owner in (anna, team):  # their events' SEQUENCEs moved on: a body never seen
        assert back[owner][0] not in {first[owner][0], covered[owner][0], ill[owner][0]}
    assert back[ben][0] == first[ben][0]  # his feed is as empty as at first: the same body
    assert set(back[anna][1]) == set(first[anna][1])
    assert back[anna][1][whole].status == "CONFIRMED"
    assert back[anna][1][whole].end == berlin(2026, 3, 29, 9).astimezone(UTC)
    # Higher than while it was cut, though the rows that cut it are gone.
    assert back[anna][1][whole].sequence > well[whole].sequence
    assert back[ben][1] == {}


def test_unrelated_changes_leave_a_feed_alone(
    database: Database, config: HotlineConfig, wide: HotlineConfig, story: Story
) -> None:
    anna, team = Owner(story.anna), Owner(team_id=story.team)
    before, body = etag(database, wide, anna), render(database, wide, anna)
    team_before = etag(database, wide, team)
    with at(utc(2026, 11, 21, 9)):  # Clara's affairs, and Ben's absence on a day he covers nothing
        stand_in(database, config, story.clara, story.ben, berlin(2026, 3, 28), berlin(2026, 3, 30))
        away(database, story.ben, berlin(2026, 6, 1), berlin(2026, 6, 10))
    assert etag(database, wide, anna) == before
    assert render(database, wide, anna) == body
    assert etag(database, wide, team) != team_before


def test_a_substitutes_deactivation_gives_the_duty_back(
    database: Database, config: HotlineConfig, wide: HotlineConfig, story: Story
) -> None:
    anna = Owner(story.anna)
    before = events(render(database, wide, anna))
    tag = etag(database, wide, anna)
    with at(utc(2026, 11, 22, 9)), database.write() as session:
        counsellors.set_active(session, story.ben, False, actor="t")
    after = events(render(database, wide, anna))
    assert etag(database, wide, anna) != tag
    whole = after[f"shift-{story.spring}"]
    assert whole.end == berlin(2026, 3, 29, 9).astimezone(UTC)
    assert whole.sequence > before[f"shift-{story.spring}"].sequence


def test_stand_ins_and_absences_leave_the_shift_rows_alone(
    database: Database, config: HotlineConfig, story: Story
) -> None:
    """A swap judges a shift by its updated_at: a stand-in must not make it look edited."""
    with database.read() as session:
        rows = {s.id: s for s in session.scalars(select(Shift))}
        spring, clara = rows[story.spring], rows[story.clara_spring]
    assert spring.updated_at == spring.created_at == utc(2026, 1, 5, 9)
    assert spring.revision == 1
    assert spring.cover_revision == 1  # the spring stand-in
    assert spring.cover_changed_at == utc(2026, 3, 20, 9)
    assert rows[story.autumn].cover_revision == 2  # the holiday, then the stand-in
    assert (clara.cover_revision, clara.cover_changed_at) == (0, None)


# --- the migration ------------------------------------------------------------------------------


def test_the_migration_marks_shifts_that_stand_ins_and_absences_already_cut(db_url: str) -> None:
    upgrade(db_url, "0011")
    engine = make_engine(db_url)
    old = datetime(2026, 1, 1)  # noqa: DTZ001 - raw rows, as SQLite keeps them (UTC)

    def dec(day: int, hour: int) -> datetime:
        return datetime(2026, 12, day, hour)  # noqa: DTZ001

    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO teams (id, slug, name, created_at)"
                    " VALUES (1, 'islamism', 'Islamismus', :old)"
                ),
                {"old": old},
            )
            connection.execute(
                text(
                    "INSERT INTO counsellors (id, name, phone, active, notify_sms, notify_email,"
                    " created_at, updated_at) VALUES (:id, :name, :phone, :yes, :yes, :no,"
                    " :old, :old)"
                ),
                [
                    {"id": i, "name": f"P{i}", "phone": f"+4915100000{i}", "old": old}
                    | {"yes": True, "no": False}
                    for i in (1, 2)
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO shifts (id, team_id, counsellor_id, tier, start_at, end_at,"
                    " created_at, updated_at) VALUES (:id, 1, :holder, 'primary', :start, :end,"
                    " :old, :old)"
                ),
                [
                    {"id": i, "holder": holder, "start": dec(day, 8), "end": dec(day + 1, 8)}
                    | {"old": old}
                    for i, holder, day in ((1, 1, 10), (2, 1, 20), (3, 2, 10))
                ],
            )
            connection.execute(
                text(
                    "INSERT INTO stand_ins (id, team_id, absent_id, substitute_id, start_at,"
                    " end_at, created_at) VALUES (1, 1, 1, 2, :start, :end, :old)"
                ),
                {"start": dec(10, 12), "end": dec(10, 14), "old": old},
            )
            connection.execute(
                text(
                    "INSERT INTO absences (id, counsellor_id, kind, start_at, end_at, created_at)"
                    " VALUES (1, 1, 'sick', :start, :end, :old)"
                ),
                {"start": dec(20, 12), "end": dec(22, 0), "old": old},
            )
        upgrade(db_url)
        with engine.connect() as connection:
            marked = connection.execute(
                text("SELECT id, cover_revision, cover_changed_at FROM shifts ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    # Anna's shift with the stand-in and the one with her absence; Ben's is untouched.
    assert [(i, revision, stamp is not None) for i, revision, stamp in marked] == [
        (1, 1, True),
        (2, 1, True),
        (3, 0, False),
    ]


# --- a real subscriber --------------------------------------------------------------------------


@pytest.fixture
def served(
    settings: Settings, database: Database, wide: HotlineConfig, story: Story
) -> Iterator[str]:
    """The real app under uvicorn on a loopback port, its clock at NOW; yields its base URL."""
    port = free_port()
    app_settings = Settings(
        config=wide, database_url=settings.database_url, public_url=f"http://{HOST}:{port}"
    )
    with (
        time_machine.travel(NOW, tick=True),
        serving(create_app(app_settings, database=database), port),
    ):
        yield f"http://{HOST}:{port}"


def subscribe(url: str, home: Path) -> Path:
    """vdirsyncer syncs the feed into a folder; returns the khal configuration reading it."""
    vdirsyncer, khal = _tool("vdirsyncer"), _tool("khal")
    if vdirsyncer is None or khal is None:
        pytest.skip("vdirsyncer and khal are not installed (pip install -e '.[dev]')")
    local = home / "calendar"
    local.mkdir()
    config = home / "vdirsyncer.conf"
    config.write_text(
        f"""[general]
status_path = "{home / "status"}/"

[pair feed]
a = "feed_remote"
b = "feed_local"
collections = null
conflict_resolution = "a wins"

[storage feed_remote]
type = "http"
url = "{url}"

[storage feed_local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"
""",
        encoding="utf-8",
    )
    run([vdirsyncer, "-c", str(config), "discover", "feed"], home)
    run([vdirsyncer, "-c", str(config), "sync"], home)
    khal_config = home / "khal.conf"
    khal_config.write_text(
        f"""[calendars]
[[feed]]
path = {local}
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = Europe/Berlin
default_timezone = Europe/Berlin

[sqlite]
path = {home / "khal.db"}
""",
        encoding="utf-8",
    )
    return khal_config


def khal_list(khal_config: Path, home: Path, day: str, days: str) -> list[str]:
    khal = _tool("khal")
    assert khal is not None
    fmt = "{start} -> {end} | {cancelled}{title}"
    out = run(
        [khal, "-c", str(khal_config), "list", "--format", fmt, "--day-format", "", day, days],
        home,
    )
    return [line for line in out.splitlines() if line.strip()]


def test_vdirsyncer_and_khal_show_the_stand_ins_duty_in_her_calendar(
    served: str, database: Database, story: Story, tmp_path: Path
) -> None:
    ben_home, anna_home = tmp_path / "ben", tmp_path / "anna"
    ben_home.mkdir()
    anna_home.mkdir()
    ben = subscribe(f"{served}/feeds/{issue(database, counsellor_id=story.ben)}.ics", ben_home)
    assert len(list((ben_home / "calendar").glob("*.ics"))) == 2
    spring = khal_list(ben, ben_home, "2026-03-28", "2d")
    # (khal lists an event under each day it touches.)
    assert set(spring) == {f"2026-03-28 21:00 -> 2026-03-29 09:00 | {STAND_IN}"}, spring
    autumn = khal_list(ben, ben_home, "2026-10-24", "2d")
    assert set(autumn) == {f"2026-10-24 12:00 -> 2026-10-25 09:00 | {STAND_IN}"}, autumn

    anna = subscribe(f"{served}/feeds/{issue(database, counsellor_id=story.anna)}.ics", anna_home)
    hers = khal_list(anna, anna_home, "2026-03-28", "2d")
    assert f"2026-03-28 09:00 -> 2026-03-28 21:00 | {PRIMARY}" in hers, hers
    assert not [line for line in hers if line.endswith(PRIMARY) and "21:00 ->" in line], hers
    december = khal_list(anna, anna_home, "2026-12-01", "2d")
    assert f"2026-12-01 08:00 -> 2026-12-01 14:00 | {PRIMARY}" in december, december
    assert f"2026-12-01 14:00 -> 2026-12-02 08:00 | CANCELLED {PRIMARY}" in december, december
