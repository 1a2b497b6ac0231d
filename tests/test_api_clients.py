"""/api/v1/clients: create a client, read it with its timeline, its plan's steps; appointments
booked with `client_id`; a key of another team gets a 404 (or a 403 for its team in a body), a
read-only key reads and writes nothing; hostile input is a 422, never a 500; every answer as
the OpenAPI document says."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from foundation import apikeys
from foundation.db import Database
from foundation.models import (
    AccessLogEntry,
    Appointment,
    AuditEntry,
    Client,
    PlanStep,
    Voicemail,
)
from tests.conftest import add_counsellor
from tests.test_api import check_against_openapi

PHONE = "+4915123456789"
START, END = "2031-03-03T09:00:00+01:00", "2031-03-03T10:00:00+01:00"


def _key(database: Database, teams: list[str] | None = None, *, read_only: bool = False) -> str:
    with database.write() as session:
        _, plain = apikeys.create_api_key(
            session, "tests", actor="tests", teams=teams, read_only=read_only
        )
    return plain


def _count(database: Database, model: type) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_create_read_and_plan_a_client(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism", name="Amira").id
    created = api.post(
        "/api/v1/clients",
        json={"team": "islamism", "pseudonym": "Falke", "phone": "0151 23456789",
              "sms_consent": True, "relative": True, "counsellor_ids": [person]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    check_against_openapi(created, "/api/v1/clients", "post")
    client = created.json()
    assert client["phone"] != PHONE
    assert client["status"] == "first_contact"
    assert client["relative"] is True
    assert created.headers["location"] == f"/api/v1/clients/{client['id']}"
    booked = api.post(
        "/api/v1/appointments",
        json={"counsellor_id": person, "client_id": client["id"], "start": START, "end": END,
              "mode": "phone"},
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    check_against_openapi(booked, "/api/v1/appointments", "post")
    assert booked.json()["client"]["pseudonym"] == "Falke"
    assert booked.json()["client"]["sms_consent"] is True
    shown = api.get(f"/api/v1/clients/{client['id']}")
    assert shown.status_code == 200
    check_against_openapi(shown, "/api/v1/clients/{client_id}", "get")
    (entry,) = shown.json()["timeline"]
    assert entry["kind"] == "appointment"
    assert entry["status"] == "booked"
    assert entry["at"] == START
    base = f"/api/v1/clients/{client['id']}/plan"
    step = api.post(base, json={"title": "Szene verlassen", "notes": "Zeile 1\nZeile 2"})
    assert step.status_code == 201, step.text
    check_against_openapi(step, "/api/v1/clients/{client_id}/plan", "post")
    assert step.json()["position"] == 1
    changed = api.patch(f"{base}/{step.json()['id']}", json={"status": "reached"})
    assert changed.status_code == 200, changed.text
    check_against_openapi(changed, "/api/v1/clients/{client_id}/plan/{step_id}", "patch")
    assert changed.json()["status"] == "reached"
    assert changed.json()["notes"] == "Zeile 1\nZeile 2"
    listed = api.get(base)
    check_against_openapi(listed, "/api/v1/clients/{client_id}/plan", "get")
    assert [s["title"] for s in listed.json()["steps"]] == ["Szene verlassen"]
    with database.read() as session:
        kinds = set(session.scalars(select(AccessLogEntry.kind)))
    assert "client" in kinds


def test_inline_clients_still_book_and_both_or_neither_is_a_422(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism").id
    base = {"counsellor_id": person, "start": START, "end": END, "mode": "phone"}
    inline = api.post("/api/v1/appointments", json={**base, "client": {"pseudonym": "Adler"}})
    assert inline.status_code == 201
    assert inline.json()["client"]["pseudonym"] == "Adler"
    neither = api.post("/api/v1/appointments", json=base)
    assert neither.status_code == 422
    both = api.post(
        "/api/v1/appointments", json={**base, "client": {"pseudonym": "x"}, "client_id": 1}
    )
    assert both.status_code == 422
    missing = api.post("/api/v1/appointments", json={**base, "client_id": 999_999})
    assert missing.status_code == 422
    assert missing.json()["details"][0]["field"] == "client_id"


def test_another_teams_key_gets_nothing_and_changes_nothing(
    client: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism").id
    client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'])}"
    own = client.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"}).json()
    client.headers["Authorization"] = f"Bearer {_key(database, ['right-wing'])}"
    for path in (f"/api/v1/clients/{own['id']}", f"/api/v1/clients/{own['id']}/plan"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/api/v1/clients/{own['id']}/plan", json={"title": "x"}).status_code == 404
    refused = client.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Neu"})
    assert refused.status_code == 403
    booked = client.post(
        "/api/v1/appointments",
        json={"counsellor_id": person, "client_id": own["id"], "start": START, "end": END,
              "mode": "phone"},
    )  # fmt: skip
    assert booked.status_code in (403, 422)
    assert _count(database, Client) == 1
    assert _count(database, PlanStep) == 0
    assert _count(database, Appointment) == 0


def test_a_read_only_key_reads_and_writes_nothing(client: TestClient, database: Database) -> None:
    client.headers["Authorization"] = f"Bearer {_key(database)}"
    own = client.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"}).json()
    client.headers["Authorization"] = f"Bearer {_key(database, read_only=True)}"
    assert client.get(f"/api/v1/clients/{own['id']}").status_code == 200
    assert client.get(f"/api/v1/clients/{own['id']}/plan").status_code == 200
    writes = [
        client.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Neu"}),
        client.post(f"/api/v1/clients/{own['id']}/plan", json={"title": "x"}),
    ]
    assert [w.status_code for w in writes] == [403, 403]
    assert _count(database, Client) == 1


def test_hostile_input_is_a_422_never_a_500(api: TestClient, database: Database) -> None:
    created = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"}).json()
    base = f"/api/v1/clients/{created['id']}/plan"
    bad_bodies = [
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "0151 2345678"}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "a\u0000b"}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "x" * 101}),
        ("/api/v1/clients", {"team": "nirgends", "pseudonym": "Falke"}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "Neu", "counsellor_ids": [2**31]}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "Neu", "counsellor_ids": [999]}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "Neu", "sms_consent": True}),
        ("/api/v1/clients", {"team": "islamism", "pseudonym": "Neu", "phone": "12"}),
        (base, {"title": ""}),
        (base, {"title": "x", "notes": "a\u202eb"}),
        (base, {"title": "x", "status": "fertig"}),
    ]
    for path, payload in bad_bodies:
        answer = api.post(path, json=payload)
        assert answer.status_code == 422, (path, payload, answer.status_code)
    assert (
        api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "falke"}).status_code
        == 409
    )
    for path in ("/api/v1/clients/0", "/api/v1/clients/x", f"/api/v1/clients/{2**31}"):
        assert api.get(path).status_code == 422, path
    assert api.get(f"/api/v1/clients/{2**31 - 1}").status_code == 404
    assert api.patch(f"{base}/999999", json={"status": "reached"}).status_code == 404
    assert api.patch(f"{base}/1", json={"position": 0}).status_code == 422
    assert (
        api.patch(
            f"{base}/1", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        api.post(
            "/api/v1/clients", content=b"x", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert _count(database, Client) == 1
    assert _count(database, Voicemail) == 0


def _audit(database: Database, action: str) -> list[AuditEntry]:
    with database.read() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "client", AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        )


def test_patch_changes_details_status_and_review_as_the_page_does(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        first = add_counsellor(session, config, "islamism", name="Amira").id
        second = add_counsellor(session, config, "islamism", name="Berat").id
    created = api.post(
        "/api/v1/clients",
        json={"team": "islamism", "pseudonym": "Falke", "counsellor_ids": [first]},
    ).json()
    url = f"/api/v1/clients/{created['id']}"
    changed = api.patch(
        url,
        json={"pseudonym": "Habicht", "phone": "0151 23456789", "sms_consent": True,
              "relative": True, "preferred_channel": "sms", "counsellor_ids": [first, second]},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    check_against_openapi(changed, "/api/v1/clients/{client_id}", "patch")
    body = changed.json()
    assert body["pseudonym"] == "Habicht"
    assert body["phone"] is not None
    assert body["phone"] != PHONE
    assert body["sms_consent"] is True
    assert body["relative"] is True
    assert body["preferred_channel"] == "sms"
    assert body["counsellor_ids"] == sorted([first, second])
    # What a PATCH does not name stays.
    only = api.patch(url, json={"relative": False}).json()
    assert (only["pseudonym"], only["sms_consent"], only["preferred_channel"]) == (
        "Habicht",
        True,
        "sms",
    )
    assert only["counsellor_ids"] == sorted([first, second])
    assert only["phone"] == body["phone"]
    # The status and its dates.
    counselling = api.patch(url, json={"status": "in_counselling"}).json()
    assert counselling["status"] == "in_counselling"
    assert counselling["started_at"] is not None
    paused = api.patch(url, json={"status": "paused"}).json()
    assert paused["paused_at"] is not None
    assert paused["started_at"] == counselling["started_at"]
    ended = api.patch(url, json={"status": "ended"}).json()
    assert ended["ended_at"] is not None
    again = api.patch(url, json={"status": "in_counselling"}).json()
    assert again["ended_at"] is None
    assert again["started_at"] == counselling["started_at"]  # the first time stays
    # The next review, and none.
    reviewed = api.patch(url, json={"review_on": "2031-03-01"})
    assert reviewed.json()["review_on"] == "2031-03-01"
    assert api.get(f"{url}/plan").json()["review_on"] == "2031-03-01"
    assert api.patch(url, json={"review_on": None}).json()["review_on"] is None
    # Removing what may be removed.
    cleared = api.patch(
        url, json={"phone": None, "sms_consent": False, "preferred_channel": None}
    ).json()
    assert (cleared["phone"], cleared["sms_consent"], cleared["preferred_channel"]) == (
        None,
        False,
        None,
    )
    # Audited as the page's changes are: what changed, never the pseudonym or the number.
    updates = _audit(database, "update")
    assert updates
    assert all("Habicht" not in str(e.after) and "Falke" not in str(e.after) for e in updates)
    assert updates[0].after is not None
    assert updates[0].after["pseudonym_changed"] is True
    assert [e.after["status"] for e in _audit(database, "status") if e.after] == [
        "in_counselling",
        "paused",
        "ended",
        "in_counselling",
    ]
    assert len(_audit(database, "review")) == 2
    with database.read() as session:
        opened = session.scalars(
            select(AccessLogEntry.record_id).where(AccessLogEntry.kind == "client")
        ).all()
    assert created["id"] in opened


def test_patch_refuses_what_the_page_refuses_and_changes_nothing(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        other_team = add_counsellor(session, config, "right-wing").id
    api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Adler"})
    created = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"}).json()
    url = f"/api/v1/clients/{created['id']}"
    before = api.get(url).json()
    refused = [
        ({"pseudonym": "0151 2345678"}, 422),
        ({"pseudonym": "Klient 0151 23 45"}, 422),
        ({"pseudonym": ""}, 422),
        ({"pseudonym": None}, 422),
        ({"pseudonym": "x" * 101}, 422),
        ({"pseudonym": "a\u0000b"}, 422),
        ({"pseudonym": "ADLER"}, 409),  # the team has it (regardless of case)
        ({"phone": "12"}, 422),
        ({"sms_consent": True}, 422),  # no number
        ({"phone": "030 1234567", "sms_consent": True}, 422),  # not a mobile
        ({"counsellor_ids": [other_team]}, 422),
        ({"counsellor_ids": None}, 422),
        ({"status": "weg"}, 422),
        ({"status": None}, 422),
        ({"review_on": "9999-12-31"}, 422),
        ({"review_on": "0000-01-01"}, 422),
        ({"review_on": "2031-02-30"}, 422),
        ({"review_on": "morgen"}, 422),
        ({"team": "right-wing"}, 422),  # a client stays in its team
        # One transaction: a valid status with a refused pseudonym changes neither.
        ({"status": "ended", "pseudonym": "0151 2345678"}, 422),
        ({"review_on": "2031-03-01", "pseudonym": "adler"}, 409),
    ]
    for payload, code in refused:
        answer = api.patch(url, json=payload)
        assert answer.status_code == code, (payload, answer.status_code, answer.text)
        check_against_openapi(answer, "/api/v1/clients/{client_id}", "patch")
    assert api.get(url).json() == before
    assert _audit(database, "update") == []
    assert _audit(database, "status") == []
    for path in ("/api/v1/clients/0", "/api/v1/clients/x", f"/api/v1/clients/{2**70}"):
        assert api.patch(path, json={"status": "ended"}).status_code == 422, path
    assert api.patch("/api/v1/clients/999999", json={"status": "ended"}).status_code == 404
    assert (
        api.patch(url, content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert (
        api.patch(url, content=b"status=ended", headers={"content-type": "text/plain"})
    ).status_code == 415
    assert api.patch(url, json={}).json() == before  # nothing named, nothing changed


def test_patch_needs_a_writable_key_of_the_clients_team(
    client: TestClient, database: Database
) -> None:
    client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'])}"
    own = client.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke"}).json()
    url = f"/api/v1/clients/{own['id']}"
    client.headers["Authorization"] = f"Bearer {_key(database, ['right-wing'])}"
    assert client.patch(url, json={"status": "ended"}).status_code == 404
    client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'], read_only=True)}"
    refused = client.patch(url, json={"status": "ended"})
    assert refused.status_code == 403
    check_against_openapi(refused, "/api/v1/clients/{client_id}", "patch")
    del client.headers["Authorization"]
    assert client.patch(url, json={"status": "ended"}).status_code == 401
    client.headers["Authorization"] = f"Bearer {_key(database, ['islamism'])}"
    assert client.get(url).json()["status"] == "first_contact"
    assert client.put(url, json={"status": "ended"}).status_code == 405
    assert set(client.put(url).headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


def test_a_clients_language_is_set_read_changed_and_checked(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    """`language` on POST, GET and PATCH: German by default, one with reminder texts; a
    language without them (fr: a real code) or no language at all is a 422 naming the field,
    and changes nothing."""
    plain = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Adler"})
    assert plain.json()["language"] == "de"
    created = api.post(
        "/api/v1/clients", json={"team": "islamism", "pseudonym": "Falke", "language": "tr"}
    )
    assert created.status_code == 201, created.text
    check_against_openapi(created, "/api/v1/clients", "post")
    assert created.json()["language"] == "tr"
    url = f"/api/v1/clients/{created.json()['id']}"
    shown = api.get(url)
    check_against_openapi(shown, "/api/v1/clients/{client_id}", "get")
    assert shown.json()["language"] == "tr"
    changed = api.patch(url, json={"language": "en"})
    assert changed.status_code == 200, changed.text
    check_against_openapi(changed, "/api/v1/clients/{client_id}", "patch")
    assert changed.json()["language"] == "en"
    assert api.patch(url, json={"relative": True}).json()["language"] == "en"  # stays
    count = _count(database, Client)
    for payload in ({"language": "fr"}, {"language": "xx"}, {"language": "TR"},
                    {"language": None}, {"language": "tur"}):  # fmt: skip
        refused = api.patch(url, json={**payload, "pseudonym": "Habicht"})
        assert refused.status_code == 422, (payload, refused.text)
        assert [d["field"] for d in refused.json()["details"]] == ["language"], payload
        new = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Eule", **payload})
        assert new.status_code == 422, (payload, new.text)
        assert [d["field"] for d in new.json()["details"]] == ["language"], payload
    assert api.get(url).json()["pseudonym"] == "Falke"
    assert api.get(url).json()["language"] == "en"
    assert _count(database, Client) == count
    with database.read() as session:
        stored = session.scalars(select(Client.language).order_by(Client.id)).all()
    assert stored == ["de", "en"]
    export = api.get(f"{url}/export")
    assert export.status_code == 200, export.text
    assert export.json()["client"]["language"] == "en"
