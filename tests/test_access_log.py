"""The access log: who opened which appointment, conversation, task or voicemail, when (no
content); on the admins' page "Zugriffe", deleted after `[access_log] retention_days`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from app import compose
from config.settings import Settings
from foundation import access, access_log
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import AccessLogEntry, Appointment, AppointmentMode
from hotline import providers
from tests.helpers import https_client
from tests.test_access_matrix import World, sign_in


@pytest.fixture
def world(database: Database, settings: Settings) -> World:
    return World(database, settings)


@pytest.fixture
def browser(settings: Settings, database: Database) -> Iterator[TestClient]:
    with https_client(settings, database) as client:
        yield client


def logged(database: Database) -> list[tuple[str, str, int]]:
    with database.read() as session:
        rows = session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id))
        return [(row.actor.split()[-1], row.kind, row.record_id) for row in rows]


def soon(world: World, whose: str = "self") -> int:
    start = utcnow().replace(microsecond=0) + timedelta(days=1)
    row = Appointment(counsellor_id=world.owner("islamism", whose), client_pseudonym="Falke",
                      start_at=start, end_at=start + timedelta(hours=1),
                      mode=AppointmentMode.PHONE)  # fmt: skip
    return world._add(row)


def test_opening_tasks_a_conversation_and_a_recording_is_logged_for_staff_only(
    browser: TestClient, world: World, database: Database
) -> None:
    callback = world.callback("islamism", "colleague")["task_id"]
    voicemail = world.voicemail("islamism", "colleague")["task_id"]
    conversation = world.conversation("islamism", "colleague")["conversation_id"]
    world.callback("right-wing", "colleague")  # another team's: never shown to her
    sign_in(browser, "berat")
    assert browser.get("/tasks").status_code == 200
    assert browser.get(f"/conversations/{conversation}").status_code == 200
    assert browser.get(f"/tasks/voicemails/{voicemail}/audio").status_code == 200
    assert logged(database) == [
        ("berat", "callback_request", callback),
        ("berat", "voicemail", voicemail),
        ("berat", "conversation", conversation),
        ("berat", "voicemail_audio", voicemail),
    ]
    # An admin sees the lists but not what clients left: nothing to log.
    sign_in(browser, "chef")
    assert browser.get("/tasks").status_code == 200
    assert browser.get(f"/conversations/{conversation}").status_code == 200
    assert [who for who, _, _ in logged(database)] == ["berat"] * 4


def test_appointments_shown_on_the_page_and_through_the_api_are_logged(
    browser: TestClient, client: TestClient, world: World, database: Database
) -> None:
    own = soon(world)
    colleague = soon(world, "colleague")
    sign_in(browser, "berat")
    assert "Falke" in browser.get("/appointments").text
    assert logged(database) == [("berat", "appointment", own)]  # her own only
    sign_in(browser, "koord")
    assert browser.get("/appointments?team=islamism").status_code == 200
    assert sorted(logged(database)[1:]) == [("koord", "appointment", own),
                                            ("koord", "appointment", colleague)]  # fmt: skip
    key = world.scoped_key(["islamism"])
    client.headers["Authorization"] = f"Bearer {key}"
    assert client.get(f"/api/v1/appointments/{own}").status_code == 200
    with database.read() as session:
        last = session.scalars(select(AccessLogEntry).order_by(AccessLogEntry.id.desc())).first()
    assert last is not None
    assert (last.kind, last.record_id, last.user_id) == ("appointment", own, None)
    assert last.api_key_id is not None
    assert last.actor.startswith(f"api-key:{last.api_key_id} ")


def test_the_page_is_for_admins_filters_and_never_shows_content(
    browser: TestClient, world: World, database: Database
) -> None:
    callback = world.callback("islamism", "colleague")["task_id"]
    own = soon(world)
    sign_in(browser, "berat")
    browser.get("/tasks")
    browser.get("/appointments")
    assert browser.get("/access-log").status_code == 403
    sign_in(browser, "chef")
    page = browser.get("/access-log").text
    assert "Rückrufbitte" in page
    assert "Termin" in page
    assert "Falke" not in page
    assert "morgens" not in page
    assert "151" not in page
    only = browser.get(f"/access-log?kind=appointment&id={own}").text
    assert "<td>Rückrufbitte</td>" not in only
    assert only.count("<td>Termin</td>") == 1
    assert f"<td>Termin</td><td>{own}</td>" in only
    assert (
        browser.get(f"/access-log?kind=callback_request&id={callback}").text.count(
            "<td>Rückrufbitte</td>"
        )
        == 1
    )
    for hostile in ("?kind=%00", "?id=99999999999999999999", "?kind=<script>", "?id=-1"):
        assert browser.get(f"/access-log{hostile}").status_code == 200, hostile


def test_entries_go_after_the_retention_and_the_job_is_scheduled(
    database: Database, settings: Settings
) -> None:
    reader = access.Principal(actor="user:7 berat", user_id=7)
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    days = settings.config.access_log.retention_days
    with database.write() as session:
        access_log.opened(session, reader, "appointment", [1], now - timedelta(days=days + 1))
        access_log.opened(session, reader, "appointment", [2, 2], now - timedelta(days=days - 1))
        assert access_log.opened(session, access.system("cli"), "appointment", [3], now) == 0
    assert access_log.retention_job(database, settings, now) == 1
    assert [record for _, _, record in logged(database)] == [2]
    everything = compose.jobs(database, settings, providers.for_settings(database, settings))
    assert "access_log.retention" in {job.id for job in everything}


def test_an_unknown_kind_is_a_bug_not_a_row(database: Database) -> None:
    with pytest.raises(ValueError, match="unknown kind"), database.write() as session:
        access_log.opened(session, access.Principal(actor="user:1 x", user_id=1), "x", [1])
