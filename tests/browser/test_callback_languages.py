"""The public callback form in Arabic in a real browser: reached through the language switch
(a link, no script), right to left, sent, the request recorded in Arabic; axe-core on the
form and the thank-you page, and the phone checks at phone width."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from config.languages import native_name
from foundation import crypto
from foundation.models import CallbackRequest
from tests.browser.conftest import Service, assert_clean, run_axe
from tests.browser.test_phone import PHONE, _window, check_phone

MIN_FILL_MS = 3200  # the form refuses (quietly) what comes back faster than 3 s


def test_the_callback_form_in_arabic(service: Service, browser_page: Any, chromium: Any) -> None:
    page, url = browser_page, service.url
    words = service.settings.config.form_texts("ar")
    page.goto(f"{url}/rueckruf/islamism")
    page.get_by_role("navigation", name="Sprache").get_by_role(
        "link", name=native_name("ar")
    ).click()
    page.wait_for_url(f"{url}/rueckruf/islamism?lang=ar")
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
        "ar",
        "rtl",
    ]
    assert page.title() == words["page_title"]
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    found = run_axe(page, "callback form in Arabic")
    page.locator("#f-phone").fill("0151 2345 6789")
    page.locator("input[name=time_window][value=abends]").check()
    page.locator("#f-message").fill("من فضلك بعد الساعة السادسة")
    page.wait_for_timeout(MIN_FILL_MS)
    page.get_by_role("button", name=words["submit"]).click()
    page.wait_for_url(f"{url}/rueckruf/islamism/danke?lang=ar")
    assert page.get_by_role("heading", name=words["thanks_title"]).is_visible()
    assert page.evaluate("document.documentElement.dir") == "rtl"
    found += run_axe(page, "callback thanks in Arabic")
    with service.database.read() as session:
        request = session.scalars(select(CallbackRequest)).one()
    assert request.language == "ar"
    assert crypto.box(service.settings).open(request.phone_enc) == "+4915123456789"

    # At phone width: no sideways scrolling, tap targets, axe; a screenshot in tests/artifacts.
    phone = _window(chromium, PHONE["width"])
    phone.goto(f"{url}/rueckruf/islamism?lang=ar")
    assert phone.evaluate("document.documentElement.dir") == "rtl"
    found += check_phone(phone, "callback form in Arabic on a phone", "callback-ar", PHONE["width"])
    phone.context.close()
    assert_clean(found)
