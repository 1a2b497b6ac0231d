"""Hostile-input and exposure rules that hold for whole classes of routes: signed-in pages
are never cached, /metrics is for the monitoring only, and the JSON API takes JSON or
nothing."""

from __future__ import annotations

import dataclasses

import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import Role
from tests.helpers import https_client
from tests.test_access_matrix import ROUTES, Api, Page, World, app_routes, url
from tests.test_access_matrix import sign_in as matrix_sign_in
from tests.test_api import check_against_openapi
from tests.test_auth import make_user, sign_in
from web.app import create_app

# --- signed-in pages are never cached --------------------------------------------------------


@pytest.fixture
def world(database: Database, settings: Settings) -> World:
    return World(database, settings)


def test_every_page_after_sign_in_is_no_store(
    settings: Settings, database: Database, world: World
) -> None:
    with https_client(settings, database) as browser:
        csrf = matrix_sign_in(browser, "koord")
        for (method, path), route in sorted(ROUTES.items()):
            if not isinstance(route, Page) or path == "/logout":
                continue
            params = route.record(world, "islamism", "colleague") if route.record else {}
            data = {"csrf": csrf, **route.form} if method == "POST" else None
            response = browser.request(method, url(path, params), data=data)
            assert response.headers.get("cache-control") == "no-store", (method, path)
        assert app_routes(browser)  # the matrix covers every route (checked there)


# --- /metrics ------------------------------------------------------------------------------------


def _client(settings: Settings, database: Database, **changes: object) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings, **changes), database=database))


def test_metrics_without_a_token_are_open_in_development_and_absent_in_production(
    settings: Settings, database: Database
) -> None:
    with _client(settings, database) as client:
        assert client.get("/metrics").status_code == 200
    production = {"mode": "production", "public_url": "https://hotline.example"}
    with _client(settings, database, **production) as client:
        hidden = client.get("/metrics")
        assert hidden.status_code == 404
        assert "hotline_http_requests" not in hidden.text


@pytest.mark.parametrize("mode", ["development", "production"])
def test_metrics_with_a_token_ask_for_it(settings: Settings, database: Database, mode: str) -> None:
    token = Secret("m-" + "x" * 30)
    changes = {"mode": mode, "metrics_token": token, "public_url": "https://hotline.example"}
    with _client(settings, database, **changes) as client:
        for header in (None, "Bearer wrong", f"Basic {token}", f"Bearer {token}x", "Bearer"):
            headers = {"Authorization": header} if header else {}
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401, header
            assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert "hotline_http_requests" in allowed.text


def test_the_metrics_token_comes_from_the_environment(config: HotlineConfig) -> None:
    from config.settings import ENVIRONMENT
    from config.settings import Settings as S

    assert "HOTLINE_METRICS_TOKEN" in ENVIRONMENT
    settings = S.from_environ({"HOTLINE_METRICS_TOKEN": " tok-123 "})
    assert str(settings.metrics_token) == "tok-123"
    assert "tok-123" not in repr(settings)


# --- the JSON API takes JSON or nothing ----------------------------------------------------------


@pytest.fixture
def api_client(api: TestClient) -> TestClient:
    return api


def test_a_body_that_is_not_json_is_a_415_on_every_api_write(
    api_client: TestClient, world: World
) -> None:
    for (method, path), route in sorted(ROUTES.items()):
        if not isinstance(route, Api) or method == "GET":
            continue
        params = route.record(world, "islamism", "colleague") if route.record else {}
        target = url(path, params)
        before = world.snapshot()
        for content_type, content in (
            ("application/x-www-form-urlencoded", b"a=1"),
            ("text/plain", b"{}"),
            ("multipart/form-data; boundary=x", b"--x--"),
            ("application/xml", b"<a/>"),
        ):
            headers = {"Content-Type": content_type}
            response = api_client.request(method, target, content=content, headers=headers)
            assert response.status_code == 415, (method, path, content_type)
            assert response.json()["error"] == "unsupported_media_type"
            check_against_openapi(response, path, method.lower())
        # A body without any type is no JSON either.
        response = api_client.request(method, target, content=b"abc")
        assert response.status_code == 415, (method, path)
        assert world.snapshot() == before, (method, path)


def test_an_api_write_without_a_body_or_with_json_is_not_refused_as_such(
    api_client: TestClient, world: World
) -> None:
    appointment = world.appointment("islamism", "colleague")["appointment_id"]
    cancelled = api_client.post(f"/api/v1/appointments/{appointment}/cancel")
    assert cancelled.status_code == 200
    again = api_client.post(
        f"/api/v1/appointments/{appointment}/cancel",
        content=b"{}",
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert again.status_code == 200


def test_admin_pages_are_no_store_too(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    with https_client(settings, database) as client:
        admin = sign_in(client, "chef")
        for path in ("/audit", "/apikeys", "/access-log", "/", "/nowhere-at-all"):
            response = admin.get(path)
            if path == "/nowhere-at-all":
                assert response.status_code == 404
                continue
            assert response.headers["cache-control"] == "no-store", path
