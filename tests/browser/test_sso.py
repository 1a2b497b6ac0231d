"""Single sign-on in the browser: the button on the sign-in page, the real OpenID provider on
loopback (tests/oidc_provider.py) and its sign-in and consent pages, back to the dashboard with
the role the claims map to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.datastructures import Secret

from config.model import Sso, load_config
from foundation.models import Role, User
from tests.browser.conftest import ARTIFACTS, Service, serve
from tests.helpers import free_port
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[Provider, int]]:
    port = free_port()
    with running(tmp_path, f"http://localhost:{port}/login/sso/callback") as idp:
        yield idp, port


@pytest.fixture
def sso_service(tmp_path: Path, provider: tuple[Provider, int]) -> Iterator[Service]:
    idp, port = provider
    sso = Sso(
        enabled=True,
        issuer=idp.issuer,
        client_id=CLIENT_ID,
        roles={"hotline-coordinators": "coordinator"},
        button_label="Mit dem Konto der Organisation anmelden",
    )
    config = load_config(None).model_copy(update={"sso": sso})
    yield from serve(tmp_path, port, config, sso_client_secret=Secret(CLIENT_SECRET))


def test_sso_sign_in_lands_on_the_dashboard_with_the_mapped_role(
    browser_page: Any, sso_service: Service, provider: tuple[Provider, int]
) -> None:
    started = time.monotonic()
    idp, _ = provider
    idp.people(carla={"preferred_username": "carla", "roles": ["hotline-coordinators"],
                      "teams": ["right-wing"]})  # fmt: skip
    page = browser_page
    page.goto(f"{sso_service.url}/login")
    page.get_by_role("link", name="Mit dem Konto der Organisation anmelden").click()
    page.wait_for_url(f"{idp.issuer}/interaction/**")
    page.locator("input[name=login]").fill("carla")
    page.locator("input[name=password]").fill("anything")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{idp.issuer}/interaction/**")  # consent
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{sso_service.url}/")
    # The navigation of a coordinator: the counsellors' page is there.
    page.get_by_role("link", name="Beraterinnen und Berater").wait_for()
    assert "carla" in page.locator(".who").inner_text()
    page.screenshot(path=str(ARTIFACTS / "sso-dashboard.png"), full_page=True)
    with sso_service.database.read() as session:
        user = session.scalars(select(User).where(User.username == "carla")).one()
        assert user.role is Role.COORDINATOR
        assert [team.slug for team in user.teams] == ["right-wing"]
    assert time.monotonic() - started < 30
