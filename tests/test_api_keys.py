"""API keys with a scope (teams, read-only) and a lifetime: through the API, the command line,
the admins' page, and the migration that keeps older keys working."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from alembic import command
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.cli import main
from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys
from foundation.db import Database, alembic_config, make_engine, upgrade
from foundation.models import ApiKey, AuditEntry, Role, Shift
from tests.conftest import add_counsellor
from tests.helpers import https_client
from tests.test_api import check_against_openapi
from tests.test_auth import csrf_of, make_user, sign_in


def key(database: Database, *teams: str, read_only: bool = False, days: int | None = None) -> str:
    with database.write() as session:
        _, plain = apikeys.create_api_key(
            session, "scoped", actor="tests", teams=list(teams), read_only=read_only,
            expires_days=days,
        )  # fmt: skip
    return plain


def as_key(client: TestClient, plain: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {plain}"
    return client


def shifts(database: Database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Shift)) or 0


@pytest.fixture
def people(database: Database, config: HotlineConfig) -> dict[str, int]:
    with database.write() as session:
        return {
            team: add_counsellor(session, config, team, name=f"Person {team}").id
            for team in ("islamism", "right-wing")
        }


def shift_body(team: str, counsellor_id: int, day: int = 3) -> dict[str, Any]:
    return {"team": team, "counsellor_id": counsellor_id, "tier": "primary",
            "start": f"2031-03-{day:02d}T09:00:00+01:00",
            "end": f"2031-03-{day:02d}T17:00:00+01:00"}  # fmt: skip


# --- through the API -----------------------------------------------------------------------------


def test_a_key_of_islamism_gets_403_on_right_wing_data_and_changes_nothing(
    client: TestClient, database: Database, people: dict[str, int]
) -> None:
    everyone = as_key(TestClient(client.app), key(database))
    assert everyone.post("/api/v1/shifts", json=shift_body("right-wing", people["right-wing"]))
    assert everyone.post("/api/v1/shifts", json=shift_body("islamism", people["islamism"]))
    assert shifts(database) == 2
    api = as_key(client, key(database, "islamism"))
    window = "from=2031-03-01T00:00:00%2B01:00&to=2031-03-31T00:00:00%2B02:00"
    for path in (
        f"/api/v1/shifts?team=right-wing&{window}",
        "/api/v1/oncall?team=right-wing",
        "/api/v1/counsellors?team=right-wing",
        f"/api/v1/appointments?team=right-wing&{window}",
    ):
        refused = api.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "forbidden"
        check_against_openapi(refused, path.split("?")[0], "get")
    created = api.post("/api/v1/shifts", json=shift_body("right-wing", people["right-wing"], 4))
    assert created.status_code == 403
    assert shifts(database) == 2
    # Unnarrowed listings hold only its own team.
    listed = api.get(f"/api/v1/shifts?{window}").json()["items"]
    assert [s["team"] for s in listed] == ["islamism"]
    names = [c["name"] for c in api.get("/api/v1/counsellors").json()["items"]]
    assert names == ["Person islamism"]
    assert api.get("/api/v1/oncall?team=islamism").status_code == 200
    own = api.post("/api/v1/shifts", json=shift_body("islamism", people["islamism"], 5))
    assert own.status_code == 201
    assert shifts(database) == 3


def test_a_read_only_key_lists_but_may_not_write(
    api: TestClient, database: Database, people: dict[str, int]
) -> None:
    assert api.post("/api/v1/shifts", json=shift_body("islamism", people["islamism"]))
    shift_id = api.get(
        "/api/v1/shifts?from=2031-03-01T00:00:00%2B01:00&to=2031-03-31T00:00:00%2B02:00"
    ).json()["items"][0]["id"]
    reader = as_key(TestClient(api.app), key(database, read_only=True))
    listed = reader.get(
        "/api/v1/shifts?from=2031-03-01T00:00:00%2B01:00&to=2031-03-31T00:00:00%2B02:00"
    )
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1
    for response in (
        reader.post("/api/v1/shifts", json=shift_body("islamism", people["islamism"], 6)),
        reader.delete(f"/api/v1/shifts/{shift_id}"),
        reader.post(
            "/api/v1/counsellors",
            json={"name": "X", "phone": "+4915123456789", "teams": ["islamism"]},
        ),
    ):
        assert response.status_code == 403
        assert response.json()["message"] == "this API key is read-only"
    assert shifts(database) == 1


def test_a_key_stops_working_when_it_expires(client: TestClient, database: Database) -> None:
    with time_machine.travel(datetime(2026, 12, 2, 10, tzinfo=UTC), tick=False):
        plain = key(database, days=30)
        api = as_key(client, plain)
        assert api.get("/api/v1/counsellors").status_code == 200
    with time_machine.travel(datetime(2027, 1, 1, 9, 59, tzinfo=UTC), tick=False):
        assert api.get("/api/v1/counsellors").status_code == 200
    with time_machine.travel(datetime(2027, 1, 1, 10, 0, tzinfo=UTC), tick=False):
        assert api.get("/api/v1/counsellors").status_code == 401


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"teams": ["nowhere"]}, "teams"),
        ({"expires_days": 0}, "expires_days"),
        ({"expires_days": 3651}, "expires_days"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
    ],
)
def test_a_bad_key_is_refused_and_nothing_is_stored(
    database: Database, extra: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"name": "ops", **extra}
    with pytest.raises(apikeys.Invalid) as refused, database.write() as session:
        apikeys.create_api_key(session, args.pop("name"), actor="tests", **args)
    assert refused.value.field == field
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_revoking_is_audited_and_the_audit_never_holds_the_key(database: Database) -> None:
    plain = key(database, "islamism", read_only=True, days=7)
    with database.write() as session:
        found = apikeys.find_live_key(session, plain)
        assert found is not None
        apikeys.revoke(session, found.id, actor="tests")
        apikeys.revoke(session, found.id, actor="tests")  # again: nothing more happens
    with database.read() as session:
        assert apikeys.find_live_key(session, plain) is None
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.entity == "api_key")))
    assert [e.action for e in entries] == ["create", "revoke"]
    assert entries[0].after is not None
    assert entries[0].after["teams"] == ["islamism"]
    assert entries[0].after["read_only"] is True
    assert all(plain not in repr((e.before, e.after)) for e in entries)


def test_keys_made_before_scopes_keep_working_as_every_team_read_and_write(
    db_url: str,
) -> None:
    command.upgrade(alembic_config(db_url), "0013")
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO api_keys (name, key_hash, created_at) VALUES ('alt', :hash, :now)"
                ),
                {"hash": "a" * 64, "now": datetime(2026, 1, 1, tzinfo=UTC)},
            )
        upgrade(db_url)
        database = Database(engine)
        with database.read() as session:
            old = session.scalars(select(ApiKey)).one()
            principal = apikeys.principal(old)
        assert old.all_teams
        assert not old.read_only
        assert old.expires_at is None
        assert principal.sees_everything
        assert principal.may_write
    finally:
        engine.dispose()


# --- the command line ----------------------------------------------------------------------------


def test_apikey_create_list_and_revoke(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["apikey", "create", "--name", "rota-script", "--team", "islamism", "--read-only",
            "--expires-days", "90"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.rstrip("\n").splitlines()
    assert out[-1].startswith("hk_")
    assert "teams islamism, read-only, expires" in out[0]
    assert main(["apikey", "create", "--name", "all"]) == 0
    plain = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    assert "rota-script\tlive\tteams islamism, read-only, expires" in listing
    assert "all\tlive\tevery team, read and write\tlast used never" in listing
    assert "hk_" not in listing
    first = int(listing.splitlines()[-1].split("\t")[0])
    assert main(["apikey", "revoke", str(first)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["apikey", "list"]) == 0
    assert "rota-script\trevoked" in capsys.readouterr().out
    database = Database(make_engine(env))
    try:
        with database.read() as session:
            assert apikeys.find_live_key(session, plain) is not None
    finally:
        database.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["apikey", "create", "--name", "x", "--team", "nowhere"], "unknown team: nowhere"),
        (["apikey", "create", "--name", "x", "--expires-days", "0"], "expires_days"),
        (["apikey", "revoke", "999999"], "no API key 999999"),
    ],
)
def test_apikey_commands_refuse_bad_input(
    env: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    database = Database(make_engine(env))
    try:
        with database.read() as session:
            assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
    finally:
        database.dispose()


# --- the admins' page ----------------------------------------------------------------------------


@pytest.fixture
def admin(settings: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    make_user(database, config, "chef", Role.ADMIN)
    with https_client(settings, database) as client:
        yield sign_in(client, "chef")


def test_an_admin_creates_a_scoped_key_sees_it_once_and_revokes_it(
    admin: TestClient, database: Database
) -> None:
    csrf = csrf_of(admin.get("/apikeys").text)
    form = {"csrf": csrf, "name": "Statistik", "teams": ["islamism"], "read_only": "1",
            "expires_days": "30"}  # fmt: skip
    created = admin.post("/apikeys", data=form)
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    plain = created.text.split('<code class="secret">')[1].split("</code>")[0]
    assert plain.startswith("hk_")
    again = admin.get("/apikeys").text
    assert plain not in again
    assert "Statistik" in again
    assert "nur lesen" in again
    assert "Islamismus" in again
    with database.read() as session:
        stored = apikeys.find_live_key(session, plain)
        assert stored is not None
        assert [t.slug for t in stored.teams] == ["islamism"]
        assert stored.read_only
        key_id = stored.id
    revoked = admin.post(f"/apikeys/{key_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert "widerrufen" in admin.get("/apikeys").text
    with database.read() as session:
        assert apikeys.find_live_key(session, plain) is None


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": ""}, "Bitte geben Sie einen Namen an"),
        ({"name": "ok", "expires_days": "0"}, "Laufzeit zwischen 1 und 3650"),
        ({"name": "ok", "expires_days": "99999999999999999999"}, "Laufzeit"),
        ({"name": "ok", "expires_days": "١٢"}, "Laufzeit"),
        ({"name": "ok", "teams": "nowhere"}, "Dieses Team gibt es nicht."),
        ({"name": "a\x1bb"}, "unzulässiges Steuerzeichen"),  # web.auth.page refuses it
    ],
)
def test_a_bad_key_form_is_refused_in_german_and_stores_nothing(
    admin: TestClient, database: Database, form: dict[str, str], message: str
) -> None:
    csrf = csrf_of(admin.get("/apikeys").text)
    refused = admin.post("/apikeys", data={"csrf": csrf, **form})
    assert refused.status_code == 422
    assert message in refused.text
    assert "hk_" not in refused.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_the_keys_page_is_for_admins_only(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    with https_client(settings, database) as client:
        coordinator = sign_in(client, "koord")
        assert coordinator.get("/apikeys").status_code == 403
        csrf = csrf_of(coordinator.get("/").text)
        assert coordinator.post("/apikeys", data={"csrf": csrf, "name": "x"}).status_code == 403
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
