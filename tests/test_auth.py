"""Accounts, sessions, CSRF, throttling and the dashboard (the route matrix: test_access_matrix)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from foundation import users
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict, Invalid
from foundation.models import AuditEntry, Role, User, WebSession
from scheduling.demo import load_demo
from tests.conftest import add_counsellor, berlin

PASSWORD = "Bodensee-Fähre-1987"


def make_user(database: Database, config: HotlineConfig, name: str, role: Role, *teams: str) -> int:
    with database.write() as session:
        counsellor_id = None
        if role is Role.COUNSELLOR:
            counsellor_id = add_counsellor(session, config, *teams, name=name.title()).id
        return users.create_user(
            session,
            config,
            users.NewUser(
                name, PASSWORD, role, teams if role is Role.COORDINATOR else (), counsellor_id
            ),
            actor="tests",
        ).id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": "/"},
    )
    assert response.status_code == 303, response.text
    return client


# --- passwords --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("kurz", "mindestens 8"),
        ("password", "verbreitet"),
        ("12345678", "verbreitet"),
        ("passwort123", "verbreitet"),
        ("Passwort", "verbreitet"),
        ("x" * 300, "höchstens"),
    ],
)
def test_password_policy(password: str, problem: str) -> None:
    found = users.password_problem(password)
    assert found is not None
    assert problem in found


def test_long_passphrase_without_composition_rules_is_fine() -> None:
    assert users.password_problem("pferd batterie heftklammer") is None
    assert users.password_problem("alllowercaseandlong") is None


def test_passwords_are_argon2id_and_never_audited(
    database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    with database.read() as session:
        user = session.scalars(select(User)).one()
        entries = session.scalars(select(AuditEntry)).all()
    assert user.password_hash.startswith("$argon2id$")
    assert all(PASSWORD not in str(entry.after) for entry in entries)


def test_duplicate_and_invalid_usernames(database: Database, config: HotlineConfig) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    with pytest.raises(Conflict), database.write() as session:
        users.create_user(session, config, users.NewUser("Chef", PASSWORD, Role.ADMIN), actor="t")
    with pytest.raises(Invalid), database.write() as session:
        users.create_user(session, config, users.NewUser("a b", PASSWORD, Role.ADMIN), actor="t")


# --- sign-in and sessions ----------------------------------------------------------------------


def test_sign_in_sets_a_host_cookie_and_a_new_session(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    form = browser.get("/login")
    assert form.status_code == 200
    response = browser.post(
        "/login",
        data={
            "username": "chef",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "/audit",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-hotline=")
    )
    for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
        assert flag.lower() in cookie.lower(), cookie
    assert "domain" not in cookie.lower()
    plain = browser.cookies.get("__Host-hotline")
    with database.read() as session:
        stored = session.scalars(select(WebSession.id_hash)).all()
    assert plain not in stored  # only the hash is kept
    first = stored
    # Signing in again issues another id: no session fixation.
    sign_in(browser, "chef")
    assert browser.cookies.get("__Host-hotline") != plain
    with database.read() as session:
        assert set(session.scalars(select(WebSession.id_hash)).all()) > set(first)


def test_unknown_user_and_wrong_password_get_the_same_answer(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    answers = []
    for username, password in (("chef", "falsch-falsch"), ("niemand", PASSWORD)):
        form = browser.get("/login")
        response = browser.post(
            "/login",
            data={"username": username, "password": password, "csrf": csrf_of(form.text)},
        )
        answers.append(
            (response.status_code, re.search(r'role="alert"[^>]*>([^<]+)', response.text))
        )
    assert answers[0][0] == answers[1][0] == 400
    assert answers[0][1]
    assert answers[1][1]
    assert (
        answers[0][1].group(1) == answers[1][1].group(1) == "Benutzername oder Passwort ist falsch."
    )


def test_throttling_slows_an_attacker_but_not_the_user_elsewhere(
    database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    start = utcnow()
    with database.write() as session:
        for i in range(users.FREE_FAILURES):
            assert (
                users.authenticate(
                    session, "chef", "wrong", "10.0.0.66", start + timedelta(seconds=i)
                )
                is None
            )
    with pytest.raises(users.ThrottledError), database.write() as session:
        users.authenticate(session, "chef", PASSWORD, "10.0.0.66", start + timedelta(seconds=5))
    # The real user, from their own address, is not locked out.
    with database.write() as session:
        assert users.authenticate(
            session, "chef", PASSWORD, "10.0.0.7", start + timedelta(seconds=5)
        )
    # After the delay, the attacker may try once more; each failure doubles the wait.
    with database.write() as session:
        later = start + timedelta(seconds=4 + 2)
        assert users.authenticate(session, "chef", "wrong", "10.0.0.66", later) is None
    with pytest.raises(users.ThrottledError) as caught, database.write() as session:
        users.authenticate(session, "chef", "wrong", "10.0.0.66", later + timedelta(seconds=1))
    assert caught.value.wait > timedelta(seconds=1)
    # Never locked for good: the wait is capped, and old failures are forgotten.
    with database.write() as session:
        assert users.authenticate(
            session, "chef", PASSWORD, "10.0.0.66", later + timedelta(hours=2)
        )


def test_throttled_sign_in_page_says_how_long_to_wait(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    statuses = []
    with time_machine.travel(berlin(2026, 12, 2, 12), tick=False):
        for _ in range(users.FREE_FAILURES + 1):
            form = browser.get("/login")
            statuses.append(
                browser.post(
                    "/login",
                    data={"username": "chef", "password": "nope-nope", "csrf": csrf_of(form.text)},
                )
            )
    assert [r.status_code for r in statuses] == [400] * users.FREE_FAILURES + [429]
    assert "Bitte warten Sie" in statuses[-1].text


def test_login_requires_its_csrf_token(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    browser.get("/login")
    response = browser.post("/login", data={"username": "chef", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 403
    assert "__Host-hotline" not in browser.cookies


def test_open_redirects_are_refused(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = browser.get("/login")
        response = browser.post(
            "/login",
            data={
                "username": "chef",
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": target,
            },
        )
        assert response.headers["location"] == "/"


def test_logout_ends_the_session_on_the_server(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    sign_in(browser, "chef")
    stolen = browser.cookies.get("__Host-hotline")
    page = browser.get("/")
    assert page.status_code == 200
    # Without the CSRF token, logout (like every POST) is refused.
    assert browser.post("/logout", data={}).status_code == 403
    assert browser.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    with database.read() as session:
        assert session.scalars(select(WebSession)).all() == []
    browser.cookies.set("__Host-hotline", stolen or "", domain="testserver")
    assert browser.get("/").status_code == 303  # the old cookie is worthless


@pytest.mark.parametrize(
    ("wait", "valid"), [(timedelta(minutes=29), True), (timedelta(minutes=31), False)]
)
def test_idle_timeout(
    browser: TestClient, database: Database, config: HotlineConfig, wait: timedelta, valid: bool
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    start = berlin(2026, 12, 2, 12)
    with time_machine.travel(start, tick=False):
        sign_in(browser, "chef")
    with time_machine.travel(start + wait, tick=False):
        assert (browser.get("/").status_code == 200) is valid


def test_absolute_timeout_even_when_active(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    start = berlin(2026, 12, 2, 8)
    with time_machine.travel(start, tick=False):
        sign_in(browser, "chef")
    for minutes in range(20, 12 * 60, 20):  # busy all day, a request every 20 minutes
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert browser.get("/").status_code == 200, minutes
    with time_machine.travel(start + timedelta(hours=12, minutes=5), tick=False):
        assert browser.get("/").status_code == 303


def test_deactivated_user_loses_the_session(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    user_id = make_user(database, config, "chef", Role.ADMIN)
    sign_in(browser, "chef")
    with database.write() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.active = False
    assert browser.get("/").status_code == 303


# The route-by-role matrix lives in tests/test_access_matrix.py, with the access policy's.


# --- the dashboard ------------------------------------------------------------------------------


def test_dashboard_shows_on_call_gaps_and_outbox(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    with database.write() as session:
        assert load_demo(session, config, berlin(2026, 11, 23).date())
    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(browser, "chef")
        html = browser.get("/").text
    assert '<html lang="de">' in html
    assert "Team Islamismus" in html
    assert "Do 26.11., 09:00" in html  # next handoff, Berlin time
    assert "Lücken in den nächsten 28 Tagen" in html
    # The demo rota covers four weeks from Monday 23.11.: the gap starts 21.12. at 09:00.
    assert "Mo 21.12., 09:00" in html
    assert "Simulationsmodus" in html


def test_coordinator_sees_only_their_teams(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "koordination", Role.COORDINATOR, "right-wing")
    sign_in(browser, "koordination")
    html = browser.get("/").text
    assert "Team Rechtsextremismus" in html
    assert "Team Islamismus" not in html


def test_housekeeping_deletes_expired_sessions_and_old_failures(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    from foundation.models import LoginAttempt
    from web.app import _sweep

    make_user(database, config, "chef", Role.ADMIN)
    start = berlin(2026, 12, 2, 8)
    with time_machine.travel(start, tick=False):
        sign_in(browser, "chef")
        with database.write() as session:
            users.authenticate(session, "chef", "wrong", "10.0.0.9")
        _sweep(database)
    with database.read() as session:
        assert len(session.scalars(select(WebSession)).all()) == 1  # still valid: kept
    with time_machine.travel(start + timedelta(hours=13), tick=False):
        _sweep(database)
    with database.read() as session:
        assert session.scalars(select(WebSession)).all() == []
        assert session.scalars(select(LoginAttempt)).all() == []
