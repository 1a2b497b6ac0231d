"""Single sign-on against a real OpenID provider on loopback (npm's oidc-provider, see
tests/oidc_provider.py): the authorization code flow with PKCE from the sign-in page's button to
a session, the account created and updated from the claims, and everything that must be
refused (a replayed or foreign state, a token for another issuer, audience or nonce, a role
nobody mapped, a deactivated account, a provider that is down) refused with a German page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import func, select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from config.model import Sso
from config.settings import Settings, SettingsError
from foundation import once, sso, users
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import AuditEntry, Role, User
from tests.helpers import at_once, free_port, https_client
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, play, running
from tests.test_auth import PASSWORD, csrf_of, sign_in
from web import oidc, sso_pages

SERVICE = "https://testserver"
CALLBACK = f"{SERVICE}/login/sso/callback"
ROLES = {"hotline-admins": "admin", "hotline-coordinators": "coordinator",
         "hotline-counsellors": "counsellor"}  # fmt: skip
VERIFY = oidc.verify_id_token  # the real one, also while a test spies on it
ANNA = {"preferred_username": "Anna", "roles": ["hotline-coordinators"],
        "teams": ["islamism", "no-such-team"]}  # fmt: skip


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    with running(tmp_path_factory.mktemp("oidc"), CALLBACK) as idp:
        yield idp


@pytest.fixture
def person() -> Iterator[httpx.Client]:
    """The person's browser at the provider (the service's side is a TestClient)."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def with_sso(settings: Settings, issuer: str, **extra: Any) -> Settings:
    config = Sso(enabled=True, issuer=issuer, client_id=CLIENT_ID, roles=ROLES, **extra)
    return replace(
        settings,
        config=settings.config.model_copy(update={"sso": config}),
        public_url=SERVICE,
        sso_client_secret=Secret(CLIENT_SECRET),
    )


@pytest.fixture
def service(settings: Settings, database: Database, provider: Provider) -> Iterator[TestClient]:
    provider.people(anna=ANNA)
    with https_client(with_sso(settings, provider.issuer), database) as client:
        yield client


def callback_of(service: TestClient, person: httpx.Client, login: str = "anna") -> str:
    """Press the button on the sign-in page, sign in at the provider: the callback address."""
    started = service.get("/login/sso?next=/rota")
    assert started.status_code == 303, started.text
    assert "code_challenge_method=S256" in started.headers["location"]
    return play(person, started.headers["location"], login, CALLBACK)


def sso_sign_in(service: TestClient, person: httpx.Client, login: str = "anna") -> Any:
    return service.get(callback_of(service, person, login))


def account(database: Database, username: str) -> User:
    with database.read() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        _ = user.teams
        return user


def test_the_button_signs_in_and_creates_the_account_from_the_claims(
    service: TestClient, person: httpx.Client, database: Database, provider: Provider
) -> None:
    assert "Mit Single Sign-on anmelden" in service.get("/login").text
    response = sso_sign_in(service, person)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/rota"
    assert "__Host-hotline=" in response.headers["set-cookie"]
    assert service.get("/").status_code == 200  # signed in, like a password sign-in
    user = account(database, "anna")
    assert user.role is Role.COORDINATOR
    assert [team.slug for team in user.teams] == ["islamism"]
    assert (user.sso_issuer, user.sso_subject) == (provider.issuer, "anna")
    assert user.password_hash == sso.NO_PASSWORD
    with database.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == user.id)).one()
        assert (entry.action, entry.actor) == ("create", "sso:anna")


def test_a_later_sign_in_takes_role_and_teams_from_the_claims_again(
    service: TestClient, person: httpx.Client, database: Database, provider: Provider
) -> None:
    assert sso_sign_in(service, person).status_code == 303
    first = account(database, "anna")
    provider.people(anna={**ANNA, "roles": ["hotline-admins", "hotline-counsellors"],
                          "teams": ["right-wing"]})  # fmt: skip
    service.cookies.clear()
    person.cookies.clear()
    assert sso_sign_in(service, person).status_code == 303
    again = account(database, "anna")
    assert again.id == first.id
    assert again.role is Role.ADMIN  # the strongest mapped value
    assert [team.slug for team in again.teams] == ["right-wing"]
    with database.read() as session:
        update = session.scalars(select(AuditEntry).where(AuditEntry.action == "sso_update")).one()
        assert update.before == {"role": "coordinator", "teams": ["islamism"]}
        assert update.after == {"role": "admin", "teams": ["right-wing"]}


def test_a_local_account_of_the_same_name_is_never_taken_over(
    service: TestClient, person: httpx.Client, database: Database, config: Any
) -> None:
    with database.write() as session:
        users.create_user(
            session, config, users.NewUser("anna", PASSWORD, Role.ADMIN), actor="tests"
        )
    assert sso_sign_in(service, person).status_code == 303
    local = account(database, "anna")
    assert local.sso_subject is None
    assert local.role is Role.ADMIN
    with database.read() as session:
        sso_user = session.scalars(select(User).where(User.sso_subject == "anna")).one()
    assert sso_user.id != local.id
    assert sso_user.username.startswith("anna-")
    assert sso_user.role is Role.COORDINATOR


def test_a_replayed_callback_is_refused(
    service: TestClient, person: httpx.Client, database: Database
) -> None:
    callback = callback_of(service, person)
    sealed = service.cookies.get(sso_pages.COOKIE)
    assert service.get(callback).status_code == 303
    service.cookies.clear()
    service.cookies.set(sso_pages.COOKIE, sealed)  # the same browser, the same state, again
    replayed = service.get(callback)
    assert replayed.status_code == 400
    assert "abgelaufen oder wurde schon verwendet" in replayed.text
    assert "__Host-hotline=" not in replayed.headers.get("set-cookie", "")


def test_a_callback_in_another_browser_is_refused(
    service: TestClient, person: httpx.Client, database: Database, settings: Settings
) -> None:
    callback = callback_of(service, person)
    with https_client(service.app.state.settings, database) as stranger:  # type: ignore[attr-defined]
        refused = stranger.get(callback)
        assert refused.status_code == 400
        assert "abgelaufen oder wurde schon verwendet" in refused.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_forged_or_stale_state_cookie_is_refused(
    service: TestClient, person: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = callback_of(service, person)
    sealed = service.cookies.get(sso_pages.COOKIE)
    assert sealed
    service.cookies.clear()
    service.cookies.set(sso_pages.COOKIE, sealed[:-2] + ("00" if sealed[-2:] != "00" else "11"))
    assert service.get(callback).status_code == 400
    service.cookies.clear()
    service.cookies.set(sso_pages.COOKIE, sealed)
    monkeypatch.setattr(sso_pages, "LIFETIME_SECONDS", -1)
    assert service.get(callback).status_code == 400


@pytest.fixture
def captured(
    service: TestClient, person: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The arguments of a successful ID token verification (a real token and real keys)."""
    seen: dict[str, Any] = {}

    def spy(id_token: str, jwks: dict[str, Any], **expected: Any) -> dict[str, Any]:
        seen.update(expected, id_token=id_token, jwks=jwks)
        return VERIFY(id_token, jwks, **expected)

    monkeypatch.setattr(oidc, "verify_id_token", spy)
    assert sso_sign_in(service, person).status_code == 303
    return seen


@pytest.mark.parametrize(
    "wrong",
    [
        {"issuer": "http://127.0.0.1:1"},
        {"audience": "another-client"},
        {"nonce": "a-nonce-of-another-sign-in"},
        {"now": utcnow() + timedelta(hours=3)},
    ],
    ids=["issuer", "audience", "nonce", "expired"],
)
def test_an_id_token_for_another_issuer_audience_nonce_or_time_is_refused(
    captured: dict[str, Any], wrong: dict[str, Any]
) -> None:
    token, jwks = captured.pop("id_token"), captured.pop("jwks")
    assert VERIFY(token, jwks, **captured)["sub"] == "anna"
    with pytest.raises(oidc.SsoError):
        VERIFY(token, jwks, **{**captured, **wrong})


def test_an_id_token_with_a_forged_signature_is_refused(captured: dict[str, Any]) -> None:
    token, jwks = captured.pop("id_token"), captured.pop("jwks")
    header, payload, signature = token.split(".")
    forged = ".".join((header, payload, signature[::-1]))
    with pytest.raises(oidc.SsoError):
        VERIFY(forged, jwks, **captured)
    unsigned = ".".join(("eyJhbGciOiJub25lIn0", payload, ""))
    with pytest.raises(oidc.SsoError):
        VERIFY(unsigned, jwks, **captured)


def test_a_provider_under_another_issuer_name_is_refused(
    settings: Settings, database: Database, provider: Provider
) -> None:
    other_name = provider.issuer.replace("127.0.0.1", "localhost")
    with https_client(with_sso(settings, other_name), database) as client:
        refused = client.get("/login/sso")
    assert refused.status_code == 400
    assert "ließ sich nicht bestätigen" in refused.text


def test_a_provider_that_is_down_gets_a_german_page(settings: Settings, database: Database) -> None:
    with https_client(with_sso(settings, f"http://127.0.0.1:{free_port()}"), database) as client:
        refused = client.get("/login/sso")
    assert refused.status_code == 502
    assert "Der Anmeldedienst ist gerade nicht erreichbar" in refused.text


def test_a_claim_that_maps_to_no_role_is_refused_and_creates_nothing(
    service: TestClient, person: httpx.Client, database: Database, provider: Provider
) -> None:
    provider.people(anna={**ANNA, "roles": ["everyone"]})
    refused = sso_sign_in(service, person)
    assert refused.status_code == 403
    assert "keine Rolle für die hotline" in refused.text
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_deactivated_account_cannot_sign_in_with_sso(
    service: TestClient, person: httpx.Client, database: Database
) -> None:
    assert sso_sign_in(service, person).status_code == 303
    with database.write() as session:
        session.scalars(select(User).where(User.username == "anna")).one().active = False
    service.cookies.clear()
    person.cookies.clear()
    refused = sso_sign_in(service, person)
    assert refused.status_code == 403
    assert "deaktiviert" in refused.text


def test_an_sso_account_cannot_use_the_password_form(
    service: TestClient, person: httpx.Client, database: Database, config: Any
) -> None:
    assert sso_sign_in(service, person).status_code == 303
    service.cookies.clear()
    for password in (sso.NO_PASSWORD, "", PASSWORD):
        form = service.get("/login")
        refused = service.post(
            "/login",
            data={"username": "anna", "password": password, "csrf": csrf_of(form.text)},
        )
        assert refused.status_code == 400
        assert "Benutzername oder Passwort ist falsch." in refused.text
    with database.write() as session:  # even with a password set on it somehow
        user = session.scalars(select(User).where(User.username == "anna")).one()
        users.set_password(session, user, PASSWORD, actor="tests")
    with database.write() as session:
        assert users.authenticate(session, "anna", PASSWORD, "192.0.2.1") is None


def test_a_local_account_still_signs_in_with_its_password(
    service: TestClient, database: Database, config: Any
) -> None:
    with database.write() as session:
        users.create_user(
            session, config, users.NewUser("bert", PASSWORD, Role.COUNSELLOR), actor="tests"
        )
    sign_in(service, "bert")
    assert service.get("/").status_code == 200


def test_without_sso_there_is_no_button_and_no_route(browser: TestClient) -> None:
    assert "Single Sign-on" not in browser.get("/login").text
    assert browser.get("/login/sso").status_code == 404
    assert browser.get("/login/sso/callback?state=x&code=y").status_code == 404


def test_the_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="issuer and client_id"):
        Sso(enabled=True)
    with pytest.raises(ValueError, match="https"):
        Sso(enabled=True, issuer="http://idp.example.org", client_id="x", roles=ROLES)
    with pytest.raises(ValueError, match=r"sso\.roles"):
        Sso(enabled=True, issuer="https://idp.example.org", client_id="x")


def test_production_needs_the_client_secret(settings: Settings, tmp_path: Path) -> None:
    enabled = with_sso(settings, "https://idp.example.org")
    production = replace(
        enabled,
        mode="production",
        public_url="https://hotline.example.org",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=Secret("t"),
        secret_key=Secret("k"),
        encryption_key=Secret("e"),
    )
    production.check_production()
    with pytest.raises(SettingsError, match="HOTLINE_SSO_CLIENT_SECRET"):
        replace(production, sso_client_secret=None).check_production()


def test_outside_the_demo_an_sso_account_is_not_sent_to_the_local_second_factor(
    settings: Settings, database: Database, provider: Provider, person: httpx.Client
) -> None:
    """Single sign-on relies on the provider's own second factor (docs/security.md): where the
    local one is required and enforced, an account of single sign-on still opens its pages."""
    provider.people(anna=ANNA)
    live = replace(
        with_sso(settings, provider.issuer), mode="production", twilio_account_sid="AC" + "0" * 32
    )
    with https_client(live, database) as service:
        assert sso_sign_in(service, person).status_code == 303
        home = service.get("/")
        assert home.status_code == 200, home.headers.get("location")
        assert service.get("/appointments").status_code == 200


def test_one_state_used_twice_at_once_is_used_once(database: Database) -> None:
    """The callback opened twice at the same moment (a double click, a reload; on PostgreSQL in
    parallel): one use of its state counts, the other is the stale-sign-in page, not a 500."""
    assert at_once(database, lambda s: once.use(s, "sso-state", "state")) == [False] * 3 + [True]


def test_first_sign_ins_at_once_create_one_account_each(
    database: Database, settings: Settings
) -> None:
    """The same person in two tabs, or two people who want one name, signing in for the first
    time at the same moment (on PostgreSQL in parallel): one account per person, the second
    with a suffixed name, and none answered with a 500."""
    config = with_sso(settings, "https://idp.example").config

    def claims(subject: str, name: str) -> dict[str, Any]:
        return {"iss": "https://idp.example", "sub": subject, "preferred_username": name,
                "roles": ["hotline-counsellors"]}  # fmt: skip

    same = at_once(database, lambda s: sso.sign_in(s, config, claims("anna", "anna")).username)
    assert same == ["anna"] * 4
    subjects = iter(["b1", "b2"])
    names = at_once(
        database, lambda s: sso.sign_in(s, config, claims(next(subjects), "bert")).username, 2
    )
    assert names[0] == "bert"
    assert names[1].startswith("bert-")
