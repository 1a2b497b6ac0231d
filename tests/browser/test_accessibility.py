"""Accessibility in a real browser: axe-core on every main page, and the keyboard on sign-in.

axe-core is vendored (tests/browser/vendor/axe.min.js, see the README there) and evaluated in
the page by Playwright, so the pages keep their strict Content-Security-Policy. A violation of
impact "serious" or "critical" fails the test; lesser ones, and serious checks that axe leaves
undecided, are printed. axe cannot decide the contrast of SVG text (the rota timeline), so the
test measures it itself, as it does the contrast of the keyboard focus ring."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.model import HotlineConfig
from foundation import outbox, users
from foundation.models import AbsenceKind, Counsellor, Role, Team, Tier, Voicemail
from scheduling import absences, shifts, standins
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


CONTRAST = r"""
const rgba = c => (c.match(/[\d.]+/g) || []).map(Number);
const lum = c => rgba(c).slice(0, 3).map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
};
const opaque = e => {
    for (; e; e = e.parentElement) {
        const color = getComputedStyle(e).backgroundColor;
        if (rgba(color)[3] !== 0) return color;
    }
    return 'rgb(255, 255, 255)';
};
// The colour just outside the element, where its focus ring is drawn.
const backdrop = el => {
    const box = el.getBoundingClientRect();
    const x = box.left >= 5 ? box.left - 4 : box.right + 4;
    const under = document.elementsFromPoint(x, box.top + box.height / 2)
        .find(e => e !== el && !el.contains(e));
    return opaque(under || document.body);
};
"""
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


SVG_TEXT = (
    "() => {"
    + CONTRAST
    + """
    const low = [];
    for (const text of document.querySelectorAll('svg text')) {
        text.scrollIntoView({block: 'center'});
        const box = text.getBoundingClientRect();
        const under = document.elementsFromPoint(box.x + box.width / 2, box.y + box.height / 2)
            .find(e => e.tagName === 'rect');
        const back = under ? getComputedStyle(under).fill : opaque(text.closest('svg'));
        const value = ratio(getComputedStyle(text).fill, back);
        if (value < 4.5) low.push([text.textContent, value]);
    }
    window.scrollTo(0, 0);
    return low;
}"""
)


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
    assert results["passes"], f"{where}: axe checked nothing"
    found = []
    for kind in ("violations", "incomplete"):
        for violation in results[kind]:
            impact = violation.get("impact") or "?"
            if kind == "incomplete" and impact not in FAILING:
                continue
            mark = {"violations": "note", "incomplete": "undecided"}[kind]
            if kind == "violations" and impact in FAILING:
                mark = "FAIL"
            targets = "; ".join(
                " ".join(str(t) for t in node["target"]) for node in violation["nodes"][:8]
            )
            found.append(
                f"{mark} {where}: [{impact}] {violation['id']}: {violation['help']} -> {targets}"
            )
    # axe leaves the contrast of SVG text undecided ("incomplete"): measure it here, text colour
    # against the shape under the middle of the text (4.5:1, it is small text).
    for text, value in page.evaluate(SVG_TEXT):
        found.append(f"FAIL {where}: [serious] svg-text-contrast: {value:.2f}:1 -> {text!r}")
    return found


def _check(page: Any, url: str, where: str, status: int = 200) -> list[str]:
    response = page.goto(url)
    assert response is not None, where
    assert response.status == status, (where, response.status)
    return _axe(page, where)


def _assert_clean(found: list[str]) -> None:
    for line in found:
        print(line)
    failing = [line for line in found if line.startswith("FAIL")]
    assert not failing, "serious or critical axe violations:\n" + "\n".join(failing)


@pytest.fixture
def rota(service: Service) -> date:
    """Demo data, and in it: a gap, a stand-in and two absences without stand-in right now in the
    right-wing team (so all are in this week and this month), a gap the day after tomorrow in
    the islamism team, a new
    voicemail and a simulated SMS; an admin, and a counsellor account for Sabine Roth (in the
    right-wing team). Returns today's date."""
    config: HotlineConfig = service.settings.config
    now = datetime.now(config.organisation.zone)
    with service.database.write() as session:
        load_demo(session, config, now.date())
        admin = users.NewUser("admin", PASSWORD, Role.ADMIN)
        users.create_user(session, config, admin, actor="tests")
        extra = add_counsellor(session, config, "right-wing", name="Cem Aksoy")
        names = {c.name: c.id for c in session.scalars(select(Counsellor))}
        sabine = users.NewUser(
            "sabine", PASSWORD, Role.COUNSELLOR, counsellor_id=names["Sabine Roth"]
        )
        users.create_user(session, config, sabine, actor="tests")
        for slug, at in (("right-wing", now), ("islamism", now + timedelta(days=2))):
            team = session.scalars(select(Team).where(Team.slug == slug)).one()
            on_duty = shifts.list_shifts(
                session, start=at, end=at + timedelta(seconds=1), team=team
            )
            for shift in on_duty:
                if shift.tier is Tier.PRIMARY:
                    shifts.delete_shift(session, shift.id, actor="tests")
        absence = standins.NewStandIn(
            "right-wing",
            names["Sabine Roth"],
            extra.id,
            now - timedelta(hours=2),
            now + timedelta(hours=6),
            note="Fortbildung",
        )
        standins.create_stand_in(session, config, absence, actor="tests")
        for name in ("Markus Weber", "Nina Hoffmann"):  # on holiday, their shifts not covered
            away = absences.NewAbsence(
                names[name], AbsenceKind.HOLIDAY, now - timedelta(hours=1), now + timedelta(days=2)
            )
            absences.create_absence(session, away, actor="tests")
        line, spec = next(iter(config.lines.items()))
        team_id = session.scalars(select(Team.id).where(Team.slug == spec.team)).one()
        session.add(Voicemail(line=line, team_id=team_id, recording_sid="RE" + "0" * 32))
        reminder = "Erinnerung: Termin morgen um 10:00."
        outbox.queue(
            session,
            service.settings,
            to="+4915100000001",
            body=reminder,
            from_number="+4971100000000",
            purpose="reminder",
        )
    return now.date()


def test_axe_admin_pages(service: Service, rota: date, browser_page: Any) -> None:
    page, url = browser_page, service.url
    day = rota.isoformat()
    found = _check(page, f"{url}/login", "login")
    page.get_by_label("Benutzername").fill("admin")
    page.get_by_label("Passwort").fill("falsch-falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    found += _axe(page, "login with error")
    _login(page, service, "admin")
    found += _axe(page, "dashboard (admin)")
    for view in ("week", "month"):
        found += _check(page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view}")
    # Another team's rota; its forms with errors, and the rotation preview.
    found += _check(page, f"{url}/rota/islamism?view=week&date={day}", "rota islamism")
    page.locator("form[action$='/shifts']").get_by_role("button").click()
    found += _axe(page, "rota, shift form with errors")
    rotation = page.locator("form[action$='/rotation']")
    rotation.get_by_label("Amira Yilmaz", exact=True).fill("1")
    rotation.get_by_label("Jonas Becker", exact=True).fill("2")
    rotation.get_by_label("Erster Tag").fill(day)
    rotation.get_by_label("Letzter Tag").fill((rota + timedelta(days=14)).isoformat())
    rotation.get_by_role("button", name="Vorschau").click()
    page.get_by_role("heading", name="Vorschau").wait_for()
    found += _axe(page, "rota, rotation preview")
    found += _check(page, f"{url}/rota/right-wing/swaps", "swaps and open shifts of a team")
    found += _check(page, f"{url}/counsellors", "counsellors")
    page.locator("form.stacked").get_by_role("button", name="Speichern").click()
    page.get_by_role("alert").wait_for()
    found += _axe(page, "counsellors, form with errors")
    found += _check(page, f"{url}/audit", "audit")
    found += _check(page, f"{url}/gibt-es-nicht", "not found (404)", 404)
    _assert_clean(found)


def test_axe_counsellor_pages(service: Service, rota: date, browser_page: Any) -> None:
    page, url = browser_page, service.url
    _login(page, service, "sabine")
    found = _axe(page, "dashboard (counsellor)")
    day = rota.isoformat()
    for view in ("week", "month"):
        found += _check(
            page, f"{url}/rota/right-wing?view={view}&date={day}", f"rota {view} (counsellor)"
        )
    found += _check(page, f"{url}/shifts/mine", "Meine Dienste (swaps, open shifts)")
    found += _check(page, f"{url}/counsellors", "forbidden (403)", 403)
    found += _check(page, f"{url}/gibt-es-nicht", "not found (404, signed in)", 404)
    _assert_clean(found)
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
    # In reading order: the skip link, the two fields, the button (and nothing else).
    assert page.evaluate(TABBABLE) == ["skip", "username", "password", "BUTTON"]
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
    _press(page, "Tab", "form.logout button")
    _press(page, "Tab", "nav.period a")
    # The skip link leads past the navigation, to the main content.
    page.reload()
    _press(page, "Tab", "a.skip")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#inhalt"
    _press(page, "Tab", "main nav.period a")
