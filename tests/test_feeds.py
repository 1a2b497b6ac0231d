"""Calendar feeds: RFC 5545 output checked by independent parsers (icalendar, vobject,
recurring-ical-events, libical) and a real subscriber (vdirsyncer + khal over HTTP); secret
URLs, 304s, revocation, the no-client-data rule; busy times read back from external calendars."""

from __future__ import annotations

import http.server
import ipaddress
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import time_machine
import vobject
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app.cli import main as cli
from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto
from foundation.db import Database, make_engine
from foundation.errors import Invalid
from foundation.models import (
    Appointment,
    AppointmentMode,
    AppointmentStatus,
    AuditEntry,
    BusyInterval,
    Counsellor,
    ExternalCalendar,
    FeedToken,
    Role,
    Shift,
    Team,
    TeamMembership,
    Tier,
    User,
    UserTeam,
)
from foundation.teams import sync_teams
from scheduling import shifts
from scheduling.busy import fetching, parsing, refreshing, times
from scheduling.busy.calendars import add_calendar, normalise_url
from scheduling.busy.errors import FetchError
from scheduling.feeds import ical, queries
from scheduling.feeds import tokens as feed_tokens
from scheduling.feeds.events import Owner, window
from scheduling.feeds.serving import Bodies, answer
from tests.conftest import add_counsellor, berlin, utc
from tests.fake_smtp import certificate
from tests.helpers import counsellor_of, free_port, serving
from tests.test_auth import csrf_of, make_user, sign_in
from web.app import create_app

BERLIN = ZoneInfo("Europe/Berlin")
PSEUDONYM = "Klient Falke"
CLIENT_PHONE = "+4915112345678"
LOCATION = "Hauptstraße 5, Stuttgart"
VIDEO = "https://video.example.org/raum-geheim"
LIBICAL = """
import sys, gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib
cal = ICalGLib.Component.new_from_string(sys.stdin.read())
def errors(c):
    found = []
    p = c.get_first_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    while p is not None:
        found.append(p.as_ical_string())
        p = c.get_next_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    sub = c.get_first_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    while sub is not None:
        found += errors(sub)
        sub = c.get_next_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    return found
for e in errors(cal):
    print("ERROR", e.strip())
ev = cal.get_first_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
while ev is not None:
    s, e = ev.get_dtstart(), ev.get_dtend()
    start = s.as_timet_with_zone(s.get_timezone())
    print(ev.get_uid(), start, e.as_timet_with_zone(e.get_timezone()))
    ev = cal.get_next_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
"""


def with_feeds(config: HotlineConfig, **changes: object) -> HotlineConfig:
    return config.model_copy(update={"feeds": config.feeds.model_copy(update=changes)})


# --- the RFC 5545 writer (pure) ------------------------------------------------------------------


def unfold(text: str) -> str:
    return text.replace("\r\n ", "")


@given(st.text(min_size=0, max_size=400))
def test_folding_keeps_lines_short_and_unfolds_to_the_original(value: str) -> None:
    line = "SUMMARY:" + ical.escape_text(value)
    folded = ical.fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert unfold(folded) == line
    assert "\n" not in line
    assert "\r" not in line


def test_text_escaping() -> None:
    assert ical.escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    assert ical.escape_text("plain") == "plain"


def test_wall_clock_times_and_the_repeated_autumn_hour() -> None:
    # 00:30 UTC on 2026-10-25 is 02:30 CEST (first pass): wall-clock time names it.
    assert ical.zoned("DTSTART", utc(2026, 10, 25, 0, 30), BERLIN) == (
        "DTSTART;TZID=Europe/Berlin:20261025T023000"
    )
    # 01:30 UTC is 02:30 CET, the second pass: only UTC names it.
    assert ical.zoned("DTSTART", utc(2026, 10, 25, 1, 30), BERLIN) == "DTSTART:20261025T013000Z"
    assert ical.zoned("DTEND", utc(2026, 3, 29, 1), BERLIN) == (
        "DTEND;TZID=Europe/Berlin:20260329T030000"
    )


def test_vtimezone_matches_zoneinfo_hour_by_hour() -> None:
    lines = ical.vtimezone("Europe/Berlin", date(2025, 12, 31), date(2027, 1, 2))
    text = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//test//EN",
            *lines,
            "END:VCALENDAR",
            "",
        ]
    )
    calendar = icalendar.Calendar.from_ical(text)
    zone = calendar.walk("VTIMEZONE")[0].to_tz()
    assert "DTSTART:20260329T020000" in lines
    assert "DTSTART:20261025T030000" in lines
    at = utc(2026, 1, 1)
    while at < utc(2027, 1, 1):
        assert at.astimezone(zone).utcoffset() == at.astimezone(BERLIN).utcoffset(), at
        at += timedelta(hours=1)


# --- data ----------------------------------------------------------------------------------------


@dataclass
class World:
    counsellor_id: int
    colleague_id: int
    team_id: int
    appointment_id: int
    cancelled_id: int


def build_world(database: Database, config: HotlineConfig) -> World:
    """Shifts across both DST nights of 2026, a normal day, and appointments with client data."""
    with database.write() as session:
        anna = add_counsellor(session, config, "islamism", name="Anna Berger")
        ben = add_counsellor(session, config, "islamism", name="Ben Kraus")
        for who, tier, start, end in [
            (anna, Tier.PRIMARY, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),  # 23 hours
            (anna, Tier.PRIMARY, berlin(2026, 10, 24, 9), berlin(2026, 10, 25, 9)),  # 25 hours
            (ben, Tier.BACKUP, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),
            (anna, Tier.BACKUP, berlin(2026, 12, 1, 8), berlin(2026, 12, 2, 8)),
        ]:
            shifts.create_shift(
                session, config, shifts.NewShift("islamism", who.id, tier, start, end), actor="t"
            )
        sealer = crypto.Box(None)
        booked = Appointment(
            counsellor_id=anna.id,
            client_pseudonym=PSEUDONYM,
            client_phone_enc=sealer.seal(CLIENT_PHONE),
            sms_consent=True,
            start_at=berlin(2026, 3, 29, 10),
            end_at=berlin(2026, 3, 29, 11),
            mode=AppointmentMode.IN_PERSON,
            location=LOCATION,
            video_link=VIDEO,
        )
        cancelled = Appointment(
            counsellor_id=anna.id,
            client_pseudonym=PSEUDONYM,
            start_at=berlin(2026, 12, 3, 14),
            end_at=berlin(2026, 12, 3, 15),
            mode=AppointmentMode.PHONE,
            status=AppointmentStatus.CANCELLED,
            sequence=1,
        )
        session.add_all([booked, cancelled])
        session.flush()
        team_id = session.scalars(select(Team.id).where(Team.slug == "islamism")).one()
        return World(anna.id, ben.id, team_id, booked.id, cancelled.id)


def issue(database: Database, **owner: int) -> str:
    with database.write() as session:
        _, plain = feed_tokens.issue(session, label="Handy", actor="tests", **owner)
    return plain


@pytest.fixture
def world(database: Database, config: HotlineConfig) -> World:
    return build_world(database, config)


@pytest.fixture
def wide(config: HotlineConfig) -> HotlineConfig:
    """A window reaching both DST days of 2026 from today (2026-11) or from 2026-03."""
    return with_feeds(config, past_days=366, alarm_minutes=15)


def feed_client(settings: Settings, database: Database, config: HotlineConfig) -> TestClient:
    return TestClient(
        create_app(Settings(config=config, database_url=settings.database_url), database=database)
    )


def render_now(database: Database, config: HotlineConfig, owner: Owner, now: datetime) -> bytes:
    settings = Settings(config=config)
    with database.read() as session:
        span = window(now, BERLIN, config.feeds)
        return queries.build(session, settings, owner, span)


def events_by_summary(body: bytes) -> dict[str, list[icalendar.Event]]:
    found: dict[str, list[icalendar.Event]] = {}
    for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        found.setdefault(str(event["SUMMARY"]), []).append(event)
    return found


# --- the feed, parsed independently --------------------------------------------------------------


def test_counsellor_feed_is_valid_rfc5545_for_every_parser(
    database: Database, wide: HotlineConfig, world: World
) -> None:
    body = render_now(database, wide, Owner(world.counsellor_id), utc(2026, 11, 25, 12))
    text = body.decode("utf-8")
    # Octets: CRLF only, folded, no METHOD, the calendar's own properties.
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    unfolded = unfold(text)
    assert "\r\nMETHOD" not in unfolded
    assert "\r\nNAME:Dienste und Termine – Anna Berger\r\n" in unfolded
    assert "\r\nX-WR-CALNAME:Dienste und Termine – Anna Berger\r\n" in unfolded
    assert "\r\nREFRESH-INTERVAL;VALUE=DURATION:PT60M\r\n" in unfolded
    assert "\r\nX-PUBLISHED-TTL:PT60M\r\n" in unfolded
    tzids = set(re.findall(r";TZID=([^:;]+)", unfolded))
    assert tzids == set(re.findall(r"\r\nTZID:([^\r]+)", unfolded)) == {"Europe/Berlin"}
    events_text = unfolded.split("END:VTIMEZONE", 1)[1]
    assert not re.search(r"\r\nDT(START|END):\d{8}T\d{6}\r\n", events_text), "floating"

    # icalendar: times to the minute across both DST nights, transparency, status, alarms.
    events = events_by_summary(body)
    primary = sorted(events["Rufbereitschaft Islamismus (primär)"], key=lambda e: e.start)
    assert [(e.start, e.end) for e in primary] == [
        (berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),
        (berlin(2026, 10, 24, 9), berlin(2026, 10, 25, 9)),
    ]
    assert primary[0].end - primary[0].start == timedelta(hours=24)  # wall clock
    assert (primary[0].end.astimezone(UTC) - primary[0].start.astimezone(UTC)) == timedelta(
        hours=23
    )
    assert (primary[1].end.astimezone(UTC) - primary[1].start.astimezone(UTC)) == timedelta(
        hours=25
    )
    assert all(str(e["TRANSP"]) == "TRANSPARENT" for e in primary)
    assert all(e.walk("VALARM")[0]["TRIGGER"].dt == timedelta(minutes=-15) for e in primary)
    (meeting,) = events["Beratungstermin (vor Ort)"]
    assert str(meeting["TRANSP"]) == "OPAQUE"
    assert str(meeting["STATUS"]) == "CONFIRMED"
    assert meeting.start == berlin(2026, 3, 29, 10)
    (cancelled,) = events["Beratungstermin (Telefon)"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) == 1
    for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        for name in ("UID", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE"):
            assert name in event, name
    assert "Ben Kraus" not in text  # the colleague's shift is not in Anna's feed

    # No client data, ever.
    for secret in (PSEUDONYM, CLIENT_PHONE, "15112345678", LOCATION, VIDEO, "Stuttgart"):
        assert secret not in unfolded

    # vobject, with its validation.
    parsed = vobject.readOne(text)
    parsed.validate()
    starts = sorted(e.dtstart.value.astimezone(UTC) for e in parsed.vevent_list)
    assert starts[0] == berlin(2026, 3, 28, 9).astimezone(UTC)

    # recurring-ical-events: what a calendar shows on the DST days.
    calendar = icalendar.Calendar.from_ical(body)
    spring = recurring_ical_events.of(calendar).at((2026, 3, 29))
    assert {str(e["SUMMARY"]) for e in spring} == {
        "Rufbereitschaft Islamismus (primär)",
        "Beratungstermin (vor Ort)",
    }
    autumn = recurring_ical_events.of(calendar).at((2026, 10, 25))
    assert [e.end.astimezone(UTC) for e in autumn] == [utc(2026, 10, 25, 8)]


def libical(body: bytes) -> list[str] | None:
    """libical's reading of the feed (the system python3 with Debian's GObject bindings)."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None:
        return None
    probe = subprocess.run(
        [python, "-c", 'import gi; gi.require_version("ICalGLib", "3.0")'],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return None
    done = subprocess.run(
        [python, "-c", LIBICAL], input=body, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().splitlines()


def test_libical_reads_the_same_instants(
    database: Database, wide: HotlineConfig, world: World
) -> None:
    body = render_now(database, wide, Owner(world.counsellor_id), utc(2026, 11, 25, 12))
    lines = libical(body)
    if lines is None:
        pytest.skip("libical's GObject bindings are not installed (gir1.2-ical-3.0)")
    assert not [line for line in lines if line.startswith("ERROR")], lines
    seen = {tuple(int(x) for x in line.split()[1:]) for line in lines}
    for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        start, end = event.start.timestamp(), event.end.timestamp()
        assert (int(start), int(end)) in seen


def test_team_feed_names_who_is_on_call_and_has_no_appointments(
    database: Database, wide: HotlineConfig, world: World
) -> None:
    body = render_now(database, wide, Owner(team_id=world.team_id), utc(2026, 11, 25, 12))
    events = events_by_summary(body)
    assert "Rufbereitschaft Islamismus (Hintergrund): Ben Kraus" in events
    assert len(events["Rufbereitschaft Islamismus (primär): Anna Berger"]) == 2
    assert not any(summary.startswith("Beratungstermin") for summary in events)
    assert b"BEGIN:VALARM" not in body
    assert b"NAME:Dienstplan Team Islamismus" in body


def test_pseudonym_only_when_the_setting_says_so(
    database: Database, wide: HotlineConfig, world: World
) -> None:
    shown = with_feeds(wide, show_pseudonym=True)
    body = render_now(database, shown, Owner(world.counsellor_id), utc(2026, 11, 25, 12))
    assert f"Beratungstermin (vor Ort): {PSEUDONYM}" in events_by_summary(body)
    assert CLIENT_PHONE.encode() not in body
    assert LOCATION.encode() not in body


def test_cancelled_appointments_stay_a_while_then_go(
    database: Database, config: HotlineConfig, world: World
) -> None:
    owner = Owner(world.counsellor_id)
    # Cancelled at a fixed instant (not the real now), so that the appointment (on 3 December
    # 2026) stays inside the feed's window of past days at both renderings, whatever the date.
    cancelled_at = utc(2026, 12, 1, 12)
    with database.write() as session:
        session.get(Appointment, world.cancelled_id).updated_at = cancelled_at  # type: ignore[union-attr]
    soon = render_now(database, config, owner, cancelled_at + timedelta(days=3))
    assert b"STATUS:CANCELLED" in soon
    later = render_now(database, config, owner, cancelled_at + timedelta(days=16))
    assert b"STATUS:CANCELLED" not in later
    assert f"appointment-{world.cancelled_id}@".encode() not in later


def test_sequence_grows_when_an_event_changes(
    database: Database, wide: HotlineConfig, world: World
) -> None:
    owner = Owner(world.counsellor_id)

    def sequences() -> dict[str, int]:
        body = render_now(database, wide, owner, utc(2026, 11, 25, 12))
        return {
            str(e["UID"]): int(e["SEQUENCE"])
            for e in icalendar.Calendar.from_ical(body).walk("VEVENT")
        }

    before = sequences()
    time.sleep(1.1)  # a shift's SEQUENCE counts whole seconds of updated_at
    with database.write() as session:
        shift = session.scalars(select(Shift).where(Shift.counsellor_id == world.counsellor_id))
        first = next(iter(shift))
        first.tier = Tier.BACKUP  # changed in place, as a swap does
        appointment = session.get(Appointment, world.appointment_id)
        assert appointment is not None
        appointment.start_at += timedelta(minutes=30)
        appointment.end_at += timedelta(minutes=30)
        appointment.sequence += 1
        shift_uid = f"shift-{first.id}@127.0.0.1"
    after = sequences()
    assert after[shift_uid] > before[shift_uid]
    uid = f"appointment-{world.appointment_id}@127.0.0.1"
    assert after[uid] == before[uid] + 1
    assert set(after) == set(before)  # stable UIDs


# --- HTTP ------------------------------------------------------------------------------------


def test_feed_over_http_with_etag_last_modified_and_304(
    settings: Settings, database: Database, wide: HotlineConfig, world: World
) -> None:
    plain = issue(database, counsellor_id=world.counsellor_id)
    # From a fixed instant (the clock runs on): the shift deleted below must stay inside the
    # wide window whatever the real date.
    with (
        time_machine.travel(utc(2026, 11, 25, 12), tick=True),
        feed_client(settings, database, wide) as client,
    ):
        first = client.get(f"/feeds/{plain}.ics")
        assert first.status_code == 200
        assert first.headers["content-type"] == "text/calendar; charset=utf-8"
        assert first.headers["cache-control"].startswith("private")
        assert first.headers["referrer-policy"] == "no-referrer"
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('"')
        assert modified.endswith("GMT")
        assert first.content.startswith(b"BEGIN:VCALENDAR\r\n")

        again = client.get(f"/feeds/{plain}.ics")
        assert again.content == first.content
        assert again.headers["etag"] == etag

        cached = client.get(f"/feeds/{plain}.ics", headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        weak = client.get(f"/feeds/{plain}.ics", headers={"If-None-Match": f'W/{etag}, "x"'})
        assert weak.status_code == 304
        since = client.get(f"/feeds/{plain}.ics", headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        stale = client.get(f"/feeds/{plain}.ics", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200

        # A deletion changes the ETag and moves Last-Modified, so neither header gets a 304.
        time.sleep(1.1)
        with database.write() as session:
            shift = session.scalars(
                select(Shift).where(Shift.counsellor_id == world.counsellor_id)
            ).first()
            assert shift is not None
            shifts.delete_shift(session, shift.id, actor="tests")
        changed = client.get(f"/feeds/{plain}.ics", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert (
            client.get(f"/feeds/{plain}.ics", headers={"If-Modified-Since": modified}).status_code
            == 200
        )
        assert changed.headers["last-modified"] != modified
    with database.read() as session:
        token = session.scalars(select(FeedToken)).one()
        assert token.last_used_at is not None


def test_every_bad_token_gets_the_same_404(
    settings: Settings, database: Database, config: HotlineConfig, world: World
) -> None:
    live = issue(database, counsellor_id=world.counsellor_id)
    revoked = issue(database, counsellor_id=world.counsellor_id)
    with database.write() as session:
        token = session.scalars(
            select(FeedToken).where(FeedToken.token_hash == feed_tokens.digest(revoked))
        ).one()
        feed_tokens.revoke(session, token.id, actor="tests")
    gone = issue(database, counsellor_id=world.colleague_id)
    with database.write() as session:
        colleague = session.get(Counsellor, world.colleague_id)
        assert colleague is not None
        colleague.active = False
    unknown = "A" * 43
    with feed_client(settings, database, config) as client:
        assert client.get(f"/feeds/{live}.ics").status_code == 200
        answers = [
            client.get(f"/feeds/{token}.ics")
            for token in (revoked, gone, unknown, "short", live[:-1] + "!", live + "x")
        ]
    assert {a.status_code for a in answers} == {404}
    assert len({(a.content, a.headers["content-type"]) for a in answers}) == 1
    assert all(a.headers["referrer-policy"] == "no-referrer" for a in answers)


def test_feed_requests_are_rate_limited(
    settings: Settings, database: Database, config: HotlineConfig, world: World
) -> None:
    plain = issue(database, counsellor_id=world.counsellor_id)
    with feed_client(settings, database, config) as client:
        codes = [client.get(f"/feeds/{plain}.ics").status_code for _ in range(25)]
        assert codes[:20] == [200] * 20
        assert codes[-1] == 429
        assert client.get(f"/feeds/{'B' * 43}.ics").status_code == 404  # per token, not all


def test_tokens_never_reach_logs_audit_or_database(
    db_url: str,
    config: HotlineConfig,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`hotline feed issue` on a database it brings up to date itself, as an operator runs it."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    assert cli(["db", "upgrade"]) == 0
    database = Database(make_engine(db_url))
    try:
        with database.write() as session:
            sync_teams(session, config)
            counsellor_id = add_counsellor(session, config, "islamism", name="Anna Berger").id
        capsys.readouterr()
        assert cli(["feed", "issue", "--counsellor", str(counsellor_id), "--label", "Handy"]) == 0
        url = capsys.readouterr().out.strip().splitlines()[-1]
        assert re.fullmatch(r"http://127\.0\.0\.1:8000/feeds/[A-Za-z0-9_-]{43}\.ics", url)
        plain = url.rsplit("/", 1)[1].removesuffix(".ics")
        settings = Settings(config=config, database_url=db_url)
        with feed_client(settings, database, config) as client:
            assert client.get(f"/feeds/{plain}.ics").status_code == 200
            assert client.get(f"/feeds/{plain[:-1]}x.ics").status_code == 404
        # (The test client itself logs the URLs it asks for; the service must not.)
        ours = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
        assert not [message for message in ours if plain in message]
        with database.read() as session:
            stored = session.scalars(select(FeedToken)).one()
            assert stored.token_hash == feed_tokens.digest(plain)
            assert stored.label == "Handy"
            audit = " ".join(str(e.after) for e in session.scalars(select(AuditEntry)))
            assert plain not in audit
            assert stored.token_hash not in audit
        assert cli(["feed", "issue", "--team", "islamism"]) == 0
        assert "/feeds/" in capsys.readouterr().out.strip().splitlines()[-1]
        assert cli(["feed", "issue", "--counsellor", "99999"]) == 1
        assert cli(["feed", "issue", "--team", "nope"]) == 1
    finally:
        database.dispose()


def test_http_feed_within_window_across_dst(
    settings: Settings, database: Database, config: HotlineConfig, world: World
) -> None:
    """The default window (30 days back) seen from 2026-03-20: the spring shift is in it."""
    plain = issue(database, counsellor_id=world.counsellor_id)
    with (
        time_machine.travel(berlin(2026, 3, 20, 12), tick=False),
        feed_client(settings, database, config) as client,
    ):
        body = client.get(f"/feeds/{plain}.ics").content
    starts = sorted(e.start for e in icalendar.Calendar.from_ical(body).walk("VEVENT"))
    assert starts[0] == berlin(2026, 3, 28, 9)
    assert berlin(2026, 12, 1, 8) in starts


# --- the page --------------------------------------------------------------------------------


def test_page_issues_shows_once_lists_and_revokes(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    make_user(database, config, "kollege", Role.COUNSELLOR, "islamism")
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    sign_in(browser, "beraterin")
    page = browser.get("/calendar")
    assert page.status_code == 200
    assert "Kalender abonnieren" in page.text
    csrf = csrf_of(page.text)
    made = browser.post("/calendar/feeds", data={"csrf": csrf, "feed": "me", "label": "Handy"})
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    url = re.search(r'value="(https?://[^"]+/feeds/[^"]+\.ics)"', made.text)
    assert url is not None
    plain = url.group(1).rsplit("/", 1)[1].removesuffix(".ics")
    assert f"webcal://testserver/feeds/{plain}.ics" in made.text or "webcal://" in made.text
    listing = browser.get("/calendar").text
    assert plain not in listing
    assert "Handy" in listing
    assert "noch nie" in listing
    team = browser.post("/calendar/feeds", data={"csrf": csrf, "feed": "team:islamism"})
    assert team.status_code == 200
    refused = browser.post("/calendar/feeds", data={"csrf": csrf, "feed": "team:right-wing"})
    assert refused.status_code == 422
    assert "Bitte wählen Sie" in refused.text

    with database.read() as session:
        mine = session.scalars(
            select(FeedToken).where(FeedToken.token_hash == feed_tokens.digest(plain))
        ).one()
    # A colleague may not revoke it; the coordinator of the team may.
    browser.cookies.clear()
    sign_in(browser, "kollege")
    csrf = csrf_of(browser.get("/calendar").text)
    assert browser.post(f"/calendar/feeds/{mine.id}/revoke", data={"csrf": csrf}).status_code == 404
    browser.cookies.clear()
    sign_in(browser, "koordination")
    page = browser.get("/calendar")
    assert "Kalender-Adressen in meinen Teams" in page.text
    assert "Handy" in page.text
    done = browser.post(f"/calendar/feeds/{mine.id}/revoke", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    with database.read() as session:
        token = session.get(FeedToken, mine.id)
        assert token is not None
        assert token.revoked_at is not None
        assert token.revoked_by is not None
        assert "koordination" in token.revoked_by
    assert browser.get(f"/feeds/{plain}.ics").status_code == 404


# --- busy times from external calendars ----------------------------------------------------------

EXTERNAL = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//external//EN\r
BEGIN:VEVENT\r
UID:weekly@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;TZID=Europe/Berlin:20261102T100000\r
DTEND;TZID=Europe/Berlin:20261102T120000\r
RRULE:FREQ=WEEKLY;COUNT=10\r
SUMMARY:Supervision (geheimer Titel)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:free@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261203T090000Z\r
DTEND:20261203T100000Z\r
TRANSP:TRANSPARENT\r
SUMMARY:free\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:cancelled@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261204T090000Z\r
DTEND:20261204T100000Z\r
STATUS:CANCELLED\r
SUMMARY:cancelled\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:appointment-5@127.0.0.1\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261205T090000Z\r
DTEND:20261205T100000Z\r
SUMMARY:our own feed's event\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:allday@example.org\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20261224\r
DTEND;VALUE=DATE:20261225\r
SUMMARY:Heiligabend\r
END:VEVENT\r
END:VCALENDAR\r
"""


class Calendars:
    """A loopback HTTP server for external calendars: /ok.ics (with ETag), /missing.ics (404),
    /big.ics (over the size limit), /redirect.ics (to file://)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("If-None-Match")))
                if self.path == "/ok.ics":
                    if self.headers.get("If-None-Match") == '"v1"':
                        self.send_response(304)
                        self.end_headers()
                        return
                    body = EXTERNAL.encode()
                    self.send_response(200)
                    self.send_header("ETag", '"v1"')
                elif self.path == "/big.ics":
                    body = b"BEGIN:VCALENDAR\r\n" + b"X" * 200_000
                    self.send_response(200)
                elif self.path == "/redirect.ics":
                    self.send_response(302)
                    self.send_header("Location", "file:///etc/passwd")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif self.path == "/garbage.ics":
                    body = b"<html>not a calendar</html>"
                    self.send_response(200)
                else:
                    body = b"nope"
                    self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def calendars() -> Iterator[Calendars]:
    server = Calendars()
    yield server
    server.close()


def add_external(database: Database, counsellor_id: int, url: str) -> int:
    with database.write() as session:
        return add_calendar(
            session, crypto.Box(None), counsellor_id, url, "privat", actor="tests"
        ).id


def test_busy_times_are_read_expanded_and_used(
    database: Database, config: HotlineConfig, world: World, calendars: Calendars
) -> None:
    settings = Settings(
        config=with_feeds(config, external_allow_private=True, external_max_bytes=100_000)
    )
    ok = add_external(database, world.counsellor_id, calendars.url("/ok.ics"))
    with time_machine.travel(utc(2026, 11, 25, 12), tick=False):
        assert refreshing.fetch_job(database, settings) == 1
    with database.read() as session:
        rows = session.scalars(select(BusyInterval).order_by(BusyInterval.start_at)).all()
        calendar = session.get(ExternalCalendar, ok)
        assert calendar is not None
        assert calendar.last_error is None
        assert calendar.etag == '"v1"'
        spans = [(r.start_at, r.end_at) for r in rows]
        # Weekly from 2026-11-02, ten times; the window starts a day before "now" (Nov 25).
        assert (berlin(2026, 11, 30, 10), berlin(2026, 11, 30, 12)) in spans
        assert (berlin(2026, 12, 28, 10), berlin(2026, 12, 28, 12)) in spans
        assert (berlin(2026, 11, 23, 10), berlin(2026, 11, 23, 12)) not in spans  # past
        assert (berlin(2026, 12, 24), berlin(2026, 12, 25)) in spans  # all-day, local
        assert not any(
            s.astimezone(UTC).date() in (date(2026, 12, 3), date(2026, 12, 4)) for s, _ in spans
        )
        assert not any(s == utc(2026, 12, 5, 9) for s, _ in spans)  # our own event
        # Booking over a busy time: conflicts() names it.
        found = times.conflicts(
            session, world.counsellor_id, berlin(2026, 12, 7, 11), berlin(2026, 12, 7, 13)
        )
        assert [(b.start_at, b.end_at) for b in found] == [
            (berlin(2026, 12, 7, 10), berlin(2026, 12, 7, 12))
        ]
        assert (
            times.conflicts(
                session, world.counsellor_id, berlin(2026, 12, 7, 12), berlin(2026, 12, 7, 13)
            )
            == []
        )
        drawn = times.busy_as_absences(
            session, [world.counsellor_id, world.colleague_id], utc(2026, 12, 1), utc(2026, 12, 8)
        )
        assert [(a.counsellor_id, a.start_at, a.counsellor.name) for a in drawn] == [
            (world.counsellor_id, berlin(2026, 12, 7, 10), "Anna Berger")
        ]
    # Nothing of the event but its time is stored.
    with database.read() as session:
        audit = " ".join(str(e.after) for e in session.scalars(select(AuditEntry)))
    assert "Supervision" not in audit
    assert "/ok.ics" not in audit
    # The next fetch sends the ETag and gets a 304: the intervals stay.
    with time_machine.travel(utc(2026, 11, 25, 12, 20), tick=False):
        assert refreshing.refresh(database, settings, ok) == "unchanged"
    assert calendars.requests[-1] == ("/ok.ics", '"v1"')
    with database.read() as session:
        assert len(session.scalars(select(BusyInterval)).all()) == len(rows)


def test_broken_calendars_are_reported_never_raised(
    database: Database, config: HotlineConfig, world: World, calendars: Calendars
) -> None:
    allowed = Settings(
        config=with_feeds(config, external_allow_private=True, external_max_bytes=100_000)
    )
    closed_port = free_port()
    cases = {
        calendars.url("/missing.ics"): "HTTP-Status 404",
        calendars.url("/big.ics"): "größer als 0.1 MB",
        calendars.url("/redirect.ics"): "nicht http(s)",
        calendars.url("/garbage.ics"): "keinen lesbaren iCalendar",
        f"http://127.0.0.1:{closed_port}/x.ics": "nicht erreichbar",
    }
    ids = {add_external(database, world.colleague_id, url): text for url, text in cases.items()}
    assert refreshing.fetch_job(database, allowed) == len(cases)
    with database.read() as session:
        for calendar_id, text in ids.items():
            calendar = session.get(ExternalCalendar, calendar_id)
            assert calendar is not None
            assert calendar.last_error is not None
            assert text in calendar.last_error, (text, calendar.last_error)
            assert calendar.failures == 1
    # Backing off: not due again at once.
    assert refreshing.fetch_job(database, allowed) == 0


def test_internal_addresses_are_refused_by_default(
    database: Database, config: HotlineConfig, world: World, calendars: Calendars
) -> None:
    strict = Settings(config=config)  # external_allow_private = false
    calendar_id = add_external(database, world.counsellor_id, calendars.url("/ok.ics"))
    assert refreshing.refresh(database, strict, calendar_id) == "error"
    assert calendars.requests == []  # never connected
    with database.read() as session:
        calendar = session.get(ExternalCalendar, calendar_id)
        assert calendar is not None
        assert "internes Netz" in (calendar.last_error or "")
    production = Settings(config=with_feeds(config, external_allow_private=True), mode="production")
    assert refreshing.limits_of(production).allow_private is False
    for url in ("file:///etc/passwd", "ftp://example.org/x.ics", "gopher://x", "https://", "x"):
        with pytest.raises(Invalid):
            normalise_url(url)
    assert normalise_url("webcal://example.org/a.ics") == "https://example.org/a.ics"


def test_calendar_page_registers_and_shows_errors(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    sign_in(browser, "beraterin")
    csrf = csrf_of(browser.get("/calendar").text)
    bad = browser.post("/calendar/external", data={"csrf": csrf, "url": "ftp://x/y.ics"})
    assert bad.status_code == 422
    assert "keine Kalender-Adresse" in bad.text
    url = "https://calendar.example.org/private-abc123/basic.ics"
    added = browser.post("/calendar/external", data={"csrf": csrf, "url": url, "label": "Privat"})
    assert added.status_code == 303
    with database.write() as session:
        calendar = session.scalars(select(ExternalCalendar)).one()
        assert url.encode() not in calendar.url_enc
        assert crypto.Box(None).open(calendar.url_enc) == url
        calendar.last_error = "Der Kalender ist nicht erreichbar."
        calendar.last_fetched_at = utc(2026, 11, 25, 10)
        calendar_id = calendar.id
    page = browser.get("/calendar").text
    assert "calendar.example.org" in page
    assert "private-abc123" not in page
    assert "Der Kalender ist nicht erreichbar." in page
    removed = browser.post(f"/calendar/external/{calendar_id}/delete", data={"csrf": csrf})
    assert removed.status_code == 303
    with database.read() as session:
        assert session.scalars(select(ExternalCalendar)).all() == []


# --- a real subscriber: vdirsyncer over HTTP, then khal ------------------------------------------


def _tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


@pytest.fixture
def served(settings: Settings, database: Database, wide: HotlineConfig) -> Iterator[str]:
    """The real app under uvicorn on a loopback port; yields its base URL. The clock starts at
    a fixed instant (and runs on): the wide window must reach both DST days of 2026 whatever
    the real date."""
    port = free_port()
    app_settings = Settings(
        config=wide, database_url=settings.database_url, public_url=f"http://127.0.0.1:{port}"
    )
    with (
        time_machine.travel(utc(2026, 11, 25, 12), tick=True),
        serving(create_app(app_settings, database=database), port),
    ):
        yield f"http://127.0.0.1:{port}"


def run(command: list[str], home: Path) -> str:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"},
    )
    assert done.returncode == 0, (command[0], done.stdout, done.stderr)
    return done.stdout


def test_vdirsyncer_syncs_and_khal_lists_local_times_across_dst(
    served: str, database: Database, world: World, tmp_path: Path
) -> None:
    vdirsyncer, khal = _tool("vdirsyncer"), _tool("khal")
    if vdirsyncer is None or khal is None:
        pytest.skip("vdirsyncer and khal are not installed (pip install -e '.[dev]')")
    plain = issue(database, counsellor_id=world.counsellor_id)
    local = tmp_path / "calendar"
    local.mkdir()
    config = tmp_path / "vdirsyncer.conf"
    config.write_text(
        f"""[general]
status_path = "{tmp_path / "status"}/"

[pair feed]
a = "feed_remote"
b = "feed_local"
collections = null
conflict_resolution = "a wins"

[storage feed_remote]
type = "http"
url = "{served}/feeds/{plain}.ics"

[storage feed_local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"
""",
        encoding="utf-8",
    )
    run([vdirsyncer, "-c", str(config), "discover", "feed"], tmp_path)
    run([vdirsyncer, "-c", str(config), "sync"], tmp_path)
    files = sorted(local.glob("*.ics"))
    assert len(files) == 5  # four shifts... of Anna: three, plus two appointments
    khal_config = tmp_path / "khal.conf"
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
path = {tmp_path / "khal.db"}
""",
        encoding="utf-8",
    )
    fmt = "{start} -> {end} | {title}"

    def listed(day: str, days: str) -> list[str]:
        out = run(
            [khal, "-c", str(khal_config), "list", "--format", fmt, "--day-format", "", day, days],
            tmp_path,
        )
        return [line for line in out.splitlines() if line.strip()]

    spring = listed("2026-03-28", "2d")
    assert "2026-03-28 09:00 -> 2026-03-29 09:00 | Rufbereitschaft Islamismus (primär)" in spring, (
        spring
    )
    assert "2026-03-29 10:00 -> 2026-03-29 11:00 | Beratungstermin (vor Ort)" in spring, spring
    autumn = listed("2026-10-24", "2d")
    assert "2026-10-24 09:00 -> 2026-10-25 09:00 | Rufbereitschaft Islamismus (primär)" in autumn, (
        autumn
    )
    december = listed("2026-12-01", "3d")
    assert "2026-12-01 08:00 -> 2026-12-02 08:00 | Rufbereitschaft Islamismus (Hintergrund)" in (
        december
    ), december
    assert not any(PSEUDONYM in line for line in spring + autumn + december)


def test_booking_over_a_busy_time_warns(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    counsellor_id = counsellor_of(database, "beraterin")
    with database.write() as session:
        calendar = add_calendar(
            session, crypto.Box(None), counsellor_id, "https://example.org/c.ics", actor="t"
        )
        session.add(
            BusyInterval(
                calendar_id=calendar.id,
                start_at=berlin(2026, 12, 1, 9, 30),
                end_at=berlin(2026, 12, 1, 10, 30),
            )
        )
    form = {
        "pseudonym": "Frau Amsel",
        "date": "2026-12-01",
        "duration": "60",
        "mode": "phone",
    }
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(browser, "beraterin")
        csrf = csrf_of(browser.get("/appointments").text)
        over = browser.post("/appointments", data={"csrf": csrf, "time": "10:00", **form})
        assert over.status_code == 303, over.text
        warned = browser.get(over.headers["location"]).text
        clear = browser.post("/appointments", data={"csrf": csrf, "time": "14:00", **form})
        fine = browser.get(clear.headers["location"]).text
    assert "Im eigenen Kalender ist diese Zeit als belegt eingetragen (01.12. 09:30–10:30)" in (
        warned
    )
    assert "Der Termin ist gebucht" in fine
    assert "als belegt eingetragen" not in fine


# --- review fixes: fingerprint, deadline, recurrences, team tokens, folding, SSRF ---------------


def etag_of(database: Database, settings: Settings, owner: Owner, now: datetime) -> str:
    with database.read() as session:
        span = window(now, BERLIN, settings.config.feeds)
        return queries.fingerprint(session, settings, owner, span).etag


def test_etag_moves_when_an_older_change_commits_late_or_a_row_goes(
    database: Database, settings: Settings, config: HotlineConfig, world: World
) -> None:
    """updated_at is the clock at flush: a change that commits after a later one carries the
    older time, so the newest updated_at does not move. The revisions' sum does."""
    team = Owner(team_id=world.team_id)
    now = utc(2026, 11, 25, 12)
    with database.read() as session:
        shift_ids = list(session.scalars(select(Shift.id).order_by(Shift.id)))
    before = etag_of(database, settings, team, now)
    with database.write() as session:  # in place, its stamp no newer than the newest
        session.execute(
            update(Shift)
            .where(Shift.id == shift_ids[-1])
            .values(counsellor_id=world.colleague_id, updated_at=Shift.updated_at)
        )
    late = etag_of(database, settings, team, now)
    assert late != before
    with database.write() as session:
        shifts.delete_shift(session, shift_ids[-1], actor="tests")
    assert etag_of(database, settings, team, now) not in (before, late)
    if database.engine.dialect.name != "postgresql":
        return
    # The real race: A flushes first and commits last; a poll in between stores B's ETag.
    plain = issue(database, team_id=world.team_id)
    state = Bodies()
    later = Session(database.engine)
    row = later.get(Shift, shift_ids[0])
    assert row is not None
    row.counsellor_id = world.colleague_id
    later.flush()
    time.sleep(0.05)
    with database.write() as session:
        moved = session.get(Shift, shift_ids[2])
        assert moved is not None
        moved.counsellor_id = world.counsellor_id
    wide_settings = Settings(config=with_feeds(config, past_days=366))
    first = answer(database, wide_settings, state, plain, None, None)
    later.commit()
    later.close()
    second = answer(database, wide_settings, state, plain, first.etag, None)
    assert second.status == 200
    assert second.etag != first.etag
    assert second.body != first.body


def trickling_server(mode: str, stop: threading.Event) -> int:
    """A loopback server that answers one byte every 0.2 s: in the headers, or in the body."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(4096)
            if mode == "body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000
            for byte in b"x" * 1000 if mode == "body" else head:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=run, daemon=True).start()
    port: int = listener.getsockname()[1]
    return port


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_fetch_timeout_is_for_the_whole_fetch(mode: str) -> None:
    stop = threading.Event()
    port = trickling_server(mode, stop)
    limits = fetching.Limits(timeout=1, max_bytes=5_000_000, allow_private=True)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match="nicht rechtzeitig"):
            fetching.fetch(f"http://127.0.0.1:{port}/x.ics", None, None, limits)
    finally:
        stop.set()
    assert time.monotonic() - started < 1.5


def one_event(rule: str, extra: str = "") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a@b\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20261125T000000Z\r\nDTEND:20261125T000030Z\r\n"
        f"RRULE:{rule}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_recurrences_are_expanded_lazily_and_bounded() -> None:
    start, end = utc(2026, 11, 25), utc(2027, 11, 26)
    minutes = ",".join(str(m) for m in range(0, 60, 2))
    for fine in ("FREQ=MINUTELY", "FREQ=SECONDLY;INTERVAL=30", f"FREQ=DAILY;BYMINUTE={minutes}"):
        with pytest.raises(FetchError, match="öfter als stündlich"):
            parsing.busy_spans(one_event(fine), start, end, BERLIN, "h")
    # Lazy and bounded shows in the memory (not timed: on a loaded machine that says nothing).
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="zu groß"):  # 8784 busy hours
            parsing.busy_spans(one_event("FREQ=HOURLY"), start, end, BERLIN, "h")
        free = one_event("FREQ=HOURLY", "TRANSP:TRANSPARENT\r\n")
        assert parsing.busy_spans(free, start, end, BERLIN, "h") == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    daily = parsing.busy_spans(one_event("FREQ=DAILY"), start, end, BERLIN, "h")
    assert len(daily) == 366


def test_a_team_feed_lives_as_long_as_its_issuer_may_see_the_team(
    database: Database, settings: Settings, config: HotlineConfig, world: World
) -> None:
    coordinator = make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    member = make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    member_record = counsellor_of(database, "beraterin")
    tokens = {}
    with database.write() as session:
        for who in (coordinator, member, None):
            tokens[who] = feed_tokens.issue(
                session, team_id=world.team_id, user_id=who, actor="tests"
            )[1]

    def status(who: int | None) -> int:
        return answer(database, settings, Bodies(), tokens[who], None, None).status

    assert [status(who) for who in tokens] == [200, 200, 200]
    with database.write() as session:
        session.execute(delete(UserTeam).where(UserTeam.user_id == coordinator))
        session.execute(delete(TeamMembership).where(TeamMembership.counsellor_id == member_record))
    assert [status(who) for who in tokens] == [404, 404, 200]
    with database.write() as session:
        session.add(UserTeam(user_id=coordinator, team_id=world.team_id))
        session.add(TeamMembership(counsellor_id=member_record, team_id=world.team_id))
    assert [status(who) for who in tokens] == [200, 200, 200]
    with database.write() as session:
        session.execute(update(User).where(User.id == coordinator).values(active=False))
        session.execute(
            update(Counsellor).where(Counsellor.id == member_record).values(active=False)
        )
    assert [status(who) for who in tokens] == [404, 404, 200]  # the CLI's stays


def test_every_line_is_folded_even_with_a_long_host(
    database: Database, config: HotlineConfig, world: World
) -> None:
    host = "kalender.beratung-gegen-extremismus.baden-wuerttemberg.example.org"
    settings = Settings(config=with_feeds(config, past_days=366), public_url=f"https://{host}")
    for owner in (Owner(world.counsellor_id), Owner(team_id=world.team_id)):
        with database.read() as session:
            span = window(utc(2026, 11, 25, 12), BERLIN, settings.config.feeds)
            body = queries.build(session, settings, owner, span)
        assert max(len(line) for line in body.split(b"\r\n")) <= 75
        uids = [str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
        assert uids
        assert all(uid.endswith(f"@{host}") for uid in uids)


def test_a_304_keeps_busy_times_only_within_the_same_days_window(
    database: Database, config: HotlineConfig, world: World, calendars: Calendars
) -> None:
    settings = Settings(config=with_feeds(config, external_allow_private=True))
    ok = add_external(database, world.counsellor_id, calendars.url("/ok.ics"))
    with time_machine.travel(berlin(2026, 11, 25, 8), tick=False):
        assert refreshing.refresh(database, settings, ok) == "ok"
    with time_machine.travel(berlin(2026, 11, 25, 23), tick=False):
        assert refreshing.refresh(database, settings, ok) == "unchanged"
    assert calendars.requests[-1] == ("/ok.ics", '"v1"')
    with time_machine.travel(berlin(2026, 11, 26, 0, 30), tick=False):
        assert refreshing.refresh(database, settings, ok) == "ok"  # a new day: fetched and expanded
    assert calendars.requests[-1] == ("/ok.ics", None)
    with database.read() as session:
        calendar = session.get(ExternalCalendar, ok)
        assert calendar is not None
        assert calendar.busy_day == date(2026, 11, 26)


def test_ipv4_hidden_in_ipv6_and_site_local_addresses_are_internal() -> None:
    for address in (
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::ffff:10.0.0.1",  # IPv4-mapped
        "fec0::1",  # site-local
        "::1",
        "10.1.2.3",
        "169.254.169.254",
    ):
        assert not fetching.public(ipaddress.ip_address(address)), address
    for address in ("64:ff9b::808:808", "2002:808:808::1", "2a00:1450:4001::1", "8.8.8.8"):
        assert fetching.public(ipaddress.ip_address(address)), address


def test_credentials_never_over_plain_http(calendars: Calendars) -> None:
    with pytest.raises(Invalid):
        normalise_url("http://anna:geheim@example.org/c.ics")
    assert normalise_url("https://anna:geheim@example.org/c.ics")
    limits = fetching.Limits(timeout=2, max_bytes=100_000, allow_private=True)
    url = calendars.url("/ok.ics").replace("http://", "http://anna:geheim@")
    with pytest.raises(FetchError, match="nur über https"):
        fetching.fetch(url, None, None, limits)
    assert calendars.requests == []


def test_no_redirect_from_https_to_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calendars: Calendars
) -> None:
    """A loopback https server (trusted through SSL_CERT_FILE) that redirects to http:// is
    not followed."""
    context, cert_file = certificate(tmp_path)
    target = calendars.url("/ok.ics")

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    limits = fetching.Limits(timeout=5, max_bytes=100_000, allow_private=True)
    try:
        with pytest.raises(FetchError, match="unverschlüsseltes http"):
            fetching.fetch(
                f"https://localhost:{server.server_address[1]}/c.ics", None, None, limits
            )
    finally:
        server.shutdown()
        server.server_close()
    assert calendars.requests == []


def test_two_refreshes_of_one_calendar_do_not_double_its_busy_times(
    database: Database, config: HotlineConfig, world: World, calendars: Calendars
) -> None:
    """Another scheduler is storing this calendar's intervals (row locked, not committed):
    this refresh waits for it, then replaces them instead of adding its own."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    settings = Settings(config=with_feeds(config, external_allow_private=True))
    ok = add_external(database, world.counsellor_id, calendars.url("/ok.ics"))
    moment = berlin(2026, 11, 25, 8)
    with time_machine.travel(moment, tick=False):
        assert refreshing.refresh(database, settings, ok) == "ok"
    with database.read() as session:
        expected = len(session.scalars(select(BusyInterval)).all())
    other = Session(database.engine)
    other.get(ExternalCalendar, ok, with_for_update=True)
    other.execute(delete(BusyInterval).where(BusyInterval.calendar_id == ok))
    other.add(
        BusyInterval(calendar_id=ok, start_at=utc(2026, 12, 9, 9), end_at=utc(2026, 12, 9, 10))
    )
    other.flush()
    results: list[str] = []
    with time_machine.travel(moment + timedelta(days=1), tick=False):
        worker = threading.Thread(
            target=lambda: results.append(refreshing.refresh(database, settings, ok))
        )
        worker.start()
        time.sleep(0.5)
        other.commit()
        other.close()
        worker.join(10)
    assert results == ["ok"]
    with database.read() as session:
        rows = session.scalars(select(BusyInterval)).all()
    assert 0 < len(rows) <= expected
    assert (utc(2026, 12, 9, 9), utc(2026, 12, 9, 10)) not in [(r.start_at, r.end_at) for r in rows]
