"""The "Berichte" page in a real browser (issue 17): a coordinator opens it from the navigation,
chooses October 2026 (the known history of tests.test_reports, across the DST change),
downloads a table's CSV, switches to the quarter and to the one before by its link; then the
page at phone width: no sideways scrolling, tap targets of 44 px, axe-core without a serious
violation, and a screenshot (in the test's tmp dir). The desk-sized page is in the
accessibility walk (tests/browser/test_accessibility.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foundation.models import Role
from tests.browser.conftest import Service, assert_clean, login, run_axe
from tests.browser.test_phone import LAYOUT, PHONE, SMALL_TARGETS, TAP
from tests.test_auth import make_user
from tests.test_reports import history


def test_a_coordinator_reads_the_report_and_downloads_a_table(
    service: Service, chromium: Any, tmp_path: Path
) -> None:
    config = service.settings.config
    history(service.database, config)
    make_user(service.database, config, "koord", Role.COORDINATOR, "islamism")
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="de-DE", timezone_id="Europe/Berlin"
    )
    page = context.new_page()
    login(page, service, "koord")
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name="Berichte"
    ).click()
    page.wait_for_url(f"{service.url}/reports/islamism")
    form = page.locator("form.report-choice")
    form.get_by_label("Zeitraum").select_option("month")
    form.get_by_label("Ein Tag darin").fill("2026-10-15")
    form.get_by_role("button", name="Bericht anzeigen").click()
    page.wait_for_url("**/reports/islamism?period=month&date=2026-10-15")
    period = page.get_by_role("navigation", name="Zeitraum")
    assert period.locator("strong").inner_text() == "Oktober 2026"
    calls = page.locator("table.figures").nth(1)
    assert calls.get_by_role("row", name="Anrufe gesamt").inner_text().split() == [
        "Anrufe", "gesamt", "27", "5", "+22"
    ]  # fmt: skip

    with page.expect_download() as download:
        page.locator("a[href*='/anrufe-islamism.csv']").click()
    saved = download.value
    assert saved.suggested_filename.endswith("-2026-10-01-2026-10-31.csv")
    text = Path(saved.path()).read_text(encoding="utf-8")
    assert "Anrufe gesamt,27,5,22" in text
    assert "An die Ausweichnummer weitergeleitet,<5,0,<5" in text

    # Switch: the quarter of the same day, then the period before it by its link.
    form.get_by_label("Zeitraum").select_option("quarter")
    form.get_by_role("button", name="Bericht anzeigen").click()
    page.wait_for_url("**period=quarter**")
    assert period.locator("strong").inner_text() == "4. Quartal 2026"
    period.get_by_role("link", name="3. Quartal 2026").click()
    page.wait_for_url("**period=quarter&date=2026-07-01")
    assert period.locator("strong").inner_text() == "3. Quartal 2026"
    assert calls.get_by_role("row", name="Anrufe gesamt").inner_text().split()[2] == "5"

    # The same page at phone width (the layout below 48rem; the whole check on touch screens is
    # tests/browser/test_phone.py's).
    page.set_viewport_size(PHONE)
    page.goto(f"{service.url}/reports/islamism?period=month&date=2026-10-15")
    layout = page.evaluate(LAYOUT)
    assert layout["scroll"] <= layout["client"], layout
    small = page.evaluate(SMALL_TARGETS, TAP)
    assert not small, small
    heat = page.locator("figure.heat svg").bounding_box()
    assert heat is not None
    assert heat["width"] >= 300, heat  # the heat map fills the phone's width
    found = run_axe(page, "reports on a phone")
    page.screenshot(path=str(tmp_path / "reports-phone.png"), full_page=True)
    context.close()
    assert_clean(found)
