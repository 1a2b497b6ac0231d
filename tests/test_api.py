"""/api/v1 end to end through the ASGI app, on every test database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select
from starlette.routing import Route
from starlette.testclient import TestClient

from config.model import HotlineConfig
from foundation.db import Database
from foundation.models import ApiKey, AuditEntry, Counsellor, Shift
from scheduling.demo import load_demo
from tests.conftest import add_counsellor, berlin, quoted
from web.app import create_app
from web.openapi import document


def counts(database: Database) -> tuple[int, int, int]:
    with database.read() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Counsellor, Shift, AuditEntry)
        )


def check_against_openapi(response: Any, path: str, method: str) -> None:
    """The response body matches what the OpenAPI document promises for it."""
    spec = document("test")
    operation = spec["paths"][path][method]
    promised = operation["responses"].get(str(response.status_code))
    assert promised is not None, f"{method} {path} answered {response.status_code}, not documented"
    for header in promised.get("headers", {}):
        assert header.lower() in response.headers, f"{method} {path}: no {header} header"
    if "content" not in promised:
        assert response.content == b""
        return
    schema = {
        **promised["content"]["application/json"]["schema"],
        "components": spec["components"],
    }
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into #/components.
    resolver_schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    jsonschema.validate(response.json(), resolver_schema)


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer hk_wrong", "Basic dXNlcjpwYXNz", "hk_nobearer"],
)
def test_requests_without_a_valid_key_are_refused(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/counsellors", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"


def test_revoked_key_is_refused(client: TestClient, database: Database, api_key: str) -> None:
    from foundation.apikeys import revoke_named

    with database.write() as session:
        assert revoke_named(session, "tests", actor="tests") == 1
    response = client.get("/api/v1/counsellors", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 401


def test_only_the_hash_of_a_key_is_stored(database: Database, api_key: str) -> None:
    with database.read() as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
    assert api_key not in stored
    assert all(len(digest) == 64 for digest in stored)


# --- counsellors ------------------------------------------------------------------------------


def test_create_and_list_counsellors(api: TestClient) -> None:
    response = api.post(
        "/api/v1/counsellors",
        json={
            "name": "Amira Yilmaz",
            "phone": "0151 2345 6789",
            "email": "amira@example.org",
            "teams": ["islamism"],
        },
    )
    assert response.status_code == 201, response.text
    check_against_openapi(response, "/api/v1/counsellors", "post")
    created = response.json()
    assert created["phone"] == "+4915123456789"
    assert created["teams"] == ["islamism"]

    listed = api.get("/api/v1/counsellors", params={"team": "islamism"})
    assert listed.status_code == 200
    check_against_openapi(listed, "/api/v1/counsellors", "get")
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]
    assert api.get("/api/v1/counsellors", params={"team": "right-wing"}).json()["items"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "phone": "12", "teams": ["islamism"]}, "phone"),
        ({"name": "X", "phone": "not a number", "teams": ["islamism"]}, "phone"),
        ({"name": "X", "phone": "+4915123456789", "teams": ["left-wing"]}, "team"),
        ({"name": "", "phone": "+4915123456789"}, "name"),
        ({"name": "X", "phone": "+4915123456789", "colour": "red"}, "colour"),
        ({"name": "X", "phone": "+4915123456789", "email": "nope"}, "email"),
        ({"phone": "+4915123456789"}, "name"),
    ],
)
def test_bad_counsellor_is_refused_and_changes_nothing(
    api: TestClient, database: Database, payload: dict[str, Any], field: str
) -> None:
    before = counts(database)
    response = api.post("/api/v1/counsellors", json=payload)
    assert response.status_code == 422, response.text
    check_against_openapi(response, "/api/v1/counsellors", "post")
    body = response.json()
    assert body["message"]
    assert any(field in (detail["field"] or "") for detail in body["details"]), body
    assert counts(database) == before


def test_a_counsellors_languages_are_taken_and_returned(
    api: TestClient, database: Database
) -> None:
    plain = {"name": "Deniz Kaya", "phone": "0151 2345 6780", "teams": ["islamism"]}
    left_out = api.post("/api/v1/counsellors", json=plain)
    assert left_out.status_code == 201, left_out.text
    assert left_out.json()["languages"] == ["de"]
    given = api.post(
        "/api/v1/counsellors",
        json={**plain, "phone": "0151 2345 6781", "languages": ["TR", "de", "tr"]},
    )
    assert given.status_code == 201, given.text
    check_against_openapi(given, "/api/v1/counsellors", "post")
    assert given.json()["languages"] == ["tr", "de"]
    with database.read() as session:
        stored = session.get(Counsellor, given.json()["id"])
        assert stored is not None
        assert stored.languages == ["tr", "de"]
    listed = api.get("/api/v1/counsellors", params={"team": "islamism"}).json()["items"]
    assert {c["id"]: c["languages"] for c in listed} == {
        left_out.json()["id"]: ["de"],
        given.json()["id"]: ["tr", "de"],
    }


@pytest.mark.parametrize(
    "languages",
    [[], ["xx"], ["deu"], ["de-DE"], [""], [7], [["de"]], "de", None, ["de"] * 1000, {"de": 1}],
)
def test_bad_languages_are_a_422_naming_the_field_and_change_nothing(
    api: TestClient, database: Database, languages: Any
) -> None:
    before = counts(database)
    response = api.post(
        "/api/v1/counsellors",
        json={
            "name": "X",
            "phone": "0151 2345 6782",
            "teams": ["islamism"],
            "languages": languages,
        },
    )
    assert response.status_code == 422, response.text
    check_against_openapi(response, "/api/v1/counsellors", "post")
    assert any("languages" in (d["field"] or "") for d in response.json()["details"]), response.text
    assert counts(database) == before


def test_error_messages_never_echo_a_phone_number(api: TestClient) -> None:
    response = api.post(
        "/api/v1/counsellors",
        json={"name": "X", "phone": "+49 999 1234567890123", "teams": []},
    )
    assert response.status_code == 422
    assert "1234567890123" not in response.text


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b"name=x", "application/x-www-form-urlencoded", 415),
        (b'{"name": "' + b"x" * 70_000 + b'"}', "application/json", 413),
        (b"[]", "application/json", 422),
    ],
)
def test_unreadable_bodies_are_refused(
    api: TestClient, database: Database, content: bytes, content_type: str, status: int
) -> None:
    before = counts(database)
    response = api.post(
        "/api/v1/counsellors", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["error"]
    check_against_openapi(response, "/api/v1/counsellors", "post")
    assert counts(database) == before


# --- shifts -----------------------------------------------------------------------------------


@pytest.fixture
def person(database: Database, config: HotlineConfig) -> int:
    with database.write() as session:
        return add_counsellor(session, config, "islamism", name="Jonas Becker").id


def shift(person: int, start: Any, end: Any, **extra: Any) -> dict[str, Any]:
    return {
        "team": "islamism",
        "counsellor_id": person,
        "tier": "primary",
        "start": start.isoformat(),
        "end": end.isoformat(),
        **extra,
    }


def test_create_list_and_delete_shift(api: TestClient, person: int) -> None:
    start, end = berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)
    response = api.post("/api/v1/shifts", json=shift(person, start, end))
    assert response.status_code == 201, response.text
    check_against_openapi(response, "/api/v1/shifts", "post")
    created = response.json()
    assert created["start"] == "2026-12-01T09:00:00+01:00"
    assert created["counsellor_name"] == "Jonas Becker"

    listed = api.get(
        f"/api/v1/shifts?team=islamism&from={quoted(start)}&to={quoted(start + timedelta(days=7))}"
    )
    assert listed.status_code == 200, listed.text
    check_against_openapi(listed, "/api/v1/shifts", "get")
    assert [s["id"] for s in listed.json()["items"]] == [created["id"]]

    deleted = api.delete(f"/api/v1/shifts/{created['id']}")
    assert deleted.status_code == 204
    check_against_openapi(deleted, "/api/v1/shifts/{shift_id}", "delete")
    gone = api.delete(f"/api/v1/shifts/{created['id']}")
    assert gone.status_code == 404
    check_against_openapi(gone, "/api/v1/shifts/{shift_id}", "delete")


def test_unescaped_plus_in_query_times_is_understood(api: TestClient, person: int) -> None:
    start = berlin(2026, 12, 1, 9)
    api.post("/api/v1/shifts", json=shift(person, start, start + timedelta(days=1)))
    response = api.get(f"/api/v1/shifts?from={start.isoformat()}")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"team": "left-wing"}, 422, "team"),
        ({"end": "2026-12-01T08:00:00+01:00"}, 422, "end"),
        ({"end": "2027-02-01T09:00:00+01:00"}, 422, "end"),
        ({"start": "2026-12-01T09:00:00"}, 422, "start"),
        ({"tier": "tertiary"}, 422, "tier"),
        ({"counsellor_id": 999_999}, 422, "counsellor_id"),
        ({"team": "right-wing"}, 422, "team"),  # not a member
    ],
)
def test_bad_shift_is_refused_and_changes_nothing(
    api: TestClient,
    database: Database,
    person: int,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    before = counts(database)
    payload = shift(person, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)) | change
    response = api.post("/api/v1/shifts", json=payload)
    assert response.status_code == status, response.text
    check_against_openapi(response, "/api/v1/shifts", "post")
    assert any(field in (d["field"] or "") for d in response.json()["details"]), response.text
    assert counts(database) == before


def test_overlapping_shift_of_same_counsellor_in_same_team_is_a_conflict(
    api: TestClient, database: Database, config: HotlineConfig, person: int
) -> None:
    first = api.post(
        "/api/v1/shifts", json=shift(person, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9))
    )
    assert first.status_code == 201
    before = counts(database)
    clash = api.post(
        "/api/v1/shifts",
        json=shift(person, berlin(2026, 12, 1, 20), berlin(2026, 12, 2, 20), tier="backup"),
    )
    assert clash.status_code == 409, clash.text
    check_against_openapi(clash, "/api/v1/shifts", "post")
    assert "already" in clash.json()["message"]
    assert counts(database) == before
    # Back to back is fine: intervals are half-open.
    after = api.post(
        "/api/v1/shifts", json=shift(person, berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9))
    )
    assert after.status_code == 201
    # On call for two teams at once is allowed (a counsellor in both teams).
    with database.write() as session:
        other = add_counsellor(session, config, "islamism", "right-wing")
    both = [
        api.post(
            "/api/v1/shifts",
            json=shift(other.id, berlin(2026, 12, 5, 9), berlin(2026, 12, 6, 9), team=team),
        )
        for team in ("islamism", "right-wing")
    ]
    assert [r.status_code for r in both] == [201, 201]


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "from=2026-12-01T09:00:00",  # no offset
        "from=2026-12-10T00:00:00%2B01:00&to=2026-12-01T00:00:00%2B01:00",
        "from=2026-01-01T00:00:00%2B01:00&to=2027-12-01T00:00:00%2B01:00",
        "counsellor_id=-1",
        "team=nobody",
    ],
)
def test_bad_shift_queries(api: TestClient, query: str) -> None:
    response = api.get(f"/api/v1/shifts?{query}")
    assert response.status_code == 422, response.text
    check_against_openapi(response, "/api/v1/shifts", "get")


def test_mutations_are_audited_with_the_key(
    api: TestClient, database: Database, person: int
) -> None:
    api.post("/api/v1/shifts", json=shift(person, berlin(2026, 12, 1, 9), berlin(2026, 12, 2, 9)))
    with database.read() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "shift").order_by(AuditEntry.id.desc())
        ).first()
    assert entry is not None
    assert entry.action == "create"
    assert entry.actor.startswith("api-key:")
    assert entry.actor.endswith("tests")


# --- on call ----------------------------------------------------------------------------------


def test_oncall_with_demo_data(api: TestClient, database: Database, config: HotlineConfig) -> None:
    today = berlin(2026, 11, 25).date()
    with database.write() as session:
        assert load_demo(session, config, today)
    at = berlin(2026, 11, 25, 12)
    response = api.get(f"/api/v1/oncall?team=islamism&at={quoted(at)}")
    assert response.status_code == 200, response.text
    check_against_openapi(response, "/api/v1/oncall", "get")
    body = response.json()
    assert body["team"] == "islamism"
    assert body["at"] == "2026-11-25T12:00:00+01:00"
    assert len(body["primary"]) == 1
    assert len(body["backup"]) == 1
    assert body["primary"][0]["id"] != body["backup"][0]["id"]
    assert body["next_change"] == "2026-11-26T09:00:00+01:00"
    # The next day someone else takes over.
    later = api.get(f"/api/v1/oncall?team=islamism&at={quoted(at + timedelta(days=1))}").json()
    assert later["primary"] != body["primary"]


def test_oncall_without_a_rota_is_empty(api: TestClient) -> None:
    body = api.get("/api/v1/oncall?team=right-wing").json()
    assert body["primary"] == []
    assert body["backup"] == []
    assert body["next_change"] is None


def test_oncall_across_the_spring_dst_change(
    api: TestClient, database: Database, config: HotlineConfig, person: int
) -> None:
    # A 24-hour local shift from Saturday 09:00 lasts 23 real hours on 2026-03-29.
    response = api.post(
        "/api/v1/shifts", json=shift(person, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9))
    )
    assert response.status_code == 201
    body = response.json()
    assert body["end"] == "2026-03-29T09:00:00+02:00"
    now = api.get(f"/api/v1/oncall?team=islamism&at={quoted(berlin(2026, 3, 29, 8, 59))}").json()
    assert [p["id"] for p in now["primary"]] == [person]
    assert now["next_change"] == "2026-03-29T09:00:00+02:00"


@pytest.mark.parametrize(
    "query", ["", "team=nobody", "team=islamism&at=soon", "team=islamism&at=2026-12-01T09:00"]
)
def test_bad_oncall_queries(api: TestClient, query: str) -> None:
    response = api.get(f"/api/v1/oncall?{query}")
    assert response.status_code == 422, response.text
    check_against_openapi(response, "/api/v1/oncall", "get")


# --- the document -----------------------------------------------------------------------------


def test_openapi_document_is_valid_and_served(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_openapi_document_lists_exactly_the_api_routes(settings: Any, database: Database) -> None:
    app = create_app(settings, database=database)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        and route.path.startswith("/api/v1/")
        and route.methods
        and route.path != "/api/v1/openapi.json"
        for method in route.methods
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, operations in document("x")["paths"].items()
        for method in operations
    }
    assert documented == served
