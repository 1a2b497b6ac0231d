"""The public callback form in a real browser: filled in like a person would (a typo first), with
axe-core on the form, its error state and the thank-you page; then the task list a counsellor
sees, with the voicemail player, checked by axe too."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from config.model import HotlineConfig
from foundation import crypto, users
from foundation.models import CallbackRequest, Role, Team, Voicemail
from tests.browser.conftest import (
    PASSWORD,
    Service,
    assert_clean,
    check_page,
    login,
    run_axe,
)
from tests.conftest import add_counsellor

MIN_FILL_MS = 3200  # the form refuses (quietly) what comes back faster than 3 s


def test_callback_form_in_a_browser(service: Service, browser_page: Any) -> None:
    page, url = browser_page, service.url
    config: HotlineConfig = service.settings.config
    with service.database.write() as session:
        counsellor = add_counsellor(session, config, "islamism", name="Amira Yilmaz")
        new = users.NewUser("amira", PASSWORD, Role.COUNSELLOR, counsellor_id=counsellor.id)
        users.create_user(session, config, new, actor="tests")
        team_id = session.scalars(select(Team.id).where(Team.slug == "islamism")).one()
        session.add(Voicemail(line="islamism", team_id=team_id, recording_sid="RE" + "5" * 32))

    found = check_page(page, f"{url}/rueckruf/islamism", "callback form")
    assert page.title() == "Rückruf anfordern"
    assert page.evaluate("document.querySelector('[name=website]').tabIndex") == -1
    # The honeypot is clipped to a pixel: people do not see it, bots fill it in.
    clipped = "document.querySelector('[name=website]').closest('p').getBoundingClientRect()"
    assert page.evaluate(f"{clipped}.width <= 1 && {clipped}.height <= 1")
    # A typo first: the German message next to the field, the input kept.
    page.get_by_label("Telefonnummer").fill("0151 23")
    page.get_by_label("Vorname oder ein anderer Name", exact=False).fill("<b>Sam</b>")
    page.wait_for_timeout(MIN_FILL_MS)
    page.get_by_role("button", name="Rückruf anfordern").click()
    page.get_by_role("alert").first.wait_for()
    assert "Telefonnummer" in page.locator("#e-phone").inner_text()
    assert page.get_by_label("Vorname oder ein anderer Name", exact=False).input_value() == (
        "<b>Sam</b>"
    )
    found += run_axe(page, "callback form with errors")
    # Corrected, a time window and a day chosen, a confirmation asked for.
    page.get_by_label("Telefonnummer").fill("0151 2345 6789")
    page.get_by_label("abends (17–20 Uhr)").check()
    page.get_by_label("Kurze Nachricht (freiwillig)").fill("Bitte nicht vor 18 Uhr.")
    page.get_by_label("Bestätigung per SMS an diese Nummer").check()
    page.get_by_role("button", name="Rückruf anfordern").click()
    page.wait_for_url(f"{url}/rueckruf/islamism/danke")
    assert page.get_by_role("heading", name="Vielen Dank").is_visible()
    found += run_axe(page, "callback thanks")

    with service.database.read() as session:
        request = session.scalars(select(CallbackRequest)).one()
    box = crypto.box(service.settings)
    assert box.open(request.phone_enc) == "+4915123456789"
    assert request.name_enc is not None
    assert box.open(request.name_enc) == "<b>Sam</b>"
    assert request.time_window == "abends"
    assert request.confirm_sms

    # The counsellor's task list: the request with its details, the voicemail with a player.
    login(page, service, "amira")
    found += check_page(page, f"{url}/tasks", "task list (counsellor)")
    # The number only masked: a call-back goes through the line ("Zurückrufen").
    assert page.get_by_text("+49 151 ••• ••89").is_visible()
    assert page.locator("a[href^='tel:']").count() == 0
    assert page.get_by_text("<b>Sam</b>").is_visible()  # shown as text, not markup
    player = page.locator("audio")
    assert player.get_attribute("preload") == "none"
    audio = page.request.get(f"{url}{player.get_attribute('src')}")
    assert audio.status == 200
    assert audio.headers["cache-control"] == "no-store"
    page.get_by_role("button", name=re.compile(r"^Übernehmen\W+Rückrufbitte")).click()
    page.get_by_text("übernommen von amira").wait_for()
    found += run_axe(page, "task list, a request taken")
    # Called back (simulation mode: into the outbox), and the task says so.
    page.get_by_role("button", name=re.compile(r"^Zurückrufen\W+Rückrufbitte")).click()
    page.get_by_text("Simulationsmodus: Es wurde niemand angerufen").wait_for()
    assert page.get_by_text(re.compile(r"durch Amira Yilmaz: nur simuliert")).is_visible()
    found += run_axe(page, "task list, a call-back started")
    assert_clean(found)
