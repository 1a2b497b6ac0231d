"""Accessibility in a real browser: axe-core on every main page, and the keyboard on sign-in.

axe-core is vendored (tests/browser/vendor/axe.min.js, see the README there) and evaluated in
the page by Playwright, so the pages keep their strict Content-Security-Policy. A violation of
impact "serious" or "critical" fails the test; lesser ones are printed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.model import HotlineConfig
from hotline import outbox, users
from hotline.models import Counsellor, Role, Team, Tier, Voicemail
from scheduling import shifts, standins
from scheduling.demo import load_demo
from tests.browser.conftest import Service
from tests.conftest import add_counsellor

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations", "incomplete"],
}
FAILING = {"serious", "critical"}
PASSWORD = "Bodensee-Fähre-1987"


def _login(page: Any, service: Service, username: str) -> None:
    page.goto(f"{service.url}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{service.url}/")


def _axe(page: Any, where: str) -> list[str]:
    """Run axe on the page; every violation as text, the failing ones marked FAIL."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluate, not add_script_tag: an inline <script> would be refused by the page's CSP.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    found = []
    for kind in ("violations", "incomplete"):
      for violation in results[kind]:
        impact = violation.get("impact") or "?"
        targets = "; ".join(
            " ".join(str(t) for t in node["target"]) for node in violation["nodes"][:8]
        )
        mark = "FAIL" if impact in FAILING and kind == "violations" else kind[:4]
        found.append(
          f"{mark} {where}: [{impact}] {violation['id']}: {violation['help']} -> {targets}"
        )
    return found


def _check(page: Any, url: str, where: str, status: int = 200) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.status == status, (where, response)
    return _axe(page, where)


def _assert_clean(found: list[str]) -> None:
    for line in found:
        print(line)
    failing = [line for line in found if line.startswith("FAIL")]
    assert not failing, "serious or critical axe violations:\n" + "\n".join(failing)


@pytest.fixture
def rota(service: Service) -> Iterator[datetime]:
    """Demo data, plus this week in the right-wing team: a stand-in, a gap (the primary shift of
    the day after tomorrow removed), and a gap right now in the islamism team; a voicemail and
    a simulated SMS; an admin, and a counsellor account for Sabine Roth. Yields today's noon."""
    config: HotlineConfig = service.settings.config
    zone = config.organisation.zone
    now = datetime.now(zone)
    today = now.date()
    with service.database.write() as session:
        load_demo(session, config, today)
        users.create_user(
            session, config, users.NewUser("admin", PASSWORD, Role.ADMIN), actor="tests"
        )
        extra = add_counsellor(session, config, "right-wing", name="Cem Aksoy")
        names = {c.name: c.id for c in session.scalars(select(Counsellor))}
        users.create_user(
            session,
            config,
            users.NewUser(
                "sabine", PASSWORD, Role.COUNSELLOR, counsellor_id=names["Sabine Roth"]
            ),
            actor="tests",
        )
        later = now + timedelta(days=2)
        for slug, at in (("right-wing", later), ("islamism", now)):
            team = session.scalars(select(Team).where(Team.slug == slug)).one()
            window = {"start": at, "end": at + timedelta(seconds=1), "team": team}
            for shift in shifts.list_shifts(session, **window):
                if shift.tier is Tier.PRIMARY:
                    shifts.delete_shift(session, shift.id, actor="tests")
        standins.create_stand_in(
            session,
            config,
            standins.NewStandIn(
                "right-wing",
                names["Sabine Roth"],
                extra.id,
                now + timedelta(days=1),
                now + timedelta(days=1, hours=8),
                note="Fortbildung",
            ),
            actor="tests",
        )
        team_id = session.scalar(select(Team.id).where(Team.slug == "right-wing"))
        assert team_id is not None
        line = next(iter(config.lines))
        session.add(Voicemail(line=line, team_id=team_id, recording_sid="RE" + "0" * 32))
        outbox.queue(
            session,
            service.settings,
            to="+4915100000001",
            body="Erinnerung: Termin morgen um 10:00.",
            from_number="+4971100000000",
            purpose="reminder",
        )
    yield now.replace(hour=12, minute=0, second=0, microsecond=0)


def test_axe_admin_pages(service: Service, rota: datetime, browser_page: Any) -> None:
    page, url = browser_page, service.url
    day = rota.date().isoformat()
    found = _check(page, f"{url}/login", "login")
    page.get_by_label("Benutzername").fill("admin")
    page.get_by_label("Passwort").fill("falsch-falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    found += _axe(page, "login with error")
    _login(page, service, "admin")
    found += _axe(page, "dashboard (admin)")
    for view in ("week", "month"):
        found += _check(page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view}")
    found += _check(page, f"{url}/rota/islamism?view=week&date={day}", "rota with a gap now")
    # The rota forms with errors and the rotation preview.
    page.locator("form[action$='/shifts']").get_by_role("button").click()
    found += _axe(page, "rota, shift form with errors")
    rotation = page.locator("form[action$='/rotation']")
    rotation.get_by_label("Amira Yilmaz", exact=True).fill("1")
    rotation.get_by_label("Jonas Becker", exact=True).fill("2")
    rotation.get_by_label("Erster Tag").fill(day)
    rotation.get_by_label("Letzter Tag").fill((rota.date() + timedelta(days=14)).isoformat())
    rotation.get_by_role("button", name="Vorschau").click()
    page.get_by_role("heading", name="Vorschau").wait_for()
    found += _axe(page, "rota, rotation preview")
    found += _check(page, f"{url}/counsellors", "counsellors")
    page.locator("form.stacked").get_by_role("button", name="Speichern").click()
    page.get_by_role("alert").wait_for()
    found += _axe(page, "counsellors, form with errors")
    found += _check(page, f"{url}/audit", "audit")
    found += _check(page, f"{url}/gibt-es-nicht", "not found (404)", 404)
    _assert_clean(found)


def test_axe_counsellor_pages(service: Service, rota: datetime, browser_page: Any) -> None:
    page, url = browser_page, service.url
    _login(page, service, "sabine")
    found = _axe(page, "dashboard (counsellor)")
    day = rota.date().isoformat()
    for view in ("week", "month"):
        found += _check(
            page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view} (counsellor)"
        )
    found += _check(page, f"{url}/counsellors", "forbidden (403)", 403)
    found += _check(page, f"{url}/gibt-es-nicht", "not found (404, signed in)", 404)
    _assert_clean(found)


FOCUS_STYLE = """el => {
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    return {
        visible: el.matches(':focus-visible') && (outline || style.boxShadow !== 'none'),
        outline: style.outlineStyle + ' ' + style.outlineWidth + ' ' + style.outlineColor,
    };
}"""


def _tab_to(page: Any, selector: str, limit: int = 10) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            style = page.evaluate(FOCUS_STYLE, page.locator(selector).element_handle())
            assert style["visible"], (selector, style)
            return
    active = page.evaluate("document.activeElement.outerHTML")
    raise AssertionError(f"Tab did not reach {selector}; the focus is on {active}")


def test_keyboard_sign_in_and_skip_link(service: Service, rota: datetime, browser_page: Any) -> None:
    page, url = browser_page, service.url
    page.goto(f"{url}/login")
    # From the top of the page: the skip link first, then the form in reading order.
    page.evaluate("document.activeElement.blur()")
    page.locator("body").focus()
    _tab_to(page, "a.skip", limit=1)
    assert page.locator("a.skip").bounding_box()["x"] >= 0, "the skip link shows when focused"
    _tab_to(page, "#username", limit=1)
    page.keyboard.type("admin")
    _tab_to(page, "#password", limit=1)
    page.keyboard.type(PASSWORD)
    _tab_to(page, "form.login button[type=submit]", limit=1)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/")

    # Signed in: the skip link leads past the navigation to the main content.
    page.evaluate("document.activeElement.blur()")
    page.locator("body").focus()
    _tab_to(page, "a.skip", limit=1)
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#inhalt"
    page.keyboard.press("Tab")
    inside = page.evaluate("document.querySelector('main').contains(document.activeElement)")
    assert inside, page.evaluate("document.activeElement.outerHTML")
    # Every link and button of the navigation shows where the focus is.
    page.goto(f"{url}/rota/right-wing")
    for selector in ("header nav a >> nth=0", "form.logout button", "nav.period a >> nth=0"):
        element = page.locator(selector)
        element.focus()
        style = page.evaluate(FOCUS_STYLE, element.element_handle())
        assert style["outline"].split()[0] != "none" or style["visible"], (selector, style)
