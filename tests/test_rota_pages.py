"""The rota page: timeline, shifts, rotation generator with preview, stand-ins."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import time_machine
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from hotline.db import Database
from hotline.models import Role, Shift, StandIn
from tests.conftest import add_counsellor, berlin
from tests.test_auth import csrf_of, make_user, sign_in
from web.app import create_app

NOW = berlin(2026, 11, 25, 12)  # a Wednesday


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
