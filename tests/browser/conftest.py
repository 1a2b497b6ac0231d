"""Browser tests: the real service in a thread, driven by Playwright in the system Chromium
(Debian's `chromium`; never a downloaded browser). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.model import load_config
from config.settings import Settings
from foundation.db import Database, make_engine, upgrade
from foundation.teams import sync_teams
from tests.helpers import free_port, serving
from web.app import create_app

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's)")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


class Service:
    def __init__(self, url: str, database: Database, settings: Settings) -> None:
        self.url = url
        self.database = database
        self.settings = settings


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    upgrade(url)
    port = free_port()
    settings = Settings(
        config=load_config(None), database_url=url, public_url=f"http://localhost:{port}"
    )
    database = Database(make_engine(url))
    with database.write() as session:
        sync_teams(session, settings.config)
    try:
        with serving(create_app(settings, database=database), port):
            yield Service(f"http://localhost:{port}", database, settings)
    finally:
        database.dispose()


@pytest.fixture
def browser_page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="de-DE", timezone_id="Europe/Berlin"
        )
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()
