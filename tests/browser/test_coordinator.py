"""A coordinator's week, in a real browser: sign in, build a rota, cover an absence, sign out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from config.model import HotlineConfig
from hotline import users
from hotline.models import Role
from scheduling.demo import load_demo
from tests.browser.conftest import ARTIFACTS, Service
from tests.conftest import add_counsellor

PASSWORD = "Bodensee-Fähre-1987"


def test_coordinator_builds_next_months_rota(service: Service, browser_page: Any) -> None:
    page = browser_page
    config: HotlineConfig = service.settings.config
    today = datetime.now(service.settings.config.organisation.zone).date()
    with service.database.write() as session:
        load_demo(session, config, today)
        people = [
            add_counsellor(session, config, "right-wing", name=n).id
            for n in ("Ada Graf", "Ben Ott", "Cem Aksoy")
        ]
        teams = ("islamism", "right-wing")
        new = users.NewUser("koordination", PASSWORD, Role.COORDINATOR, teams)
        users.create_user(session, config, new, actor="tests")
    assert people

    # Sign in.
    page.goto(f"{service.url}/")
    assert page.url.startswith(f"{service.url}/login")
    page.get_by_label("Benutzername").fill("koordination")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{service.url}/")
    assert page.get_by_role("heading", name="Team Islamismus").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Next month's rota for the right-wing team, by the rotation generator.
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    page.goto(f"{service.url}/rota/right-wing?view=month&date={first.isoformat()}")
    assert page.get_by_text("Lücken in diesem Zeitraum").is_visible()
    form = page.locator("form[action$='/rotation']")
    for position, name in enumerate(("Ada Graf", "Ben Ott"), 1):
        form.get_by_label(name, exact=True).fill(str(position))
    form.get_by_label("Schichtlänge in Tagen").fill("7")
    form.get_by_label("Übergabe (Uhrzeit)").fill("09:00")
    form.get_by_label("Erster Tag").fill((first - timedelta(days=1)).isoformat())
    form.get_by_label("Letzter Tag").fill(last.isoformat())
    form.get_by_role("button", name="Vorschau").click()
    assert page.get_by_role("heading", name="Vorschau").is_visible()
    page.get_by_role("button", name="Diese Dienste speichern").click()
    page.wait_for_url(f"{service.url}/rota/right-wing?*")
    page.goto(f"{service.url}/rota/right-wing?view=month&date={first.isoformat()}")
    assert page.get_by_text("Keine Lücken in diesem Zeitraum.").is_visible()
    assert page.locator("svg.timeline g.shift").count() >= 4

    # Cover a holiday with a stand-in.
    stand_in = page.locator("form[action$='/standins']")
    stand_in.get_by_label("Abwesend").select_option(label="Ada Graf")
    stand_in.get_by_label("Vertreten durch").select_option(label="Cem Aksoy")
    stand_in.get_by_label("Von (Datum)").fill(first.isoformat())
    stand_in.get_by_label("Bis (Datum)").fill((first + timedelta(days=3)).isoformat())
    stand_in.get_by_role("button", name="Vertretung eintragen").click()
    page.wait_for_url(f"{service.url}/rota/right-wing?*")
    page.goto(f"{service.url}/rota/right-wing?view=month&date={first.isoformat()}")
    assert page.get_by_role("listitem").filter(has_text="Cem Aksoy vertritt Ada Graf").is_visible()
    assert page.get_by_text("Keine Lücken in diesem Zeitraum.").is_visible()
    page.screenshot(path=str(ARTIFACTS / "rota-month.png"), full_page=True)
    page.goto(f"{service.url}/rota/right-wing?view=week&date={first.isoformat()}")
    page.screenshot(path=str(ARTIFACTS / "rota-week.png"), full_page=True)

    # Sign out: the page is gone.
    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url(f"{service.url}/login")
    page.goto(f"{service.url}/rota/right-wing")
    assert page.url.startswith(f"{service.url}/login")
