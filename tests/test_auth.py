"""Accounts, sessions, CSRF, throttling and the route-by-role matrix."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select
from starlette.routing import Mount, Route
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


# --- the matrix -------------------------------------------------------------------------------

PUBLIC = {
    ("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/metrics"), ("GET", "/api/v1/openapi.json"),
    # The public callback form of each line ("Rückruf anfordern"): no account, by design.
    ("GET", "/rueckruf/{line}"), ("POST", "/rueckruf/{line}"), ("GET", "/rueckruf/{line}/danke"),
    # Calendar feeds: the secret token in the URL is the credential (web.feed).
    ("GET", "/feeds/{token}.ics"),
}  # fmt: skip
# Page routes and who may use them; anything not listed here makes the matrix test fail.
PAGES: dict[tuple[str, str], set[Role]] = {
    ("GET", "/"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("POST", "/logout"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("GET", "/audit"): {Role.ADMIN},
    ("GET", "/counsellors"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/counsellors"): {Role.ADMIN, Role.COORDINATOR},
    ("GET", "/counsellors/{counsellor_id}"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/counsellors/{counsellor_id}"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/counsellors/{counsellor_id}/active"): {Role.ADMIN, Role.COORDINATOR},
    ("GET", "/rota"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("GET", "/rota/{team}"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("POST", "/rota/{team}/shifts"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/shifts/{shift_id}/delete"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/rotation"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/standins"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/standins/{stand_in_id}/delete"): {Role.ADMIN, Role.COORDINATOR},
    ("GET", "/appointments"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("POST", "/appointments"): {Role.ADMIN, Role.COORDINATOR, Role.COUNSELLOR},
    ("POST", "/appointments/{appointment_id}/reschedule"): {
        Role.ADMIN,
        Role.COORDINATOR,
        Role.COUNSELLOR,
    },
    ("POST", "/appointments/{appointment_id}/cancel"): {
        Role.ADMIN,
        Role.COORDINATOR,
        Role.COUNSELLOR,
    },
    ("POST", "/appointments/{appointment_id}/status"): {
        Role.ADMIN,
        Role.COORDINATOR,
        Role.COUNSELLOR,
    },
    ("POST", "/rota/{team}/absences"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/absences/{absence_id}/delete"): {Role.ADMIN, Role.COORDINATOR},
    # Any account may open "Meine Dienste"; acting needs a counsellor record (else a 422).
    ("GET", "/shifts/mine"): set(Role),
    ("POST", "/shifts/mine/swaps"): set(Role),
    ("POST", "/shifts/mine/swaps/{swap_id}/withdraw"): set(Role),
    ("POST", "/shifts/mine/swaps/{swap_id}/accept"): set(Role),
    ("POST", "/shifts/mine/swaps/{swap_id}/decline"): set(Role),
    ("GET", "/rota/{team}/swaps"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/swaps/{swap_id}/approve"): {Role.ADMIN, Role.COORDINATOR},
    ("POST", "/rota/{team}/swaps/{swap_id}/reject"): {Role.ADMIN, Role.COORDINATOR},
    # Every account has a task list (of its teams); a team's tasks are worked by its staff only.
    ("GET", "/tasks"): set(Role),
    ("POST", "/tasks/callbacks/{task_id}/status"): set(Role),
    ("POST", "/tasks/voicemails/{task_id}/status"): set(Role),
    ("GET", "/tasks/voicemails/{task_id}/audio"): set(Role),
    ("POST", "/tasks/voicemails/{task_id}/recording/delete"): set(Role),
    # "Zurückrufen" (a call-back through the line): team staff for tasks, whoever may change
    # an appointment for appointments; an account without a counsellor record gets a 422.
    ("POST", "/tasks/callbacks/{task_id}/call"): set(Role),
    ("POST", "/tasks/voicemails/{task_id}/call"): set(Role),
    ("POST", "/appointments/{appointment_id}/call"): set(Role),
    # The text relay: every account lists its teams' conversations; staff of the team act.
    ("GET", "/conversations"): set(Role),
    ("GET", "/conversations/{conversation_id}"): set(Role),
    ("POST", "/conversations/{conversation_id}/reply"): set(Role),
    ("POST", "/conversations/{conversation_id}/state"): set(Role),
    # Every account has a "Kalender" page; who may revoke which feed is checked per token.
    ("GET", "/calendar"): set(Role),
    ("POST", "/calendar/feeds"): set(Role),
    ("POST", "/calendar/feeds/{token_id}/revoke"): set(Role),
    ("POST", "/calendar/external"): set(Role),
    ("POST", "/calendar/external/{calendar_id}/delete"): set(Role),
}
# Routes that answer 404 for an id that does not exist (the matrix asks for 999).
MISSING_IS_404 = {
    ("GET", "/tasks/voicemails/{task_id}/audio"),
    ("GET", "/conversations/{conversation_id}"),
}


def all_routes(client: TestClient) -> set[tuple[str, str]]:
    found = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_checks_the_role(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "chef", Role.ADMIN)
    make_user(database, config, "koordination", Role.COORDINATOR, "islamism")
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    with database.read() as session:
        from foundation.models import Counsellor

        counsellor_id = session.scalars(select(Counsellor.id)).first()
    routes = all_routes(browser)
    machine = {r for r in routes if r[1].startswith(("/api/v1/", "/twilio/"))} - PUBLIC
    pages = routes - machine - PUBLIC
    assert pages == set(PAGES), "a page route is missing from the role matrix"
    # Machine routes are never reachable with a browser session: API keys and Twilio signatures.
    sign_in(browser, "chef")
    for method, path in sorted(machine):
        response = browser.request(method, path.replace("{shift_id}", "1"))
        assert response.status_code in (401, 403), (method, path, response.status_code)
    browser.cookies.clear()
    for who in (None, Role.COUNSELLOR, Role.COORDINATOR, Role.ADMIN):
        browser.cookies.clear()
        csrf = ""
        if who is not None:
            username = {
                Role.ADMIN: "chef",
                Role.COORDINATOR: "koordination",
                Role.COUNSELLOR: "beraterin",
            }[who]
            sign_in(browser, username)
            csrf = csrf_of(browser.get("/").text)
        for (method, path), allowed in sorted(PAGES.items()):
            if path == "/logout":
                continue  # checked last
            url = (
                path.replace("{counsellor_id}", str(counsellor_id))
                .replace("{team}", "islamism")
                .replace("{shift_id}", "999")
                .replace("{stand_in_id}", "999")
                .replace("{absence_id}", "999")
                .replace("{swap_id}", "999")
                .replace("{token_id}", "999")
                .replace("{calendar_id}", "999")
                .replace("{task_id}", "999")
                .replace("{conversation_id}", "999")
            )
            response = browser.request(
                method, url, data={"csrf": csrf} if method == "POST" else None
            )
            if who is None:
                expected = 303 if method == "GET" else 403
                assert response.status_code == expected, (who, method, path)
            elif who in allowed:
                ok = (200, 303, 422, 404) if (method, path) in MISSING_IS_404 else (200, 303, 422)
                assert response.status_code in ok, (who, method, path)
                assert not response.headers.get("location", "").startswith("/login")
            else:
                assert response.status_code == 403, (who, method, path)
        if who is not None:
            assert browser.post("/logout", data={"csrf": csrf}).status_code == 303
        else:
            assert browser.post("/logout", data={}).status_code == 403


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
