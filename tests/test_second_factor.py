"""The second factor: enrolment with a QR code, sign-in with a code (each accepted once),
recovery codes, throttling, the configured requirement (relaxed in the demo), an admin's reset
and `hotline rekey` (foundation.second_factor, web.second_factor_pages)."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from app import cli
from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto, second_factor, users
from foundation.clock import utcnow
from foundation.db import Database, make_engine, upgrade
from foundation.models import AuditEntry, RecoveryCode, Role, SecondFactor
from foundation.teams import sync_teams
from tests.helpers import at_once, https_client
from tests.test_auth import PASSWORD, csrf_of, make_user, sign_in

PRODUCTION = {"mode": "production", "public_url": "https://hotline.example"}


def enrol(database: Database, settings: Settings, user_id: int) -> tuple[pyotp.TOTP, list[str]]:
    """Enrolled through the use cases, confirmed with the code of a minute ago (so the codes
    of now are still fresh)."""
    earlier = utcnow() - timedelta(minutes=1)
    with database.write() as session:
        secret = second_factor.start(session, settings, user_id, actor="tests").secret
        totp = pyotp.TOTP(secret)
        code = totp.at(earlier)
        codes = second_factor.confirm(session, settings, user_id, code, actor="t", now=earlier)
    return totp, codes


def password_step(client: TestClient, username: str) -> str:
    """The password sign-in of an account with a second factor: on to the code's page."""
    form = client.get("/login")
    data = {"username": username, "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/"}
    response = client.post("/login", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == "/login/second-factor?next=/"
    page = client.get("/login/second-factor?next=/")
    assert page.status_code == 200
    return csrf_of(page.text)


def send_code(client: TestClient, csrf: str, code: str) -> int:
    data = {"csrf": csrf, "code": code, "next": "/"}
    return client.post("/login/second-factor", data=data).status_code


def sign_out(client: TestClient) -> None:
    csrf = csrf_of(client.get("/account").text)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    client.cookies.clear()


def test_enrol_confirm_sign_in_with_a_code_once(
    browser: TestClient, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    sign_in(browser, "koord")
    page = browser.get("/account/second-factor")
    assert "Einrichten" in page.text
    assert (
        browser.post("/account/second-factor", data={"csrf": csrf_of(page.text)}).status_code == 303
    )
    page = browser.get("/account/second-factor")
    assert 'src="data:image/svg+xml' in page.text  # the QR code, made on the server
    assert "<script" not in page.text
    assert "style=" not in page.text
    found = re.search(r'<code class="secret" id="secret">([A-Z2-7]+)</code>', page.text)
    assert found
    secret, csrf = found.group(1), csrf_of(page.text)
    totp = pyotp.TOTP(secret)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    refused = browser.post("/account/second-factor/confirm", data={"csrf": csrf, "code": wrong})
    assert refused.status_code == 422
    assert "falsch" in refused.text
    shown = browser.post("/account/second-factor/confirm", data={"csrf": csrf, "code": totp.now()})
    assert shown.status_code == 200
    codes = re.findall(
        r'<code class="secret">([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>', shown.text
    )
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for later in ("/account/second-factor", "/account"):
        html = browser.get(later).text
        assert secret not in html
        assert "data:image" not in html
        assert codes[0] not in html
    assert secret not in shown.text
    with database.read() as session:
        stored = session.scalars(select(SecondFactor)).one()
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    assert secret.encode() not in stored.secret_enc
    assert len(hashes) == 10
    assert not any(code in h for code in codes for h in hashes)

    sign_out(browser)
    csrf = password_step(browser, "koord")
    assert browser.get("/").status_code == 303  # the half sign-in opens no page
    code = totp.at(utcnow() + timedelta(seconds=30))  # the enrolment's code was accepted once
    assert send_code(browser, csrf, code) == 303
    assert browser.get("/").status_code == 200
    sign_out(browser)
    csrf = password_step(browser, "koord")
    assert send_code(browser, csrf, code) == 400  # the same code again: refused
    assert browser.get("/").status_code == 303


def test_a_recovery_code_works_once(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    user_id = make_user(database, config, "berat", Role.COUNSELLOR, "islamism")
    _totp, codes = enrol(database, settings, user_id)
    csrf = password_step(browser, "berat")
    assert send_code(browser, csrf, codes[3].upper().replace("-", " ")) == 303
    sign_out(browser)
    csrf = password_step(browser, "berat")
    assert send_code(browser, csrf, codes[3]) == 400
    assert send_code(browser, csrf, codes[4]) == 303
    with database.read() as session:
        used = session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None)))
        assert len(list(used)) == 2
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("second_factor_recovery_code") == 2


def test_wrong_codes_are_throttled_like_wrong_passwords(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, _codes = enrol(database, settings, user_id)
    csrf = password_step(browser, "koord")
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    statuses = [send_code(browser, csrf, wrong) for _ in range(users.FREE_FAILURES + 1)]
    assert statuses == [400] * users.FREE_FAILURES + [429]
    assert send_code(browser, csrf, totp.now()) == 429  # even the right one waits
    assert browser.get("/").status_code == 303


def test_the_half_sign_in_is_bound_to_its_browser(
    browser: TestClient, settings: Settings, database: Database, config: HotlineConfig
) -> None:
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, _codes = enrol(database, settings, user_id)
    csrf = password_step(browser, "koord")
    with https_client(settings, database) as other:
        other.get("/login")  # a sign-in nonce of its own
        other.cookies.set("__Host-hotline-pending", browser.cookies["__Host-hotline-pending"])
        assert send_code(other, csrf, totp.now()) == 403
        assert other.get("/").status_code == 303
    pending = browser.cookies["__Host-hotline-pending"]
    browser.cookies.delete("__Host-hotline-pending")
    forged = pending.replace(f"{user_id}.", f"{user_id + 1}.", 1)
    browser.cookies.set("__Host-hotline-pending", forged)
    assert send_code(browser, csrf, totp.now()) == 403


def test_a_required_account_must_enrol_first_outside_the_demo(
    settings: Settings, database: Database, config: HotlineConfig
) -> None:
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    production = dataclasses.replace(settings, **PRODUCTION)
    with https_client(production, database) as client:
        assert "Demo-Modus" not in client.get("/login").text
        sign_in(client, "koord")
        assert client.get("/").headers["location"] == "/account/second-factor"
        assert client.get("/appointments").headers["location"] == "/account/second-factor"
        page = client.get("/account/second-factor")
        assert "vorgeschrieben" in page.text
        csrf = csrf_of(page.text)
        refused = client.post("/appointments", data={"csrf": csrf})
        assert refused.status_code == 403
        assert "zuerst die Zwei-Faktor-Anmeldung" in refused.text
        assert client.post("/account/second-factor", data={"csrf": csrf}).status_code == 303
        page = client.get("/account/second-factor")
        found = re.search(r'id="secret">([A-Z2-7]+)<', page.text)
        assert found
        totp = pyotp.TOTP(found.group(1))
        data = {"csrf": csrf, "code": totp.now()}
        assert client.post("/account/second-factor/confirm", data=data).status_code == 200
        assert client.get("/").status_code == 200
        later = totp.at(utcnow() + timedelta(seconds=30))
        off = client.post("/account/second-factor/disable", data={"csrf": csrf, "code": later})
        assert off.status_code == 409  # required: cannot be switched off


def test_the_demo_relaxes_the_rule_and_says_so(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    assert settings.simulation
    assert not second_factor.enforced(settings)
    assert "Demo-Modus" in browser.get("/login").text
    make_user(database, config, "chef", Role.ADMIN)
    sign_in(browser, "chef")  # one step
    assert browser.get("/").status_code == 200
    account = browser.get("/account").text
    assert "Nicht eingerichtet" in account
    assert "Demo-Modus" in account


def test_switching_it_off_needs_a_code_where_it_is_not_required(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, _codes = enrol(database, settings, user_id)
    csrf = password_step(browser, "koord")
    assert send_code(browser, csrf, totp.now()) == 303
    csrf = csrf_of(browser.get("/account/second-factor").text)
    off = "/account/second-factor/disable"
    assert browser.post(off, data={"csrf": csrf, "code": "12"}).status_code == 422
    later = totp.at(utcnow() + timedelta(seconds=30))
    assert browser.post(off, data={"csrf": csrf, "code": later}).status_code == 303
    with database.read() as session:
        assert not second_factor.enrolled(session, user_id)
        assert session.scalars(select(RecoveryCode)).first() is None


def test_an_admin_resets_a_lost_second_factor_audited(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    admin = make_user(database, config, "chef", Role.ADMIN)
    lost = make_user(database, config, "berat", Role.COUNSELLOR, "islamism")
    enrol(database, settings, lost)
    sign_in(browser, "berat")  # enrolled: the password alone is not enough
    assert browser.get("/").status_code == 303
    browser.cookies.clear()
    sign_in(browser, "chef")
    page = browser.get(f"/accounts/{lost}").text
    assert "Zwei-Faktor-Anmeldung eingerichtet." in page
    assert f'action="/accounts/{lost}/second-factor/reset"' in page  # the button on its page
    csrf = csrf_of(page)
    reset = f"/accounts/{lost}/second-factor/reset"
    done = browser.post(reset, data={"csrf": csrf, "next": f"/accounts/{lost}"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/accounts/{lost}?notice=second_factor_reset"
    after = browser.get(done.headers["location"]).text
    assert "Die Zwei-Faktor-Anmeldung des Kontos ist zurückgesetzt" in after
    assert "Keine Zwei-Faktor-Anmeldung eingerichtet." in after
    assert browser.post(reset, data={"csrf": csrf}).status_code == 409  # nothing left
    assert (
        browser.post("/accounts/999999/second-factor/reset", data={"csrf": csrf}).status_code == 404
    )
    with database.read() as session:
        assert not second_factor.enrolled(session, lost)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "second_factor_reset")
        ).one()
    assert (entry.actor, entry.entity_id) == (f"user:{admin} chef", lost)


def test_reset_2fa_command(
    env: str, config: HotlineConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(env)  # the command migrates; the schema comes from the migrations
    database = Database(make_engine(env))
    try:
        with database.write() as session:
            sync_teams(session, config)
        settings = Settings(config=config, database_url=env)
        lost = make_user(database, config, "berat", Role.COUNSELLOR, "islamism")
        enrol(database, settings, lost)
        assert cli.main(["user", "reset-2fa", "--username", "Berat"]) == 0
        assert "reset" in capsys.readouterr().out
        assert cli.main(["user", "reset-2fa", "--username", "berat"]) == 1
        assert cli.main(["user", "reset-2fa", "--username", "niemand"]) == 1
        with database.read() as session:
            assert not second_factor.enrolled(session, lost)
            actors = list(
                session.scalars(
                    select(AuditEntry.actor).where(AuditEntry.action == "second_factor_reset")
                )
            )
        assert actors == ["cli"]
    finally:
        database.dispose()


def test_rekey_covers_the_secret(
    database: Database, settings: Settings, config: HotlineConfig, tmp_path: Path
) -> None:
    old = dataclasses.replace(settings, encryption_key=Secret("old-key-long-and-random"))
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, _codes = enrol(database, old, user_id)
    new = dataclasses.replace(
        settings, encryption_key=Secret("new-key-long-and-random,old-key-long-and-random")
    )
    counts = {c.table: c.resealed for c in crypto.rekey(database, crypto.box(new))}
    assert counts["second_factors"] == 1
    only_new = dataclasses.replace(settings, encryption_key=Secret("new-key-long-and-random"))
    with database.write() as session:
        sealed = session.get(SecondFactor, user_id)
        assert sealed is not None
        assert crypto.box(only_new).key_of(sealed.secret_enc) == crypto.box(only_new).current_key_id
        assert second_factor.check(session, only_new, user_id, totp.now())


@pytest.mark.parametrize("action", ["disable", "recovery-codes"])
def test_wrong_codes_on_mein_konto_are_throttled_too(
    browser: TestClient, database: Database, settings: Settings, config: HotlineConfig, action: str
) -> None:
    """A stolen session must not guess the code a million times to switch the factor off or to
    draw new recovery codes: a wrong code there counts as one at the sign-in (it is not rolled
    back with the refusal)."""
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, _codes = enrol(database, settings, user_id)
    csrf = password_step(browser, "koord")
    assert send_code(browser, csrf, totp.now()) == 303
    csrf = csrf_of(browser.get("/account/second-factor").text)
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"
    target = f"/account/second-factor/{action}"
    statuses = [
        browser.post(target, data={"csrf": csrf, "code": wrong}).status_code
        for _ in range(users.FREE_FAILURES + 1)
    ]
    assert statuses == [422] * users.FREE_FAILURES + [429]
    later = totp.at(utcnow() + timedelta(seconds=30))
    assert browser.post(target, data={"csrf": csrf, "code": later}).status_code == 429
    with database.read() as session:
        assert second_factor.enrolled(session, user_id)


def test_one_code_sent_at_once_is_accepted_once(
    database: Database, settings: Settings, config: HotlineConfig
) -> None:
    """Four sign-ins with the same code, or the same recovery code, at the same moment (on
    PostgreSQL in parallel): one is accepted, the others are wrong codes, none is an error."""
    user_id = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    totp, codes = enrol(database, settings, user_id)

    def sign_in_with(code: str) -> list[object]:
        return at_once(database, lambda s: second_factor.check(s, settings, user_id, code))

    assert sign_in_with(codes[0]) == [False, False, False, True]
    assert sign_in_with(totp.now()) == [False, False, False, True]
