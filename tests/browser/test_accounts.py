"""Accounts in a real browser, with e-mail through an SMTP server on loopback: an admin invites a
coordinator, who sets her password through the link and signs in; later she forgets it and
resets it through a link read from the SMTP server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import Secret

from config.model import load_config
from config.settings import Settings
from foundation import users
from foundation.db import Database, make_engine, upgrade
from foundation.models import Role
from foundation.teams import sync_teams
from tests import fake_smtp
from tests.browser.conftest import PASSWORD, Service, login
from tests.fake_smtp import FakeSMTP
from tests.helpers import TWILIO_SID, free_port, serving
from web.app import create_app

FIRST, SECOND = "Kormoran-Leuchtturm-42", "Heron-Watt-Meer-2031"


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with fake_smtp.running() as server:
        yield server


@pytest.fixture
def mailing_service(tmp_path: Path, smtp: FakeSMTP) -> Iterator[Service]:
    """The service outside simulation mode, mailing through the fake SMTP server."""
    url = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    upgrade(url)
    port = free_port()
    settings = Settings(
        config=load_config(None),
        database_url=url,
        public_url=f"http://localhost:{port}",
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=Secret("live-token"),
        smtp_url=Secret(smtp.url()),
        mail_from="konex hotline <hotline@example.org>",
    )
    database = Database(make_engine(url))
    with database.write() as session:
        sync_teams(session, settings.config)
        new = users.NewUser("chef", PASSWORD, Role.ADMIN, tuple(settings.config.teams))
        users.create_user(session, settings.config, new, actor="tests")
    try:
        with serving(create_app(settings, database=database), port):
            yield Service(f"http://localhost:{port}", database, settings)
    finally:
        database.dispose()


def link_in(smtp: FakeSMTP, index: int) -> str:
    """The link of the index-th e-mail (the reset's goes out after the answer: wait for it)."""
    deadline = time.monotonic() + 5
    while len(smtp.messages) <= index and time.monotonic() < deadline:
        time.sleep(0.05)
    found = re.search(r"http://\S+", smtp.messages[index].get_content())
    assert found is not None
    return found.group(0)


def set_password(page: Any, link: str, password: str) -> None:
    page.goto(link)
    page.get_by_label("Neues Passwort").fill(password)
    page.get_by_label("Passwort wiederholen").fill(password)
    page.get_by_role("button", name="Passwort speichern").click()
    page.wait_for_url("**/login?done=password")


def sign_in(page: Any, service: Service, username: str, password: str) -> None:
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort", exact=True).fill(password)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{service.url}/")


def test_an_invited_coordinator_sets_her_password_and_later_resets_it(
    mailing_service: Service, smtp: FakeSMTP, chromium: Any
) -> None:
    service = mailing_service
    admin = chromium.new_context(locale="de-DE", timezone_id="Europe/Berlin").new_page()
    login(admin, service, "chef")
    admin.get_by_role("link", name="Konten").click()
    admin.get_by_label("Benutzername").fill("koordination")
    admin.get_by_label("Rolle").select_option("coordinator")
    admin.get_by_label("Islamismus").check()
    admin.get_by_label("E-Mail-Adresse").fill("koordination@example.org")
    admin.get_by_role("button", name="Konto anlegen und einladen").click()
    assert "Sie ist per E-Mail verschickt" in admin.content()

    coordinator = chromium.new_context(locale="de-DE", timezone_id="Europe/Berlin").new_page()
    set_password(coordinator, link_in(smtp, 0), FIRST)
    assert "Ihr Passwort ist gespeichert" in coordinator.content()
    sign_in(coordinator, service, "koordination", FIRST)

    # She forgets it: a link by e-mail, and every session of the account ends.
    other = chromium.new_context(locale="de-DE").new_page()
    other.goto(f"{service.url}/login")
    other.get_by_role("link", name="Passwort vergessen?").click()
    other.get_by_label("Benutzername oder E-Mail-Adresse").fill("koordination@example.org")
    other.get_by_role("button", name="Link anfordern").click()
    assert "Der Link gilt 30 Minuten" in other.content()
    set_password(other, link_in(smtp, 1), SECOND)
    sign_in(other, service, "koordination", SECOND)
    coordinator.goto(f"{service.url}/")
    assert coordinator.url.startswith(f"{service.url}/login")  # that session ended
