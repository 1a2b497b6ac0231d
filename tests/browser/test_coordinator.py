"""A coordinator's week, in a real browser: sign in, build a rota, cover an absence, sign out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from config.model import HotlineConfig
from foundation import users
from foundation.models import Role, Shift, Team
from scheduling.demo import load_demo
from tests.browser.conftest import ARTIFACTS, PASSWORD, Service
from tests.conftest import add_counsellor


def test_coordinator_builds_next_months_rota(service: Service, browser_page: Any) -> None:
    page = browser_page
    config: HotlineConfig = service.settings.config
    today = datetime.now(service.settings.config.organisation.zone).date()
    with service.database.write() as session:
        load_demo(session, config, today)
        # The right-wing team starts with an empty rota: the coordinator builds it.
        team_id = session.scalar(select(Team.id).where(Team.slug == "right-wing"))
        session.execute(delete(Shift).where(Shift.team_id == team_id))
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
    assert page.locator("p.error", has_text="Lücken in diesem Zeitraum").is_visible()
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

    # Ada goes on holiday: her shift is flagged and a gap opens.
    absence = page.locator("form[action$='/absences']")
    absence.get_by_label("Person").select_option(label="Ada Graf")
    absence.get_by_label("Art").select_option(label="Urlaub")
    absence.get_by_label("Von (Datum)").fill(first.isoformat())
    absence.get_by_label("Bis (Datum)").fill((first + timedelta(days=3)).isoformat())
    absence.get_by_role("button", name="Abwesenheit eintragen").click()
    page.wait_for_url(f"{service.url}/rota/right-wing?*")
    page.goto(f"{service.url}/rota/right-wing?view=month&date={first.isoformat()}")
    gap = page.locator("p.error", has_text="Lücken in diesem Zeitraum")
    assert gap.is_visible()
    assert "bis" in gap.inner_text()
    assert page.get_by_role("heading", name="Abwesenheit ohne Vertretung").is_visible()
    assert page.locator("svg.timeline g.shift.hit").count() == 1
    page.screenshot(path=str(ARTIFACTS / "rota-holiday-gap.png"), full_page=True)

    # Cover the holiday with a stand-in, from the link next to the warning: the gap closes.
    page.get_by_role("link", name="Vertretung eintragen").first.click()
    stand_in = page.locator("form[action$='/standins']")
    assert stand_in.get_by_label("Abwesend").input_value() == str(people[0])
    assert stand_in.get_by_label("Von (Datum)").input_value() == first.isoformat()
    stand_in.get_by_label("Vertreten durch").select_option(label="Cem Aksoy")
    stand_in.get_by_role("button", name="Vertretung eintragen").click()
    page.wait_for_url(f"{service.url}/rota/right-wing?*")
    page.goto(f"{service.url}/rota/right-wing?view=month&date={first.isoformat()}")
    assert page.get_by_role("listitem").filter(has_text="Cem Aksoy vertritt Ada Graf").is_visible()
    assert page.get_by_text("Keine Lücken in diesem Zeitraum.").is_visible()
    assert page.locator("svg.timeline g.shift.hit").count() == 1  # still on holiday, but covered
    assert page.get_by_role("heading", name="Abwesenheit ohne Vertretung").count() == 0
    page.screenshot(path=str(ARTIFACTS / "rota-month.png"), full_page=True)
    page.goto(f"{service.url}/rota/right-wing?view=week&date={first.isoformat()}")
    page.screenshot(path=str(ARTIFACTS / "rota-week.png"), full_page=True)

    # Sign out: the page is gone.
    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url(f"{service.url}/login")
    page.goto(f"{service.url}/rota/right-wing")
    assert page.url.startswith(f"{service.url}/login")
