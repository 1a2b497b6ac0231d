"""What an attacker types: ids, tokens, dates, text and bodies no form ever sends. Each is
refused with a clear answer (404, 403, 422, a German message) and never a 500; nothing changes.

The routes and the world come from the access matrix (`tests/test_access_matrix.py`), so a new
route is attacked too.
"""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from config.settings import Settings
from foundation.db import Database
from foundation.models import MAX_ID
from tests.helpers import post_signed
from tests.test_access_matrix import ROLES, ROUTES, Api, Page, World, sign_in, url

# Digits to `str.isdigit` but not to a person: '²' makes int() raise, '١' and '１' are read as 1.
UNICODE_DIGITS = ("²", "١", "１")


@pytest.fixture
def world(database: Database, settings: Settings) -> World:
    return World(database, settings)


def test_an_id_of_unicode_digits_is_an_unknown_address(
    browser: TestClient, world: World, api_key: str
) -> None:
    """Every route with an id in its path, as each role, with ids of non-ASCII digits: the
    pages answer as for an unknown record (404; 403 for a role the page is not for), the API
    422; nothing changes."""
    for record in (world.appointment, world.shift, world.callback, world.swap, world.feed):
        record("islamism", "self")  # record 1 of each kind exists: '١' must not name it
    with_ids = {
        (method, path): route
        for (method, path), route in ROUTES.items()
        if isinstance(route, Page | Api) and re.search(r"\{(?!team\})\w+\}", path)
    }
    before = _records(world)
    for account in ("chef", "koord", "berat"):
        csrf = sign_in(browser, account)
        for (method, path), route in sorted(with_ids.items()):
            if not isinstance(route, Page):
                continue
            expected = 404 if ROLES[account] in route.roles else 403
            data = {"csrf": csrf, **route.form} if method == "POST" else None
            for digit in UNICODE_DIGITS:
                target = url(path, {"team": "islamism"} | dict.fromkeys(_names(path), digit))
                response = browser.request(method, target, data=data)
                assert response.status_code == expected, (account, method, target)
    browser.cookies.clear()
    browser.headers["Authorization"] = f"Bearer {api_key}"
    for (method, path), route in sorted(with_ids.items()):
        if not isinstance(route, Api):
            continue
        for digit in UNICODE_DIGITS:
            target = url(path, dict.fromkeys(_names(path), digit))
            response = browser.request(method, target, json=route.body)
            assert response.status_code == 422, (method, target, response.status_code)
    for query in ("counsellor_id=²", "counsellor_id=١"):
        for listing in ("/api/v1/shifts", "/api/v1/appointments"):
            assert browser.get(f"{listing}?{query}").status_code == 422, (listing, query)
    assert _records(world) == before


def _records(world: World) -> list[object]:
    """What a request may change, without the accounts (signing in stamps them)."""
    return [table for table in world.snapshot() if table[0] != "users"]


def _names(path: str) -> list[str]:
    return [name for name in re.findall(r"\{(\w+)\}", path) if name != "team"]


def test_a_token_with_non_ascii_characters_is_a_wrong_token(
    browser: TestClient, world: World, settings: Settings
) -> None:
    """The CSRF token of the sign-in and of every form, the callback form's token and Twilio's
    signature are compared in constant time; one with an umlaut is wrong, not a crash."""
    browser.get("/login")
    form = {"username": "chef", "password": "x", "csrf": "ä" * 64}
    assert browser.post("/login", data=form).status_code == 403
    csrf = sign_in(browser, "koord")
    assert csrf
    before = _records(world)
    for target in ("/logout", "/counsellors", "/rota/islamism/shifts", "/calendar/feeds"):
        assert browser.post(target, data={"csrf": "ä" * 64}).status_code == 403, target
    browser.cookies.clear()
    refused = browser.post("/rueckruf/islamism", data={"token": "1.ä", "phone": "0151 23456789"})
    assert refused.status_code == 303  # a bot is answered as a person, and nothing is stored
    for path in ("/twilio/voice", "/twilio/sms", "/twilio/status", "/twilio/fallback"):
        signed = post_signed(browser, settings, f"{settings.public_url}{path}", {"CallSid": "CA1"})
        forged = browser.post(
            path,
            content=b"CallSid=CA1",
            headers=[
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"x-twilio-signature", signed.request.headers["x-twilio-signature"].encode()[:-2]
                 + b"\xe4\xe4"),
            ],
        )  # fmt: skip
        assert forged.status_code == 403, path
    assert _records(world) == before


@pytest.mark.parametrize("duration", UNICODE_DIGITS)
def test_a_duration_of_unicode_digits_is_refused_with_a_message(
    browser: TestClient, world: World, duration: str
) -> None:
    csrf = sign_in(browser, "koord")
    form = {"csrf": csrf, "team": "islamism", "pseudonym": "Falke", "date": "2031-03-03",
            "time": "10:00", "duration": duration, "mode": "phone",
            "counsellor_id": str(world.people["islamism", "colleague"])}  # fmt: skip
    before = _records(world)
    response = browser.post("/appointments", data=form)
    assert response.status_code == 422
    assert _records(world) == before


# Near datetime's limits a time zone overflows: 0001-01-01 00:00 in Berlin is in year 0 in UTC.
FAR_DAYS = ("0001-01-01", "9999-12-31")


def test_a_day_out_of_range_on_a_page_is_refused_with_a_message(
    browser: TestClient, world: World
) -> None:
    csrf = sign_in(browser, "koord")
    colleague, second = world.people["islamism", "colleague"], world.people["islamism", "second"]
    before = _records(world)
    for day in FAR_DAYS:
        for view in ("week", "month"):
            shown = browser.get(f"/rota/islamism?view={view}&date={day}")
            assert shown.status_code == 200, (view, day)  # the current week or month instead
        for clock in ("00:00", "23:59"):
            forms = {
                "/rota/islamism/shifts": {"counsellor_id": str(colleague), "tier": "primary",
                                          "start_date": day, "start_time": clock,
                                          "end_date": day, "end_time": clock},
                "/rota/islamism/standins": {"absent_id": str(colleague),
                                            "substitute_id": str(second), "si_start_date": day,
                                            "si_start_time": clock, "si_end_date": day,
                                            "si_end_time": clock},
                "/rota/islamism/absences": {"ab_counsellor_id": str(colleague), "kind": "holiday",
                                            "ab_start_date": day, "ab_start_time": clock,
                                            "ab_end_date": day, "ab_end_time": clock},
                "/appointments": {"team": "islamism", "counsellor_id": str(colleague),
                                  "pseudonym": "Falke", "date": day, "time": clock,
                                  "duration": "60", "mode": "phone"},
                "/rota/islamism/rotation": {"action": "save", "first_day": day,
                                            "last_day": day, "handoff": clock, "shift_days": "7",
                                            "start_index": "1", "tier": "primary",
                                            "order_1": str(colleague)},
            }  # fmt: skip
            for target, form in forms.items():
                response = browser.post(target, data={"csrf": csrf, **form})
                assert response.status_code == 422, (target, day, clock, response.status_code)
    assert _records(world) == before


def test_a_time_out_of_range_in_the_api_is_a_422(api: TestClient, world: World) -> None:
    appointment = world.appointment("islamism", "colleague")["appointment_id"]
    colleague = world.people["islamism", "colleague"]
    before = _records(world)
    early, late = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00"
    for start, end in ((early, "2031-01-01T10:00:00+01:00"), ("2031-01-01T10:00:00+01:00", late)):
        bodies = {
            "/api/v1/shifts": {"team": "islamism", "counsellor_id": colleague, "tier": "primary",
                               "start": start, "end": end},
            "/api/v1/appointments": {"counsellor_id": colleague, "client": {"pseudonym": "X"},
                                     "start": start, "end": end, "mode": "phone"},
            f"/api/v1/appointments/{appointment}/reschedule": {"start": start, "end": end},
        }  # fmt: skip
        for target, body in bodies.items():
            assert api.post(target, json=body).status_code == 422, (target, start, end)
    queries = [("/api/v1/oncall", {"at": early}), ("/api/v1/oncall", {"at": late})]
    for listing in ("/api/v1/shifts", "/api/v1/appointments"):
        queries += [(listing, {"from": early}), (listing, {"from": late}), (listing, {"to": late})]
    for listing, query in queries:
        answer = api.get(listing, params=query)
        assert answer.status_code == 422, (listing, query, answer.status_code)
    assert _records(world) == before


def test_a_body_that_json_cannot_hold_or_an_id_no_database_can_is_refused(
    api: TestClient, world: World
) -> None:
    colleague = world.people["islamism", "colleague"]
    shift = {"team": "islamism", "counsellor_id": colleague, "tier": "primary",
             "start": "2031-01-01T10:00:00+01:00", "end": "2031-01-01T12:00:00+01:00"}  # fmt: skip
    json_type = {"content-type": "application/json"}
    before = _records(world)
    for raw in (b"[" * 20_000 + b"]" * 20_000, b'{"team": ' * 5000 + b"1" + b"}" * 5000,
                b'{"counsellor_id": ' + b"9" * 5000 + b"}", b"\xff\xfe\x00"):  # fmt: skip
        for target in ("/api/v1/shifts", "/api/v1/counsellors", "/api/v1/callbacks"):
            answer = api.post(target, content=raw, headers=json_type)
            assert answer.status_code == 400, (target, raw[:20], answer.status_code)
            assert answer.json()["error"] == "invalid_json"
    for too_big in (2**63, 10**30):
        assert (
            api.post("/api/v1/shifts", json={**shift, "counsellor_id": too_big}).status_code == 422
        )
        call = {"counsellor_id": colleague, "appointment_id": too_big}
        assert api.post("/api/v1/callbacks", json=call).status_code == 422
    assert _records(world) == before


def test_a_nul_character_in_any_text_is_refused_and_changes_nothing(
    browser: TestClient, world: World, api_key: str
) -> None:
    """No one types a NUL, and PostgreSQL cannot store or even compare one: on the pages a
    German 422, in the API a 422 naming the field, at the sign-in a wrong name."""
    browser.get("/login")
    page = browser.get("/login").text
    login_csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert login_csrf is not None
    form = {"username": "chef\x00", "password": "x", "csrf": login_csrf.group(1)}
    assert browser.post("/login", data=form).status_code == 400
    csrf = sign_in(browser, "koord")
    before = _records(world)
    colleague = str(world.people["islamism", "colleague"])
    forms = {
        "/calendar/feeds": {"feed": "team:islamism", "label": "Dienst\x00plan"},
        "/counsellors": {"name": "Neu\x00", "phone": "0151 77777777", "teams": "islamism"},
        "/rota/islamism/standins": {"absent_id": colleague, "note": "\x00",
                                    "substitute_id": str(world.people["islamism", "second"]),
                                    "si_start_date": "2031-03-02", "si_start_time": "09:00",
                                    "si_end_date": "2031-03-02", "si_end_time": "17:00"},
    }  # fmt: skip
    for target, fields in forms.items():
        response = browser.post(target, data={"csrf": csrf, **fields})
        assert response.status_code == 422, (target, response.status_code)
        assert "unzulässiges Steuerzeichen" in response.text
    browser.cookies.clear()
    browser.headers["Authorization"] = f"Bearer {api_key}"
    person = {"name": "Neu\x00", "phone": "0151 77777777", "teams": ["islamism"]}
    refused = browser.post("/api/v1/counsellors", json=person)
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "name"
    listed = {**person, "name": "Neu", "teams": ["islamism\x00"]}
    assert browser.post("/api/v1/counsellors", json=listed).status_code == 422
    assert _records(world) == before


def test_an_id_beyond_the_database_s_integer_names_no_record(
    browser: TestClient, world: World, api_key: str
) -> None:
    """Every id column is an INTEGER (32 bits in PostgreSQL, which fails on a larger number
    instead of finding nothing): ids from 2^31 to 12 digits were a 500 there. Now every page
    with an id in its path answers them as an unknown record (404; 403 for a role the page is
    not for), the API with 422, in a path, a query and a body."""
    with_ids = [
        (method, path, route)
        for (method, path), route in sorted(ROUTES.items())
        if isinstance(route, Page | Api) and re.search(r"\{(?!team\})\w+\}", path)
    ]
    before = _records(world)
    csrf = sign_in(browser, "chef")
    for too_big in (MAX_ID + 1, 99_999_999_999):
        for method, path, route in with_ids:
            if not isinstance(route, Page):
                continue
            data = {"csrf": csrf, **route.form} if method == "POST" else None
            target = url(path, {"team": "islamism"} | dict.fromkeys(_names(path), too_big))
            response = browser.request(method, target, data=data)
            assert response.status_code in (403, 404), (method, target, response.status_code)
    browser.cookies.clear()
    browser.headers["Authorization"] = f"Bearer {api_key}"
    for method, path, route in with_ids:
        if isinstance(route, Api):
            target = url(path, dict.fromkeys(_names(path), MAX_ID + 1))
            response = browser.request(method, target, json=route.body)
            assert response.status_code == 422, (method, target, response.status_code)
    assert browser.get(f"/api/v1/shifts?counsellor_id={MAX_ID + 1}").status_code == 422
    body = {"counsellor_id": 2**40, "client": {"pseudonym": "X"}, "mode": "phone",
            "start": "2031-03-03T09:00:00+01:00", "end": "2031-03-03T10:00:00+01:00"}  # fmt: skip
    assert browser.post("/api/v1/appointments", json=body).status_code == 422
    assert _records(world) == before
