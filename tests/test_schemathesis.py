"""schemathesis against the running service: every /api/v1 operation of the OpenAPI document,
all of schemathesis' checks, deterministic generation and a bounded number of test cases per
operation.

The service runs under uvicorn on a loopback port (on SQLite, and on PostgreSQL when the tests have
one; the demo's counsellors, shifts and appointments, an API key of all teams); schemathesis
(`st run`, in a subprocess) reads the document from it and sends only there. schemathesis 4 has no
telemetry and uploads nothing; its example database is off (deterministic generation), so a run
leaves nothing behind but its report in `tmp_path`. The goal: no server error and no answer the
document does not describe. What a run found is below it, each a regression test of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import apikeys
from foundation.clock import utcnow
from foundation.db import Database, make_engine
from foundation.models import MAX_ID, Base
from foundation.teams import sync_teams
from scheduling.demo import load_demo
from tests.helpers import free_port, serving
from web.app import create_app
from web.openapi import document

MAX_EXAMPLES = 12  # per operation and phase: the run stays well under 90 s on two cores


@pytest.fixture
def service(db_url: str, config: HotlineConfig) -> Iterator[tuple[str, str]]:
    """(base URL, API key) of the service with the demo's data, on SQLite (and PostgreSQL)."""
    url = db_url
    database = Database(make_engine(url))
    Base.metadata.create_all(database.engine)
    with database.write() as session:
        sync_teams(session, config)
        assert load_demo(session, config, utcnow().date())
        _, key = apikeys.create_api_key(session, "schemathesis", actor="tests")
    port = free_port()
    app = create_app(Settings(config=config, database_url=url), database=database)
    with serving(app, port):
        yield f"http://127.0.0.1:{port}", key
    database.dispose()


def run_schemathesis(base: str, key: str, report: Path) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).parent / "st"
    command = [
        str(st),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{base}/api/v1/openapi.json",
        "--url",
        base,
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {key}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # no example database either
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    environment = {**os.environ, "NO_PROXY": "127.0.0.1", "HTTP_PROXY": "", "HTTPS_PROXY": ""}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        env=environment,
        check=False,
        cwd=report.parent,  # its cache (.schemathesis/) there too
    )


def counts(report: Path) -> dict[str, int]:
    """Operations, test cases and failures from the run's event stream."""
    operations: set[str] = set()
    cases = failures = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if finished is None:
            continue
        recorder = finished.get("recorder") or {}
        label = recorder.get("label") or ""
        if label.split(" ")[0] in ("GET", "POST", "PATCH", "DELETE"):
            operations.add(label)
        cases += len(recorder.get("cases", {}))
        for checks in (recorder.get("checks") or {}).values():
            failures += sum(1 for check in checks if check.get("status") == "failure")
    return {"operations": len(operations), "cases": cases, "failures": failures}


def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    service: tuple[str, str], tmp_path: Path
) -> None:
    base, key = service
    report = tmp_path / "events.ndjson"
    result = run_schemathesis(base, key, report)
    found = counts(report)
    print(found)  # the figures of docs/development.md
    assert result.returncode == 0, result.stdout[-20000:]
    operations = sum(len(methods) for methods in document("test")["paths"].values())
    assert found["operations"] == operations
    assert found["failures"] == 0


# --- what schemathesis found ------------------------------------------------------------------


def test_an_empty_query_value_is_refused_not_taken_for_a_missing_one(api: TestClient) -> None:
    """`?to=` is no time, `?counsellor_id=` no id, `?team=` no team, `?active=null` no
    truth value: each a 422, as the document's formats say (they were taken as not given)."""
    for query in ("to=", "from=", "counsellor_id=", "team="):
        for listing in ("/api/v1/shifts", "/api/v1/standins", "/api/v1/appointments"):
            assert api.get(f"{listing}?{query}").status_code == 422, (listing, query)
    assert api.get("/api/v1/oncall?team=islamism&at=").status_code == 422
    for query in ("team=", "active=null", "active=null&active=null", "active=1"):
        assert api.get(f"/api/v1/counsellors?{query}").status_code == 422, query
    assert api.get("/api/v1/counsellors?active=false").status_code == 200


def test_every_id_the_document_allows_is_looked_up(api: TestClient) -> None:
    """The document's id range is the database's (INTEGER: PostgreSQL's 32 bits): every id up
    to 2^31 - 1 is a 404 when nobody has it, a larger one a 422 (ids of 10 to 12 digits made
    PostgreSQL fail, a 500; the bodies' ids to 2^63 too)."""
    spec = document("test")
    path_id = spec["paths"]["/api/v1/standins/{stand_in_id}"]["get"]["parameters"][0]
    assert path_id["schema"]["maximum"] == MAX_ID == 2**31 - 1
    for record in ("standins", "absences", "appointments", "callbacks"):
        assert api.get(f"/api/v1/{record}/{MAX_ID}").status_code == 404, record
        assert api.get(f"/api/v1/{record}/{MAX_ID + 1}").status_code == 422, record
        assert api.get(f"/api/v1/{record}/1000000000001").status_code == 422, record
    shift = {"team": "islamism", "tier": "primary", "start": "2031-03-03T09:00:00+01:00",
             "end": "2031-03-03T10:00:00+01:00"}  # fmt: skip
    assert api.post("/api/v1/shifts", json={**shift, "counsellor_id": MAX_ID}).status_code == 422
    too_big = api.post("/api/v1/shifts", json={**shift, "counsellor_id": MAX_ID + 1})
    assert too_big.status_code == 422
    assert too_big.json()["details"][0]["field"] == "counsellor_id"
    assert api.get(f"/api/v1/shifts?counsellor_id={MAX_ID}").status_code == 200
    assert api.get(f"/api/v1/shifts?counsellor_id={MAX_ID + 1}").status_code == 422


def test_the_document_lists_the_configured_teams_and_lines(
    api: TestClient, config: HotlineConfig
) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    shapes = spec["components"]["schemas"]
    teams, lines = sorted(config.teams), sorted(config.lines)
    assert shapes["ShiftIn"]["properties"]["team"]["enum"] == teams
    assert shapes["StandInIn"]["properties"]["team"]["enum"] == teams
    assert shapes["CounsellorIn"]["properties"]["teams"]["items"]["enum"] == teams
    assert shapes["CallBackIn"]["properties"]["line"]["anyOf"][0]["enum"] == lines
    for path in ("/api/v1/shifts", "/api/v1/oncall", "/api/v1/counsellors"):
        (team,) = (p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "team")
        assert team["schema"]["enum"] == teams
    assert api.post("/api/v1/shifts", json={"team": "unknown"}).status_code == 422
