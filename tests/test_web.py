"""The page, health endpoints, metrics and response headers."""

from __future__ import annotations

import time_machine
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from hotline.db import Database
from scheduling.demo import load_demo
from tests.conftest import berlin
from web.app import create_app


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_reports_an_unreachable_database(client: TestClient, database: Database) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    original = database.engine.connect
    database.engine.connect = broken  # type: ignore[method-assign]
    try:
        response = client.get("/readyz")
    finally:
        database.engine.connect = original  # type: ignore[method-assign]
    assert response.status_code == 503
    assert response.json()["status"] == "database unreachable"
    assert client.get("/healthz").status_code == 200  # the process itself is fine


def test_metrics_count_requests_by_route_template(api: TestClient) -> None:
    api.get("/healthz")
    api.delete("/api/v1/shifts/12345")
    text = api.get("/metrics").text
    assert "# TYPE hotline_http_requests_total counter" in text
    assert 'route="/healthz"' in text
    assert 'route="/api/v1/shifts/{shift_id}"' in text
    assert "12345" not in text  # raw paths never become labels
    assert "hotline_http_request_duration_seconds_bucket" in text


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in headers  # plain-http development setup


def test_hsts_when_served_over_https(settings: Settings, database: Database) -> None:
    https = Settings(
        config=settings.config, database_url=settings.database_url, public_url="https://x"
    )
    with TestClient(create_app(https, database=database)) as client:
        assert client.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_index_shows_who_is_on_call_now(
    client: TestClient, database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        assert load_demo(session, config, berlin(2026, 11, 23).date())
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="de">' in html
    assert "Jetzt im Dienst" in html
    assert "Simulationsmodus" in html
    assert "Team Islamismus" in html
    assert "Do 26.11., 09:00" in html  # the next handoff, in Berlin time
    assert "Niemand eingeteilt" not in html
    assert "+49 711 2794555" in html or "0711 2794555" in html


def test_index_marks_a_team_without_anyone_on_call(client: TestClient) -> None:
    assert "Niemand eingeteilt" in client.get("/").text


def test_static_files_are_served(client: TestClient) -> None:
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]
