"""The rota page: timeline, shifts, rotation generator with preview, stand-ins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import (
    Absence,
    AbsenceKind,
    BusyInterval,
    ExternalCalendar,
    Role,
    Shift,
    StandIn,
    Team,
    Tier,
)
from tests.conftest import add_counsellor, berlin
from tests.test_auth import csrf_of, make_user, sign_in
from web import rota_days
from web.app import create_app
from web.rota_period import period_of

NOW = berlin(2026, 11, 25, 12)  # a Wednesday
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def team(database: Database, config: HotlineConfig) -> list[int]:
    with database.write() as session:
        return [
            add_counsellor(session, config, "islamism", name=name).id
            for name in ("Amira Yilmaz", "Jonas Becker", "Leyla Demir")
        ]


@pytest.fixture
def coordinator(
    settings: Settings, database: Database, config: HotlineConfig
) -> Iterator[TestClient]:
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    with (
        time_machine.travel(NOW, tick=False),
        TestClient(
            create_app(settings, database=database),
            base_url="https://testserver",
            follow_redirects=False,
        ) as client,
    ):
        yield sign_in(client, "koordination")


def shift_count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Shift)) or 0


def test_week_view_draws_the_timeline(coordinator: TestClient, team: list[int]) -> None:
    assert coordinator.get("/rota").headers["location"] == "/rota/islamism"
    page = coordinator.get("/rota/islamism")
    assert page.status_code == 200
    assert "KW 48/2026: 23.11. – 29.11.2026" in page.text
    assert "<svg" in page.text
    assert 'class="today"' in page.text
    assert "Lücken in diesem Zeitraum" in page.text
    # The day list for narrow screens: every day of the week, the gaps in words.
    assert page.text.count("<li><h3>") == 7
    assert '<li class="gap"><span class="time">00:00–24:00</span> Lücke: niemand' in page.text
    month = coordinator.get("/rota/islamism?view=month&date=2026-12-10")
    assert "Dezember 2026" in month.text
    assert coordinator.get("/rota/right-wing").status_code == 403  # not their team


def test_create_edit_and_delete_a_shift(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    csrf = csrf_of(coordinator.get("/rota/islamism").text)
    form = {
        "csrf": csrf, "counsellor_id": str(team[0]), "tier": "primary",
        "start_date": "2026-11-26", "start_time": "09:00",
        "end_date": "2026-11-27", "end_time": "09:00",
    }  # fmt: skip
    assert coordinator.post("/rota/islamism/shifts", data=form).status_code == 303
    with database.read() as session:
        shift = session.scalars(select(Shift)).one()
    assert shift.start_at == berlin(2026, 11, 26, 9)
    # The same person again at an overlapping time: a German message, nothing saved.
    clash = coordinator.post(
        "/rota/islamism/shifts", data=form | {"start_time": "12:00", "end_time": "12:00"}
    )
    assert clash.status_code == 422
    assert "bereits einen Dienst" in clash.text
    assert shift_count(database) == 1
    bad = coordinator.post("/rota/islamism/shifts", data=form | {"end_date": "2026-11-25"})
    assert bad.status_code == 422
    assert "Das Ende muss nach dem Beginn liegen" in bad.text
    # Edit: the form comes prefilled, and saving moves the shift.
    edit = coordinator.get(f"/rota/islamism?edit={shift.id}")
    assert 'value="2026-11-26"' in edit.text
    moved = form | {"shift_id": str(shift.id), "counsellor_id": str(team[1])}
    assert coordinator.post("/rota/islamism/shifts", data=moved).status_code == 303
    with database.read() as session:
        (only,) = session.scalars(select(Shift)).all()
    assert only.counsellor_id == team[1]
    assert (
        coordinator.post(f"/rota/islamism/shifts/{only.id}/delete", data={"csrf": csrf}).status_code
        == 303
    )
    assert shift_count(database) == 0


def test_rotation_preview_then_save_then_stand_in(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    page = coordinator.get("/rota/islamism?date=2026-11-30")
    csrf = csrf_of(page.text)
    form = {
        "csrf": csrf, f"order_{team[0]}": "1", f"order_{team[1]}": "2", f"order_{team[2]}": "3",
        "shift_days": "1", "handoff": "09:00", "tier": "primary",
        "first_day": "2026-11-30", "last_day": "2026-12-13", "start_index": "0",
        "view": "week", "date": "2026-11-30",
    }  # fmt: skip
    preview = coordinator.post("/rota/islamism/rotation", data=form | {"action": "preview"})
    assert preview.status_code == 200
    assert "Vorschau: 14 Dienste" in preview.text
    assert shift_count(database) == 0  # a preview saves nothing
    saved = coordinator.post("/rota/islamism/rotation", data=form | {"action": "save"})
    assert saved.status_code == 303
    assert shift_count(database) == 14
    first_week = coordinator.get("/rota/islamism?date=2026-11-30").text
    assert "Mo 30.11., 00:00 bis Mo 30.11., 09:00" in first_week  # before the first handoff
    assert (
        "Keine Lücken in diesem Zeitraum." in coordinator.get("/rota/islamism?date=2026-12-07").text
    )
    # Running it again would double-book: refused as a whole, with the reason.
    again = coordinator.post("/rota/islamism/rotation", data=form | {"action": "save"})
    assert again.status_code == 409
    assert "Es wurde nichts gespeichert." in again.text
    assert shift_count(database) == 14
    # A stand-in for Jonas on 2 December.
    stand_in = {
        "csrf": csrf, "absent_id": str(team[1]), "substitute_id": str(team[2]),
        "si_start_date": "2026-12-01", "si_start_time": "09:00",
        "si_end_date": "2026-12-02", "si_end_time": "09:00", "note": "Urlaub",
    }  # fmt: skip
    assert coordinator.post("/rota/islamism/standins", data=stand_in).status_code == 303
    week = coordinator.get("/rota/islamism?date=2026-11-30").text
    assert re.search(r"Leyla Demir vertritt Jonas Becker", week)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(StandIn)) == 1


def test_rotation_errors_are_german_and_next_to_the_field(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    csrf = csrf_of(coordinator.get("/rota/islamism").text)
    form = {
        "csrf": csrf, "shift_days": "1", "handoff": "09:00", "tier": "primary",
        "first_day": "2026-12-10", "last_day": "2026-12-01", "start_index": "0",
        "action": "preview",
        f"order_{team[0]}": "1",
    }  # fmt: skip
    response = coordinator.post("/rota/islamism/rotation", data=form)
    assert response.status_code == 422
    assert 'id="e-rotation_last_day"' in response.text
    nobody = coordinator.post(
        "/rota/islamism/rotation",
        data={k: v for k, v in form.items() if not k.startswith("order_")},
    )
    assert nobody.status_code == 422
    assert shift_count(database) == 0


def rotation_form(csrf: str, order: list[int], **fields: str) -> dict[str, str]:
    """The rotation form for two weeks from Monday 30 November, in `order`."""
    form = {
        "csrf": csrf, "handoff": "09:00", "tier": "primary",
        "first_day": "2026-11-30", "last_day": "2026-12-13", "start_index": "0",
        "view": "week", "date": "2026-11-30",
    }  # fmt: skip
    return form | {f"order_{person}": str(n) for n, person in enumerate(order, 1)} | fields


def test_a_weekday_rotation_leaves_the_weekend_to_another(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    page = coordinator.get("/rota/islamism?date=2026-11-30")
    assert page.text.count('type="checkbox" name="weekday_') == 7
    assert page.text.count('value="1" checked> ') == 7  # every day, until told otherwise
    form = rotation_form(csrf_of(page.text), team[:2], shift_days="1", weekdays_shown="1")
    form["last_day"] = "2026-12-06"
    working_week = form | {f"weekday_{day}": "1" for day in range(5)}
    preview = coordinator.post("/rota/islamism/rotation", data=working_week | {"action": "preview"})
    assert preview.status_code == 200
    assert "Vorschau: 5 Dienste" in preview.text
    assert 'name="weekday_4" value="1" checked>' in preview.text
    assert 'name="weekday_5" value="1">' in preview.text  # kept unticked for "save"
    saved = coordinator.post("/rota/islamism/rotation", data=working_week | {"action": "save"})
    assert saved.status_code == 303
    weekend = form | {f"order_{team[2]}": "3", "weekday_5": "1", "weekday_6": "1"}
    weekend = {k: v for k, v in weekend.items() if k != f"order_{team[0]}"}
    assert (
        coordinator.post("/rota/islamism/rotation", data=weekend | {"action": "save"}).status_code
        == 303
    )
    with database.read() as session:
        rows = session.scalars(select(Shift).order_by(Shift.start_at)).all()
        holders = [
            (row.start_at.astimezone(BERLIN).strftime("%a"), row.counsellor_id) for row in rows
        ]
    assert holders == [
        ("Mon", team[0]), ("Tue", team[1]), ("Wed", team[0]), ("Thu", team[1]), ("Fri", team[0]),
        ("Sat", team[1]), ("Sun", team[2]),
    ]  # fmt: skip
    assert "Lücken in diesem Zeitraum: Mo 30.11., 00:00 bis Mo 30.11., 09:00." in (
        coordinator.get("/rota/islamism?date=2026-11-30").text
    )  # the two rotations meet at every handoff
    none_ticked = coordinator.post("/rota/islamism/rotation", data=form | {"action": "preview"})
    assert none_ticked.status_code == 422
    assert (
        'id="e-rotation_weekdays">Bitte wählen Sie mindestens einen Wochentag.' in none_ticked.text
    )
    short = form | {"last_day": "2026-12-04", "weekday_5": "1", "action": "preview"}
    nothing = coordinator.post("/rota/islamism/rotation", data=short)
    assert nothing.status_code == 422
    assert "keiner der gewählten Wochentage" in nothing.text
    assert shift_count(database) == 7


def gaps_line(html: str) -> str:
    """The page's one-line summary of the gaps in the period shown."""
    found = re.search(r'<p class="(?:error|ok)" role="status">(.*?)</p>', html, re.S)
    assert found is not None
    return found.group(1)


def absence_count(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Absence)) or 0


def test_a_holiday_opens_a_gap_and_a_stand_in_closes_it(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    page = coordinator.get("/rota/islamism?date=2026-11-30")
    csrf = csrf_of(page.text)
    rotation = rotation_form(csrf, team[:2], shift_days="7", action="save")
    assert coordinator.post("/rota/islamism/rotation", data=rotation).status_code == 303
    week = "/rota/islamism?date=2026-11-30"
    assert gaps_line(coordinator.get(week).text) == (
        "Lücken in diesem Zeitraum: Mo 30.11., 00:00 bis Mo 30.11., 09:00."
    )
    # Amira is on holiday 2–4 December (her week is 30.11.–07.12.).
    holiday = {
        "csrf": csrf, "ab_counsellor_id": str(team[0]), "kind": "holiday",
        "ab_start_date": "2026-12-02", "ab_start_time": "00:00",
        "ab_end_date": "2026-12-05", "ab_end_time": "00:00", "ab_note": "Familie",
    }  # fmt: skip
    assert coordinator.post("/rota/islamism/absences", data=holiday).status_code == 303
    shown = coordinator.get(week).text
    assert gaps_line(shown) == (  # the holiday opens a gap
        "Lücken in diesem Zeitraum: Mo 30.11., 00:00 bis Mo 30.11., 09:00; "
        "Mi 02.12., 00:00 bis Sa 05.12., 00:00."
    )
    assert "Abwesenheit ohne Vertretung" in shown
    assert "Urlaub, ohne Vertretung" in shown  # the shift is flagged in the table
    assert 'class="shift primary hit"' in shown  # ... and on the timeline
    assert "Abwesend: Amira Yilmaz" in shown
    with database.read() as session:
        amiras = session.scalars(select(Shift).where(Shift.counsellor_id == team[0])).first()
    assert amiras is not None
    # "Vertretung eintragen" fills the stand-in form with the uncovered part.
    cover = coordinator.get(f"{week}&cover={amiras.id}").text
    assert 'value="2026-12-02"' in cover
    assert 'value="2026-12-05"' in cover
    assert f'<option value="{team[0]}" selected>' in cover
    stand_in = {
        "csrf": csrf, "absent_id": str(team[0]), "substitute_id": str(team[2]),
        "si_start_date": "2026-12-02", "si_start_time": "00:00",
        "si_end_date": "2026-12-05", "si_end_time": "00:00",
    }  # fmt: skip
    assert coordinator.post("/rota/islamism/standins", data=stand_in).status_code == 303
    covered = coordinator.get(week).text
    assert "Abwesenheit ohne Vertretung" not in covered
    assert gaps_line(covered) == "Lücken in diesem Zeitraum: Mo 30.11., 00:00 bis Mo 30.11., 09:00."
    assert "Leyla Demir vertritt Amira Yilmaz" in covered
    # The holiday itself stays visible, and can be removed.
    assert "Amira Yilmaz: Urlaub" in covered
    with database.read() as session:
        absence = session.scalars(select(Absence)).one()
    removed = coordinator.post(f"/rota/islamism/absences/{absence.id}/delete", data={"csrf": csrf})
    assert removed.status_code == 303
    assert absence_count(database) == 0


def test_busy_times_from_own_calendars_show_like_absences_but_open_no_gap(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    with database.write() as session:
        session.add(
            Shift(
                team_id=_team_id(session),
                counsellor_id=team[1],
                tier=Tier.PRIMARY,
                start_at=berlin(2026, 11, 30, 9),
                end_at=berlin(2026, 12, 1, 9),
            )
        )
        calendar = ExternalCalendar(
            counsellor_id=team[1], label="Privat", url_enc=b"x", host="cal.example"
        )
        session.add(calendar)
        session.flush()
        session.add(
            BusyInterval(
                calendar_id=calendar.id,
                start_at=berlin(2026, 11, 30, 14),
                end_at=berlin(2026, 11, 30, 16),
            )
        )
    shown = coordinator.get("/rota/islamism?date=2026-11-30").text
    assert "Belegt: Jonas Becker" in shown
    assert "Jonas Becker belegt (eigener Kalender): Mo 30.11. 14:00 – Mo 30.11. 16:00" in shown
    assert 'class="shift primary hit"' in shown  # the shift it overlaps is flagged
    assert "Belegt (eigener Kalender)</span>" in shown  # the legend explains the colour
    # ... but being busy is not being away: no gap inside the shift, nothing to cover.
    assert "Mo 30.11., 14:00 bis" not in gaps_line(shown)
    assert "Abwesenheit ohne Vertretung" not in shown
    # Nothing of another team's counsellor shows, and no calendar detail but the time.
    assert "cal.example" not in shown
    assert "Privat" not in shown


def _team_id(session: Session) -> int:
    team_id = session.scalar(select(Team.id).where(Team.slug == "islamism"))
    assert team_id is not None
    return team_id


def test_absence_errors_change_nothing(
    coordinator: TestClient, database: Database, team: list[int], config: HotlineConfig
) -> None:
    csrf = csrf_of(coordinator.get("/rota/islamism").text)
    good = {
        "csrf": csrf, "ab_counsellor_id": str(team[0]), "kind": "sick",
        "ab_start_date": "2026-12-02", "ab_start_time": "00:00",
        "ab_end_date": "2026-12-03", "ab_end_time": "00:00",
    }  # fmt: skip
    backwards = coordinator.post(
        "/rota/islamism/absences", data=good | {"ab_end_date": "2026-12-01"}
    )
    assert backwards.status_code == 422
    assert "Das Ende muss nach dem Beginn liegen" in backwards.text
    unknown = coordinator.post("/rota/islamism/absences", data=good | {"kind": "party"})
    assert unknown.status_code == 422
    assert "Urlaub, krank oder sonstige" in unknown.text
    missing = coordinator.post("/rota/islamism/absences", data=good | {"ab_start_date": ""})
    assert missing.status_code == 422
    with database.write() as session:
        outsider = add_counsellor(session, config, "right-wing", name="Außen Stehend").id
    foreign = coordinator.post(
        "/rota/islamism/absences", data=good | {"ab_counsellor_id": str(outsider)}
    )
    assert foreign.status_code == 422
    assert "Person aus diesem Team" in foreign.text
    assert absence_count(database) == 0


def test_daily_handoffs_across_both_dst_changes_through_the_form(
    coordinator: TestClient, database: Database, team: list[int]
) -> None:
    csrf = csrf_of(coordinator.get("/rota/islamism").text)
    for first, last in (("2026-03-27", "2026-03-31"), ("2026-10-23", "2026-10-27")):
        rotation = {
            "csrf": csrf, f"order_{team[0]}": "1", f"order_{team[1]}": "2",
            "shift_days": "1", "handoff": "09:00", "tier": "primary",
            "first_day": first, "last_day": last, "start_index": "0", "action": "save",
        }  # fmt: skip
        assert coordinator.post("/rota/islamism/rotation", data=rotation).status_code == 303
    with database.read() as session:
        saved = session.scalars(select(Shift).order_by(Shift.start_at)).all()
    lengths = {s.start_at.astimezone(berlin(2026, 1, 1).tzinfo).date().isoformat(): (
        s.end_at - s.start_at).total_seconds() / 3600 for s in saved}  # fmt: skip
    assert lengths["2026-03-28"] == 23  # 09:00 CET to 09:00 CEST
    assert lengths["2026-10-24"] == 25  # 09:00 CEST to 09:00 CET
    assert {v for k, v in lengths.items() if k not in ("2026-03-28", "2026-10-24")} == {24}
    for handoff in saved:
        assert handoff.start_at.astimezone(berlin(2026, 1, 1).tzinfo).hour == 9
    spring = coordinator.get("/rota/islamism?date=2026-03-28").text
    assert "Sa 28.03., 09:00" in spring
    assert "So 29.03., 09:00" in spring
    # Handoffs meet exactly: the only gaps are before the first and after the last shift.
    assert gaps_line(coordinator.get("/rota/islamism?date=2026-03-28").text) == (
        "Lücken in diesem Zeitraum: Mo 23.03., 00:00 bis Fr 27.03., 09:00."
    )
    assert gaps_line(coordinator.get("/rota/islamism?date=2026-10-24").text) == (
        "Lücken in diesem Zeitraum: Mo 19.10., 00:00 bis Fr 23.10., 09:00."
    )
    # A wall time the spring change skips is refused, not silently moved.
    skipped = {
        "csrf": csrf, "counsellor_id": str(team[2]), "tier": "backup",
        "start_date": "2026-03-29", "start_time": "02:30",
        "end_date": "2026-03-29", "end_time": "12:00",
    }  # fmt: skip
    refused = coordinator.post("/rota/islamism/shifts", data=skipped)
    assert refused.status_code == 422
    assert "fehlt 02:00–03:00" in refused.text
    assert shift_count(database) == len(saved)


def test_the_day_list_tells_the_timeline_day_by_day() -> None:
    """Each day lists what touches it, clipped to the day, in the order of the day; the day the
    clocks go back (25.10.2026) has 25 hours and still ends at 24:00."""
    zone = NOW.tzinfo
    period = period_of("week", "2026-10-21", zone, NOW.date())  # Mo 19.10. – So 25.10.
    primary = Shift(
        counsellor_id=1,
        tier=Tier.PRIMARY,
        start_at=berlin(2026, 10, 24, 9),
        end_at=berlin(2026, 10, 26, 9),  # beyond the week
    )
    backup = Shift(
        counsellor_id=2,
        tier=Tier.BACKUP,
        start_at=berlin(2026, 10, 24, 9),
        end_at=berlin(2026, 10, 25, 9),
    )
    away = Absence(
        counsellor_id=1,
        kind=AbsenceKind.HOLIDAY,
        start_at=berlin(2026, 10, 25, 0),
        end_at=berlin(2026, 10, 25, 12),
    )
    gap = (period.start, berlin(2026, 10, 24, 9))
    names = {1: "Amira", 2: "Jonas"}
    found = rota_days.entries([primary, backup], [gap], [], names, [away], [])
    days = rota_days.by_day(period, found)

    def lines(day: rota_days.Day) -> list[tuple[str, str, str]]:
        return [(line.span, line.css, line.text) for line in day.lines]

    assert [day.label for day in days] == [
        "Mo 19.10.",
        "Di 20.10.",
        "Mi 21.10.",
        "Do 22.10.",
        "Fr 23.10.",
        "Sa 24.10.",
        "So 25.10.",
    ]
    assert lines(days[0]) == [("00:00–24:00", "gap", "Lücke: niemand erreichbar")]
    assert lines(days[5]) == [
        ("00:00–09:00", "gap", "Lücke: niemand erreichbar"),
        ("09:00–24:00", "primary", "Erreichbar: Amira (Urlaub)"),
        ("09:00–24:00", "backup", "Hintergrund: Jonas"),
    ]
    assert lines(days[6]) == [
        ("00:00–24:00", "primary", "Erreichbar: Amira (Urlaub)"),
        ("00:00–09:00", "backup", "Hintergrund: Jonas"),
        ("00:00–12:00", "absence", "Abwesend: Amira (Urlaub)"),
    ]
