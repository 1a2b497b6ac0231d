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
