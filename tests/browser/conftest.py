"""Browser tests: the real service in a thread, driven by Playwright in the system Chromium
(Debian's `chromium`; never a downloaded browser). Screenshots go to tests/artifacts/.

Shared by the browser tests: signing in, axe-core on a page (`run_axe`, `check_page`) with the
findings that fail a test marked FAIL (`assert_clean`), and the demo rota of `rota`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.model import HotlineConfig, load_config
from config.settings import Settings
from foundation import outbox, users
from foundation.db import Database, make_engine, upgrade
from foundation.models import AbsenceKind, Counsellor, Role, Team, Tier, Voicemail
from foundation.teams import sync_teams
from scheduling import absences, shifts, standins
from scheduling.demo import load_demo
from tests.conftest import add_counsellor
from tests.helpers import free_port, serving
from web.app import create_app

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
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
    document.querySelectorAll('.scroller').forEach(box => { box.scrollLeft = 0; });
    return low;
}"""
)


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
    yield from serve(tmp_path, free_port(), load_config(None))


def serve(tmp_path: Path, port: int, config: HotlineConfig, **extra: Any) -> Iterator[Service]:
    """The real service on http://localhost:`port`, with a new SQLite database (for a fixture)."""
    url = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
    upgrade(url)
    public_url = f"http://localhost:{port}"
    settings = Settings(config=config, database_url=url, public_url=public_url, **extra)
    database = Database(make_engine(url))
    with database.write() as session:
        sync_teams(session, settings.config)
    try:
        with serving(create_app(settings, database=database), port):
            yield Service(f"http://localhost:{port}", database, settings)
    finally:
        database.dispose()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """The system Chromium, driven by Playwright; each test opens its own contexts in it."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A page in a desk-sized window (1280 × 900), German, in Berlin."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="de-DE", timezone_id="Europe/Berlin"
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def login(page: Any, service: Service, username: str) -> None:
    page.goto(f"{service.url}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{service.url}/")


def run_axe(page: Any, where: str) -> list[str]:
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


def check_page(page: Any, url: str, where: str, status: int = 200) -> list[str]:
    response = page.goto(url)
    assert response is not None, where
    assert response.status == status, (where, response.status)
    return run_axe(page, where)


def assert_clean(found: list[str]) -> None:
    """Print every finding; fail on those marked FAIL (serious or critical, or a failed check)."""
    for line in found:
        print(line)
    failing = [line for line in found if line.startswith("FAIL")]
    assert not failing, "serious or critical findings:\n" + "\n".join(failing)


@pytest.fixture
def rota(service: Service) -> date:
    """Demo data (with its clients), and in it: a gap, a stand-in and two absences without
    stand-in right now in the right-wing team (so all are in this week and this month), a gap
    the day after tomorrow in the islamism team, a new
    voicemail and a simulated SMS; an admin, and a counsellor account for Sabine Roth (in the
    right-wing team). Returns today's date."""
    config: HotlineConfig = service.settings.config
    now = datetime.now(config.organisation.zone)
    with service.database.write() as session:
        load_demo(session, config, now.date(), service.settings)  # with the demo's clients
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
