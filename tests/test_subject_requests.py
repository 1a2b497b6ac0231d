"""A client's data-subject requests over HTTP (issue 18, item 5): the export as a readable
page, as a JSON file and from the API; erasure with its confirmation step on the page and by
DELETE on the API; only the team's staff (an admin as such, another team, a read-only key for
erasure: refused as if the client did not exist), and a refusal changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys
from foundation.db import Database
from foundation.models import AccessLogEntry, AuditEntry, Client, Counsellor, Role
from tests.test_auth import csrf_of, make_user, sign_in
from tests.test_retention import everything, seed_client
from web.schemas import ClientExportOut


def _world(database: Database, config: HotlineConfig, settings: Settings) -> int:
    """Staff of both teams, a coordinator, an admin; a client of islamism (its id)."""
    make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    make_user(database, config, "rita", Role.COUNSELLOR, "right-wing")
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    make_user(database, config, "chef", Role.ADMIN)
    with database.read() as session:
        amira = session.scalars(select(Counsellor.id).where(Counsellor.name == "Amira")).one()
    return seed_client(database, settings, None, amira, ended_at=None).client_id


KEPT = ("web_sessions", "login_attempts", "api_keys", "access_log")  # what a refusal may touch


def _state(database: Database) -> list[tuple[str, str, object]]:
    return [row for row in everything(database) if row[0] not in KEPT]


def _key(database: Database, config: HotlineConfig, team: str, *, read_only: bool = False) -> str:
    with database.write() as session:
        _, plain = apikeys.create_api_key(
            session, "tests", actor="tests", teams=[team], read_only=read_only
        )
    return plain


def test_staff_read_the_export_as_a_page_and_a_file(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    client_id = _world(database, config, settings)
    sign_in(browser, "amira")
    page = browser.get(f"/clients/{client_id}/export")
    assert page.status_code == 200
    assert "Auskunft über gespeicherte Daten" in page.text
    for shown in ("Nordstern-Falke-1", "Ausstiegsplan-Geheimnis-1", "Cafe-Treffpunkt-1"):
        assert shown in page.text
    assert "Nachricht-vom-Klienten-1" in page.text
    assert "Mo 10.03.2025, 14:00 Uhr" in page.text  # German dates, with the year
    assert page.headers["cache-control"] == "no-store"
    file = browser.get(f"/clients/{client_id}/export.json")
    assert file.status_code == 200
    assert "attachment" in file.headers["content-disposition"]
    document = ClientExportOut.model_validate(json.loads(file.text))
    assert document.client.phone == "+4917612345001"
    with database.read() as session:
        kinds = session.scalars(
            select(AccessLogEntry.kind).where(AccessLogEntry.kind == "client_export")
        ).all()
    assert len(kinds) == 2


@pytest.mark.parametrize("who", ["chef", "rita"])
def test_an_admin_or_another_team_finds_no_such_client(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings, who: str
) -> None:
    client_id = _world(database, config, settings)
    sign_in(browser, who)
    before = _state(database)
    for path in ("export", "export.json", "erase"):
        assert browser.get(f"/clients/{client_id}/{path}").status_code == 404, path
    csrf = csrf_of(browser.get("/account").text)
    answer = browser.post(
        f"/clients/{client_id}/erase", data={"csrf": csrf, "confirm": "Nordstern-Falke-1"}
    )
    assert answer.status_code == 404
    assert _state(database) == before


def test_erasure_on_the_page_asks_for_the_pseudonym_first(
    browser: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    client_id = _world(database, config, settings)
    sign_in(browser, "koord")
    form = browser.get(f"/clients/{client_id}/erase")
    assert form.status_code == 200
    assert "Nordstern-Falke-1" in form.text
    csrf = csrf_of(form.text)
    wrong = browser.post(f"/clients/{client_id}/erase", data={"csrf": csrf, "confirm": "Falke"})
    assert wrong.status_code == 422
    assert "nichts gelöscht" in wrong.text
    with database.read() as session:
        assert session.get(Client, client_id) is not None
    done = browser.post(
        f"/clients/{client_id}/erase", data={"csrf": csrf, "confirm": "Nordstern-Falke-1"}
    )
    assert done.status_code == 200
    assert "Akte gelöscht" in done.text
    assert browser.get(f"/clients/{client_id}").status_code == 404
    assert browser.get(f"/clients/{client_id}/export").status_code == 404
    with database.read() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "erase")).all()
    assert entry.actor.endswith("koord")


def test_the_api_exports_and_erases_for_a_key_of_the_team_only(
    client: TestClient, database: Database, config: HotlineConfig, settings: Settings
) -> None:
    client_id = _world(database, config, settings)
    url = f"/api/v1/clients/{client_id}"
    other = {"Authorization": f"Bearer {_key(database, config, 'right-wing')}"}
    reader = {"Authorization": f"Bearer {_key(database, config, 'islamism', read_only=True)}"}
    own = {"Authorization": f"Bearer {_key(database, config, 'islamism')}"}
    before = _state(database)
    assert client.get(f"{url}/export", headers=other).status_code == 404
    assert client.delete(url, headers=other).status_code == 404
    assert client.delete(url, headers=reader).status_code == 403
    assert _state(database) == before
    exported = client.get(f"{url}/export", headers=reader)
    assert exported.status_code == 200
    body = exported.json()
    assert body["client"]["pseudonym"] == "Nordstern-Falke-1"
    assert body["plan"]["steps"][0]["title"] == "Ausstiegsplan-Geheimnis-1"
    assert client.get("/api/v1/clients/999999/export", headers=own).status_code == 404
    assert client.delete(url, headers=own).status_code == 204
    assert client.get(f"{url}/export", headers=own).status_code == 404
    assert client.delete(url, headers=own).status_code == 404  # gone: as if it never was
    with database.read() as session:
        assert session.scalars(select(Client)).all() == []
