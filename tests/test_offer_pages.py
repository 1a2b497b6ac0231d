"""Open shifts through the browser: "Meine Dienste" offers a shift, shows it to the colleagues
who may take it and takes it; "Tauschanfragen" approves it, and its coordination offers any
shift of the team. What the use cases decide is tested in tests.test_offers."""

from __future__ import annotations

import time_machine
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from foundation.db import Database
from foundation.models import NoticeKind, ShiftNotice, ShiftOffer
from scheduling import shifts
from tests import test_swaps
from tests.conftest import add_counsellor, berlin
from tests.helpers import counsellor_of
from tests.test_auth import csrf_of, sign_in
from tests.test_offers import MINUTE, TOMORROW, offer_count
from tests.test_swaps import add_shift, as_user, holders

# The swaps' clock, and its browser with Amira, Jonas and their coordination signed up.
clock = test_swaps.clock
web = test_swaps.web


def change_notices(database: Database) -> int:
    with database.read() as session:
        query = select(func.count()).where(ShiftNotice.kind == NoticeKind.CHANGED)
        return session.scalar(query) or 0


def only_offer(database: Database) -> int:
    with database.read() as session:
        return session.scalars(select(ShiftOffer.id)).one()


def test_pages_walk_an_offer_through(
    web: TestClient, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> None:
    amira, jonas = counsellor_of(database, "amira"), counsellor_of(database, "jonas")
    mine = add_shift(database, config, amira, *TOMORROW)
    clock.shift(MINUTE)

    csrf = as_user(web, "amira")
    page = web.get("/shifts/mine").text
    assert "Dem Team anbieten" in page
    assert "sobald die Koordination zustimmt" in page
    assert "Zurzeit gibt es keine offenen Dienste" in page
    form = {"csrf": csrf, "shift_id": str(mine), "note": "Arzttermin"}
    assert web.post("/shifts/mine/offers", data=form | {"csrf": "forged"}).status_code == 403
    offered = web.post("/shifts/mine/offers", data=form)
    assert offered.headers["location"] == "/shifts/mine?done=offered"
    page = web.get(offered.headers["location"]).text
    assert "Ihr Dienst ist dem Team angeboten" in page
    assert "Dem Team angeboten; noch hat ihn niemand übernommen." in page
    assert "Angebot zurückziehen" in page
    again = web.post("/shifts/mine/offers", data=form)
    assert again.status_code == 409
    assert "Dieser Dienst ist bereits angeboten. Es wurde nichts geändert." in again.text
    offer_id = only_offer(database)
    assert web.post(f"/shifts/mine/offers/{offer_id}/take", data={"csrf": csrf}).status_code == 422

    csrf = as_user(web, "jonas")
    page = web.get("/shifts/mine").text
    assert "Team Islamismus – Amira: Do 26.11., 09:00 bis Fr 27.11., 09:00 (Erreichbar)" in page
    assert "Notiz: Arzttermin" in page
    assert (
        web.post(f"/shifts/mine/offers/{offer_id}/withdraw", data={"csrf": csrf}).status_code == 422
    )
    taken = web.post(f"/shifts/mine/offers/{offer_id}/take", data={"csrf": csrf})
    assert taken.headers["location"] == "/shifts/mine?done=offer-taken"
    page = web.get(taken.headers["location"]).text
    assert "Die Koordination muss noch zustimmen" in page
    assert "Sie übernehmen von Amira (Team Islamismus)" in page
    assert web.post("/shifts/mine/offers/999999/take", data={"csrf": csrf}).status_code == 404

    web.cookies.clear()
    sign_in(web, "koordination")
    assert "1 Übernahme eines offenen Dienstes wartet auf Ihre Genehmigung" in web.get("/").text
    page = web.get("/rota/islamism/swaps").text
    assert "Jonas übernimmt den Dienst von Amira: Do 26.11., 09:00 bis Fr 27.11., 09:00" in page
    csrf = csrf_of(page)
    assert (
        web.post(f"/rota/right-wing/offers/{offer_id}/approve", data={"csrf": csrf}).status_code
        == 403
    )
    told = change_notices(database)
    approved = web.post(f"/rota/islamism/offers/{offer_id}/approve", data={"csrf": csrf})
    assert approved.headers["location"] == "/rota/islamism/swaps?done=offer-approved"
    decided = web.get(approved.headers["location"]).text
    assert "Die Übernahme ist genehmigt" in decided
    assert "<td>Jonas</td><td>übergeben</td>" in decided  # in the history
    assert holders(database, mine) == [jonas]
    assert change_notices(database) == told  # the offer's notices tell both; nothing on top
    assert "Übernahme eines offenen Dienstes" not in web.get("/").text


def test_the_coordination_offers_a_shift_of_its_team(
    web: TestClient, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> None:
    amira, jonas = counsellor_of(database, "amira"), counsellor_of(database, "jonas")
    mine = add_shift(database, config, amira, *TOMORROW)
    with database.write() as session:
        rico = add_counsellor(session, config, "right-wing", name="Rico").id
    foreign = add_shift(database, config, rico, *TOMORROW, team="right-wing")
    clock.shift(MINUTE)
    web.cookies.clear()
    sign_in(web, "koordination")
    page = web.get("/rota/islamism/swaps").text
    assert "<h3>Dienst anbieten</h3>" in page
    assert f'<option value="{mine}">Amira: Do 26.11., 09:00 – Fr 27.11., 09:00 (Erreichbar)' in page
    csrf = csrf_of(page)
    for shift_id in (foreign, 999_999):  # another team's shift is answered like a missing one
        refused = web.post("/rota/islamism/offers", data={"csrf": csrf, "shift_id": str(shift_id)})
        assert refused.status_code == 404
    assert offer_count(database) == 0
    offered = web.post("/rota/islamism/offers", data={"csrf": csrf, "shift_id": str(mine)})
    assert offered.headers["location"] == "/rota/islamism/swaps?done=team-offered"
    page = web.get(offered.headers["location"]).text
    assert "ohne weitere Genehmigung" in page
    assert "Amira (von der Koordination angeboten)" in page
    assert f'<option value="{mine}">' not in page  # on offer, not offered twice

    csrf = as_user(web, "jonas")
    offer_id = only_offer(database)
    taken = web.post(f"/shifts/mine/offers/{offer_id}/take", data={"csrf": csrf})
    assert taken.headers["location"] == "/shifts/mine?done=offer-applied"
    assert holders(database, mine) == [jonas]
    page = web.get(taken.headers["location"]).text
    assert "Der Dienstplan ist geändert" in page
    assert "<td>Jonas</td><td>übergeben</td>" in page


def test_only_who_may_take_an_open_shift_is_offered_it(
    web: TestClient, database: Database, config: HotlineConfig, clock: time_machine.Traveller
) -> None:
    amira, jonas = counsellor_of(database, "amira"), counsellor_of(database, "jonas")
    mine = add_shift(database, config, amira, *TOMORROW)
    night = add_shift(database, config, jonas, berlin(2026, 11, 26, 20), berlin(2026, 11, 27, 6))
    clock.shift(MINUTE)
    csrf = as_user(web, "amira")
    offered = web.post("/shifts/mine/offers", data={"csrf": csrf, "shift_id": str(mine)})
    assert offered.status_code == 303
    as_user(web, "jonas")
    page = web.get("/shifts/mine").text
    assert "Zurzeit gibt es keine offenen Dienste" in page  # he is busy that night
    assert "Amira: Do 26.11., 09:00 – Fr 27.11., 09:00" not in page  # nor a swap's return shift
    with database.write() as session:
        shifts.delete_shift(session, night, actor="tests")
    assert "Übernehmen<span" in web.get("/shifts/mine").text
