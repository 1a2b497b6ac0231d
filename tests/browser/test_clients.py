"""A client's case in a real browser, at phone width: a counsellor links a voicemail to a new
client from the task list, writes two plan steps, books the next appointment from the client's
page, marks one step reached; axe-core, the phone checks (no sideways scrolling, 44 px targets)
and a screenshot tests/artifacts/phone-client-case.png."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from foundation import crypto
from foundation.models import Appointment, Client, PlanStep, PlanStepStatus, Team, Voicemail
from tests.browser.conftest import Service, assert_clean, login
from tests.browser.test_phone import PHONE, _window, check_phone


def test_a_counsellor_opens_a_case_from_a_voicemail_on_a_phone(
    service: Service, rota: date, chromium: Any
) -> None:
    with service.database.write() as session:
        team = session.scalars(select(Team).where(Team.slug == "right-wing")).one()
        sealed = crypto.box(service.settings).seal("+4917655556666")
        voicemail = Voicemail(line="right-wing", team_id=team.id, recording_sid="RE" + "9" * 32,
                              duration_seconds=40, caller_phone_enc=sealed)  # fmt: skip
        session.add(voicemail)
        session.flush()
        voicemail_id = voicemail.id
    width = PHONE["width"]
    page = _window(chromium, width)
    login(page, service, "sabine")
    page.goto(f"{service.url}/tasks")
    task = page.locator(f"#voicemail-{voicemail_id}")
    task.get_by_label("Pseudonym der neuen Akte").fill("Reiher")
    task.get_by_role("button", name="Zuordnen").click()
    page.wait_for_url(f"**/tasks#voicemail-{voicemail_id}")
    found = check_phone(page, "tasks, a voicemail linked", "tasks-linked", width)
    page.locator(f"#voicemail-{voicemail_id}").get_by_role("link", name="Reiher").click()
    page.get_by_role("heading", name="Ausstiegsplan").wait_for()
    assert page.locator("ol.days li", has_text="Sprachnachricht").is_visible()
    for title in ("Kontakt zur Gruppe beenden", "Schuldnerberatung aufsuchen"):
        page.get_by_label("Ziel oder Schritt").fill(title)
        page.get_by_role("button", name="Schritt hinzufügen").click()
        page.get_by_role("status").filter(has_text="Der Schritt ist gespeichert").wait_for()
    page.get_by_role("link", name="Termin buchen").click()
    form = page.locator("form[action='/appointments']")
    assert form.get_by_text("Reiher").is_visible()
    form.get_by_label("Datum").fill((rota + timedelta(days=6)).isoformat())
    form.get_by_label("Beginn (Uhrzeit").fill("11:00")
    form.get_by_label("Telefon", exact=True).check()
    form.get_by_role("button", name="Termin buchen").click()
    page.get_by_role("status").filter(has_text="Der Termin ist gebucht").wait_for()
    assert page.locator("ol.days li", has_text="Termin").is_visible()
    step = "Kontakt zur Gruppe beenden"
    page.get_by_label(f"Stand: {step}").select_option("reached")
    page.get_by_role("button", name=re.compile(rf"^Stand speichern\s*: {step}$")).click()
    page.get_by_role("status").filter(has_text="Der Schritt ist gespeichert").wait_for()
    assert page.locator("li", has_text=step).get_by_text("erreicht").first.is_visible()
    found += check_phone(page, "a client's case", "client-case", width, whole=True)
    page.context.close()
    assert_clean(found)
    with service.database.read() as session:
        client = session.scalars(select(Client).where(Client.pseudonym == "Reiher")).one()
        linked = session.get(Voicemail, voicemail_id)
        assert linked is not None
        assert linked.client_id == client.id
        steps = session.scalars(select(PlanStep).where(PlanStep.client_id == client.id)).all()
        assert sorted(s.status for s in steps) == sorted(
            [PlanStepStatus.REACHED, PlanStepStatus.OPEN]
        )
        booked = session.scalars(select(Appointment).where(Appointment.client_id == client.id))
        assert [a.client_pseudonym for a in booked] == ["Reiher"]
