"""Accessibility in a real browser: axe-core on every main page, and the keyboard on sign-in.

axe-core is vendored (tests/browser/vendor/axe.min.js, see the README there) and evaluated in
the page by Playwright, so the pages keep their strict Content-Security-Policy. A violation of
impact "serious" or "critical" fails the test; lesser ones, and serious checks that axe leaves
undecided, are printed. axe cannot decide the contrast of SVG text (the rota timeline), so the
test measures it itself, as it does the contrast of the keyboard focus ring."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.browser.conftest import (
    CONTRAST,
    PASSWORD,
    Service,
    assert_clean,
    check_page,
    login,
    run_axe,
)

FOCUS_STYLE = (
    "() => {"
    + CONTRAST
    + """
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    const contrast = ratio(style.outlineColor, backdrop(el));
    return {
        visible: el.matches(':focus-visible') && outline && contrast >= 3,
        style: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
        contrast: contrast,
        html: el.outerHTML.slice(0, 120),
    };
}"""
)
TABBABLE = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]'
)].filter(e => e.tabIndex >= 0 && !e.disabled).map(e => e.id || e.className || e.tagName)"""


def test_axe_admin_pages(service: Service, rota: date, browser_page: Any) -> None:
    page, url = browser_page, service.url
    day = rota.isoformat()
    found = check_page(page, f"{url}/login", "login")
    page.get_by_label("Benutzername").fill("admin")
    page.get_by_label("Passwort").fill("falsch-falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    found += run_axe(page, "login with error")
    login(page, service, "admin")
    found += run_axe(page, "dashboard (admin)")
    for view in ("week", "month"):
        found += check_page(page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view}")
    # Another team's rota; its forms with errors, and the rotation preview.
    found += check_page(page, f"{url}/rota/islamism?view=week&date={day}", "rota islamism")
    page.locator("form[action$='/shifts']").get_by_role("button").click()
    found += run_axe(page, "rota, shift form with errors")
    rotation = page.locator("form[action$='/rotation']")
    rotation.get_by_label("Amira Yilmaz", exact=True).fill("1")
    rotation.get_by_label("Jonas Becker", exact=True).fill("2")
    rotation.get_by_label("Erster Tag").fill(day)
    rotation.get_by_label("Letzter Tag").fill((rota + timedelta(days=14)).isoformat())
    rotation.get_by_role("button", name="Vorschau").click()
    page.get_by_role("heading", name="Vorschau").wait_for()
    found += run_axe(page, "rota, rotation preview")
    found += check_page(page, f"{url}/rota/right-wing/swaps", "swaps and open shifts of a team")
    found += check_page(page, f"{url}/reports/right-wing?period=year", "reports (a year, demo)")
    found += check_page(
        page, f"{url}/reports/right-wing?period=range&to=x", "reports, bad period", 422
    )
    found += check_page(page, f"{url}/counsellors", "counsellors")
    page.locator("form.stacked").get_by_role("button", name="Speichern").click()
    page.get_by_role("alert").wait_for()
    found += run_axe(page, "counsellors, form with errors")
    found += check_page(page, f"{url}/audit", "audit")
    # The accounts and access pages of issue 15.
    found += check_page(page, f"{url}/accounts", "accounts")
    first = page.locator("a[href^='/accounts/']").first.get_attribute("href")
    found += check_page(page, f"{url}{first}", "one account")
    found += check_page(page, f"{url}/account", "Mein Konto")
    found += check_page(page, f"{url}/account/second-factor", "second factor, enrolment (QR)")
    found += check_page(page, f"{url}/apikeys", "API keys")
    found += check_page(page, f"{url}/access-log", "access log")
    found += check_page(page, f"{url}/clients", "Klienten (an admin sees none)")
    found += check_page(page, f"{url}/gibt-es-nicht", "not found (404)", 404)
    page.context.clear_cookies()
    found += check_page(page, f"{url}/password/forgot", "forgotten password")
    assert_clean(found)


def test_axe_counsellor_pages(service: Service, rota: date, browser_page: Any) -> None:
    page, url = browser_page, service.url
    login(page, service, "sabine")
    found = run_axe(page, "dashboard (counsellor)")
    day = rota.isoformat()
    for view in ("week", "month"):
        found += check_page(
            page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view} (counsellor)"
        )
    found += check_page(page, f"{url}/shifts/mine", "Meine Dienste (swaps, open shifts)")
    found += check_page(page, f"{url}/clients", "Klienten (the demo's)")
    page.get_by_role("link", name="Kranich").click()
    page.get_by_role("heading", name="Ausstiegsplan").wait_for()
    found += run_axe(page, "a client (timeline, plan, notes)")
    page.locator("summary", has_text="Pseudonym, Telefon").click()
    page.get_by_role("button", name="Angaben speichern").wait_for()
    page.get_by_label("Pseudonym", exact=True).fill("0151 2345678")  # a number: refused
    page.get_by_role("button", name="Angaben speichern").click()
    page.get_by_role("alert").wait_for()
    found += run_axe(page, "a client, details refused")
    found += check_page(page, f"{url}/counsellors", "forbidden (403)", 403)
    found += check_page(page, f"{url}/gibt-es-nicht", "not found (404, signed in)", 404)
    assert_clean(found)
    # Only pages get the German error page; the API keeps its plain 404.
    api = page.request.get(f"{url}/api/v1/gibt-es-nicht")
    assert api.status == 404
    assert api.headers["content-type"].startswith("text/plain")


def _press(page: Any, key: str, selector: str) -> None:
    """Press `key`; the element matching `selector` must then have a visible keyboard focus."""
    page.keyboard.press(key)
    focus = page.evaluate(FOCUS_STYLE)
    assert page.evaluate("s => document.activeElement.matches(s)", selector), (selector, focus)
    assert focus["visible"], (selector, focus)


def test_keyboard_sign_in_and_skip_link(service: Service, rota: date, browser_page: Any) -> None:
    page, url = browser_page, service.url
    page.goto(f"{url}/login")
    # In reading order: the skip link, the two fields, the button, "Passwort vergessen?" (and
    # nothing else; with [sso] enabled its button would come before that link).
    assert page.evaluate(TABBABLE) == ["skip", "username", "password", "BUTTON", "A"]
    assert page.locator("a[href='/password/forgot']").is_visible()
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    _press(page, "Shift+Tab", "a.skip")
    box = page.locator("a.skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0, "the skip link comes into view when it has the focus"
    _press(page, "Tab", "#username")
    page.keyboard.type("admin")
    _press(page, "Tab", "#password")
    page.keyboard.type(PASSWORD)
    _press(page, "Tab", "form.login button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/")

    # Signed in: the skip link first, then the navigation, each with a visible focus.
    page.goto(f"{url}/rota/right-wing")
    _press(page, "Tab", "a.skip")
    links = page.eval_on_selector_all("header nav a", "as => as.map(a => a.getAttribute('href'))")
    assert {"/", "/rota", "/appointments", "/tasks", "/counsellors", "/audit"} <= set(links)
    for path in links:  # every link of the navigation, in the order shown
        _press(page, "Tab", f"header nav a[href='{path}']")
    _press(page, "Tab", "form.logout a.who[href='/account']")  # the user name: "Mein Konto"
    _press(page, "Tab", "form.logout button")
    _press(page, "Tab", "nav.period a")
    # The skip link leads past the navigation, to the main content.
    page.reload()
    _press(page, "Tab", "a.skip")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#inhalt"
    _press(page, "Tab", "main nav.period a")
