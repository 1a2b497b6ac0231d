"""A coordinator enrols TOTP in Chromium (the test computes the codes from the secret shown for
typing in), signs out and in with a code; a recovery code works once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp

from foundation import users
from foundation.clock import utcnow
from foundation.models import Role
from tests.browser.conftest import PASSWORD, Service, login


def _password(page: Any, service: Service) -> None:
    page.goto(f"{service.url}/login")
    page.get_by_label("Benutzername").fill("koord")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/login/second-factor"))


def _code(page: Any, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Bestätigen").click()


def _sign_out(page: Any, service: Service) -> None:
    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url(f"{service.url}/login")


def test_enrol_sign_in_with_a_code_and_a_recovery_code_once(
    service: Service, browser_page: Any
) -> None:
    with service.database.write() as session:
        new = users.NewUser("koord", PASSWORD, Role.COORDINATOR, ("islamism",))
        users.create_user(session, service.settings.config, new, actor="tests")
    page = browser_page
    login(page, service, "koord")  # the demo's rule: one step until enrolled
    page.goto(f"{service.url}/account")
    page.get_by_role("link", name="Zwei-Faktor-Anmeldung einrichten").click()
    page.get_by_role("button", name="Einrichten").click()
    assert page.get_by_role("img", name="QR-Code für die Authenticator-App").is_visible()
    totp = pyotp.TOTP(page.locator("#secret").inner_text())
    page.get_by_label("Sechsstelliger Code aus der App").fill(totp.now())
    page.get_by_role("button", name="Bestätigen").click()
    page.get_by_role("heading", name="Ihre Wiederherstellungscodes").wait_for()
    codes = page.locator("ul.recovery-codes code").all_inner_texts()
    assert len(codes) == 10

    _sign_out(page, service)
    _password(page, service)
    _code(page, totp.at(utcnow() + timedelta(seconds=30)))
    page.wait_for_url(f"{service.url}/")

    _sign_out(page, service)
    _password(page, service)
    _code(page, codes[0])
    page.wait_for_url(f"{service.url}/")

    _sign_out(page, service)
    _password(page, service)
    _code(page, codes[0])
    assert "falsch oder schon verwendet" in page.get_by_role("alert").inner_text()
    assert page.url.startswith(f"{service.url}/login/second-factor")
