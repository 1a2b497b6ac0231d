"""The page, health endpoints, metrics and response headers."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from config.settings import Settings
from foundation.db import Database
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
    headers = client.get("/login").headers
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


def test_the_page_needs_a_sign_in(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Anmelden" in page.text
    assert "<script" not in page.text  # works without JavaScript; the CSP allows no inline script


def test_static_files_are_served(client: TestClient) -> None:
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]
