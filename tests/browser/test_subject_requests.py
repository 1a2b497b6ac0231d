"""A client's data-subject requests in a real browser: the export page (axe-core, and its print
view without the navigation), the erasure's confirmation step with an error and done; a
screenshot of the export at phone width."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.browser.conftest import ARTIFACTS, Service, assert_clean, check_page, login, run_axe


def test_a_counsellor_exports_and_erases_a_client(
    service: Service, rota: date, browser_page: Any
) -> None:
    page, url = browser_page, service.url
    login(page, service, "sabine")
    page.goto(f"{url}/clients")
    # The right-wing team's form (the page has one per team); the demo already has a Kranich.
    form = page.locator("details", has=page.locator("#n-right-wing-pseudonym"))
    form.locator("summary").click()
    form.locator("#n-right-wing-pseudonym").fill("Reiher")
    form.get_by_role("button", name="Akte anlegen").click()
    page.wait_for_url(f"{url}/clients/*")
    base = page.url.split("?")[0]
    page.get_by_label("Ziel oder Schritt").fill("Ausstieg aus der Gruppe")
    page.get_by_role("button", name="Schritt hinzufügen").click()
    found = check_page(page, f"{base}/export", "Auskunft (export)")
    assert page.get_by_role("heading", name="Auskunft über gespeicherte Daten").is_visible()
    assert page.get_by_text("Ausstieg aus der Gruppe").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()  # printed without the navigation
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "client-export-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    found += check_page(page, f"{base}/erase", "Akte löschen (confirmation)")
    page.get_by_label("Zur Bestätigung das Pseudonym eingeben").fill("Reihe")
    page.get_by_role("button", name="Akte endgültig löschen").click()
    page.get_by_role("alert").wait_for()
    found += run_axe(page, "Akte löschen, wrong pseudonym")
    page.get_by_label("Zur Bestätigung das Pseudonym eingeben").fill("Reiher")
    page.get_by_role("button", name="Akte endgültig löschen").click()
    page.get_by_role("heading", name="Akte gelöscht").wait_for()
    found += run_axe(page, "Akte gelöscht")
    assert page.goto(base).status == 404
    assert_clean(found)
