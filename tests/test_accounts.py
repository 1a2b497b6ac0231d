"""Accounts in the web page: invitations by e-mail (a real SMTP server on loopback), one's own
password and sessions, what admins change, the last admin, "Passwort vergessen" and hostile
input. Every change in the audit log, never a password or a token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from config.model import HotlineConfig
from config.settings import Settings
from foundation import access, accounts, users
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Conflict
from foundation.models import AccountToken, AuditEntry, LoginAttempt, Role, User, WebSession
from tests import fake_smtp
from tests.conftest import add_counsellor
from tests.fake_smtp import FakeSMTP
from tests.helpers import TWILIO_SID, at_once, https_client, one_step
from tests.test_auth import PASSWORD, csrf_of, make_user, sign_in

NEW_PASSWORD = "Kormoran-Leuchtturm-42"
LINK = re.compile(r"https://[^\s<]+/(?:invite|password/reset)/[A-Za-z0-9_-]{43}")


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with fake_smtp.running() as server:
        yield server


@pytest.fixture
def mailing(settings: Settings, smtp: FakeSMTP) -> Settings:
    """Outside simulation mode, e-mail through the fake SMTP server (sign-in in one step)."""
    return replace(
        one_step(settings),
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=Secret("live-token"),
        smtp_url=Secret(smtp.url()),
        mail_from="konex hotline <hotline@example.org>",
        public_url="https://hotline.example.org",
    )


@pytest.fixture
def site(mailing: Settings, database: Database, config: HotlineConfig) -> Iterator[TestClient]:
    make_user(database, config, "chef", Role.ADMIN)
    with https_client(mailing, database) as client:
        yield client


def admin_csrf(client: TestClient) -> str:
    sign_in(client, "chef")
    return csrf_of(client.get("/accounts").text)


def invite(client: TestClient, csrf: str, **fields: str) -> str:
    form = {"username": "koord", "role": "coordinator", "teams": "islamism"} | fields
    answer = client.post("/accounts/new", data={"csrf": csrf, **form})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = LINK.search(answer.text)
    assert found is not None
    return found.group(0)


def set_password(client: TestClient, link: str, password: str = NEW_PASSWORD) -> int:
    path = link.removeprefix("https://hotline.example.org")
    page = client.get(path)
    if page.status_code != 200:
        return page.status_code
    assert page.headers["cache-control"] == "no-store"
    form = {"csrf": csrf_of(page.text), "password": password, "password_repeat": password}
    return client.post(path, data=form).status_code


def user(database: Database, name: str) -> User:
    with database.read() as session:
        found = session.scalars(select(User).where(User.username == name)).one()
        session.expunge(found)
        return found


def sessions(database: Database, name: str) -> int:
    with database.read() as session:
        count = select(func.count()).select_from(WebSession).join(User)
        return int(session.scalar(count.where(User.username == name)) or 0)


def audit_actions(database: Database) -> list[str]:
    with database.read() as session:
        return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def second_browser(settings: Settings, database: Database, name: str, password: str) -> TestClient:
    other = https_client(settings, database)
    sign_in(other, name, password)
    return other


# --- invitations --------------------------------------------------------------------------------


def test_an_invitation_is_mailed_shown_once_and_sets_the_password_once(
    site: TestClient, smtp: FakeSMTP, database: Database
) -> None:
    csrf = admin_csrf(site)
    link = invite(site, csrf, email="Koord@Example.ORG")
    [mail] = smtp.messages
    assert mail["To"] == "Koord@example.org"
    assert link in mail.get_content()
    assert link not in site.get("/accounts").text  # shown once: on the answer only
    assert "eingeladen" in site.get("/accounts").text
    site.cookies.clear()
    assert set_password(site, link, "passwort123") == 422  # the policy of the sign-in
    assert set_password(site, link) == 303
    assert set_password(site, link, "Noch-ein-Passwort-77") == 404  # used up
    sign_in(site, "koord", NEW_PASSWORD)
    with database.read() as session:
        tokens = session.scalars(select(AccountToken.token_hash)).all()
        texts = [repr((e.before, e.after)) for e in session.scalars(select(AuditEntry))]
    token = link.rsplit("/", 1)[1]
    assert all(token not in text and NEW_PASSWORD not in text for text in texts)
    assert token not in tokens  # only its SHA-256
    assert {"create", "invite", "set_password", "invite_used"} <= set(audit_actions(database))


def test_an_invitation_without_an_address_is_shown_and_an_expired_one_is_refused(
    site: TestClient, smtp: FakeSMTP
) -> None:
    csrf = admin_csrf(site)
    answer = site.post(
        "/accounts/new", data={"csrf": csrf, "username": "berat", "role": "counsellor"}
    )
    assert "keine E-Mail-Adresse" in answer.text
    found = LINK.search(answer.text)
    assert found is not None
    assert smtp.messages == []
    site.cookies.clear()
    with time_machine.travel(utcnow() + accounts.INVITE_VALID + timedelta(minutes=1)):
        assert set_password(site, found.group(0)) == 404
        assert (
            "ungültig" in site.get(found.group(0).removeprefix("https://hotline.example.org")).text
        )


# --- one's own password and sessions ------------------------------------------------------------


def test_changing_ones_password_needs_the_current_one_and_ends_the_other_sessions(
    site: TestClient, mailing: Settings, database: Database
) -> None:
    other = second_browser(mailing, database, "chef", PASSWORD)
    csrf = admin_csrf(site)
    change = {"csrf": csrf, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    wrong = site.post("/account/password", data={**change, "current": "falsch-falsch"})
    assert wrong.status_code == 422
    assert "bisherige Passwort stimmt nicht" in wrong.text
    weak = {**change, "password": "passwort1", "password_repeat": "passwort1"}
    refused = site.post("/account/password", data={**weak, "current": PASSWORD})
    assert refused.status_code == 422
    assert "zu verbreitet" in refused.text
    assert sessions(database, "chef") == 2
    done = site.post("/account/password", data={**change, "current": PASSWORD})
    assert done.status_code == 303
    assert sessions(database, "chef") == 1  # only this one
    assert other.get("/").status_code == 303
    site.cookies.clear()
    sign_in(site, "chef", NEW_PASSWORD)
    other.close()


def test_one_sees_and_ends_ones_other_sessions(
    site: TestClient, mailing: Settings, database: Database
) -> None:
    other = https_client(mailing, database, headers={"User-Agent": "Firefox auf dem Tablet"})
    sign_in(other, "chef", PASSWORD)
    site.cookies.clear()
    csrf = admin_csrf(site)
    page = site.get("/account").text
    assert "Angemeldete Geräte" in page
    assert "Firefox auf dem Tablet" in page
    assert "Antwort-PIN" not in page  # the PIN section is for counsellors' accounts
    ids = re.findall(r'name="session" value="([0-9a-f]{64})"', page)
    assert len(ids) == 1  # the other browser; this one signs out with "Abmelden"
    assert (
        site.post("/account/sessions/end", data={"csrf": csrf, "session": ids[0]}).status_code
        == 303
    )
    assert other.get("/").status_code == 303
    again = site.post("/account/sessions/end", data={"csrf": csrf, "session": ids[0]})
    assert again.status_code == 422
    assert site.get("/").status_code == 200
    other.close()


def test_guessing_the_current_password_is_throttled(site: TestClient, database: Database) -> None:
    """A stolen session must not guess the account's password through "Passwort ändern":
    wrong current passwords count as wrong sign-ins do, and the right one then waits too."""
    csrf = admin_csrf(site)
    change = {"csrf": csrf, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}
    statuses = [
        site.post("/account/password", data={**change, "current": f"falsch-{n}"}).status_code
        for n in range(users.FREE_FAILURES + 1)
    ]
    assert statuses == [422] * users.FREE_FAILURES + [429]
    waiting = site.post("/account/password", data={**change, "current": PASSWORD})
    assert waiting.status_code == 429
    assert "Zu viele Fehlversuche" in waiting.text
    assert users.password_matches(user(database, "chef"), PASSWORD)


# --- what admins change -------------------------------------------------------------------------


def test_an_admin_ends_every_session_deactivates_and_reactivates_an_account(
    site: TestClient, mailing: Settings, database: Database, config: HotlineConfig
) -> None:
    koord = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    other = second_browser(mailing, database, "koord", PASSWORD)
    csrf = admin_csrf(site)
    assert site.post(f"/accounts/{koord}/sessions/end", data={"csrf": csrf}).status_code == 303
    assert sessions(database, "koord") == 0
    assert other.get("/").status_code == 303
    sign_in(other, "koord", PASSWORD)
    assert site.post(f"/accounts/{koord}/deactivate", data={"csrf": csrf}).status_code == 303
    assert sessions(database, "koord") == 0
    assert not user(database, "koord").active
    other.cookies.clear()
    form = other.get("/login")
    login = {"username": "koord", "password": PASSWORD, "csrf": csrf_of(form.text)}
    assert other.post("/login", data=login).status_code == 400
    assert site.post(f"/accounts/{koord}/reactivate", data={"csrf": csrf}).status_code == 303
    sign_in(other, "koord", PASSWORD)
    assert {"end_sessions", "deactivate", "reactivate"} <= set(audit_actions(database))
    other.close()


def test_an_admin_changes_role_and_teams_and_it_is_audited(
    site: TestClient, database: Database, config: HotlineConfig
) -> None:
    koord = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    csrf = admin_csrf(site)
    form = {"csrf": csrf, "role": "coordinator", "teams": ["islamism", "right-wing"]}
    assert site.post(f"/accounts/{koord}", data=form).status_code == 303
    unknown = site.post(f"/accounts/{koord}", data={**form, "teams": "nirgendwo"})
    assert unknown.status_code == 422
    assert "Dieses Team gibt es nicht" in unknown.text
    with database.read() as session:
        changed = session.get(User, koord)
        assert changed is not None
        assert [team.slug for team in changed.teams] == ["islamism", "right-wing"]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["teams"] == ["islamism"]
    assert entry.after["teams"] == ["islamism", "right-wing"]
    assert site.get("/accounts/999999").status_code == 404


def test_the_last_active_admin_is_neither_deactivated_nor_demoted(
    site: TestClient, database: Database, config: HotlineConfig
) -> None:
    chef = user(database, "chef").id
    csrf = admin_csrf(site)
    demoted = site.post(f"/accounts/{chef}", data={"csrf": csrf, "role": "coordinator"})
    assert demoted.status_code == 409
    assert "letzte aktive Konto" in demoted.text
    with database.write() as session, pytest.raises(Conflict):
        accounts.set_active(session, chef, False, actor="tests")
    assert user(database, "chef").role is Role.ADMIN
    assert user(database, "chef").active
    second = make_user(database, config, "zweit", Role.ADMIN)
    assert (
        site.post(f"/accounts/{chef}", data={"csrf": csrf, "role": "coordinator"}).status_code
        == 303
    )
    with database.write() as session, pytest.raises(Conflict):
        accounts.set_active(session, second, False, actor="tests")


def test_only_admins_manage_accounts(
    site: TestClient, database: Database, config: HotlineConfig
) -> None:
    koord = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    sign_in(site, "koord", PASSWORD)
    csrf = csrf_of(site.get("/account").text)
    assert site.get("/accounts").status_code == 403
    assert site.post(f"/accounts/{koord}/deactivate", data={"csrf": csrf}).status_code == 403
    assert user(database, "koord").active
    assert not access.may_manage_accounts(access.system("cli"))


# --- "Passwort vergessen" -----------------------------------------------------------------------


def forgot(client: TestClient, login: str) -> tuple[int, str]:
    page = client.get("/password/forgot")
    assert page.headers["cache-control"] == "no-store"
    answer = client.post("/password/forgot", data={"csrf": csrf_of(page.text), "login": login})
    return answer.status_code, answer.text


def test_a_forgotten_password_is_reset_through_a_link_that_ends_every_session(
    site: TestClient, smtp: FakeSMTP, mailing: Settings, database: Database, config: HotlineConfig
) -> None:
    koord = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    with database.write() as session:
        found = session.get(User, koord)
        assert found is not None
        found.email = "koord@example.org"
    other = second_browser(mailing, database, "koord", PASSWORD)
    known, unknown = forgot(site, "koord"), forgot(site, "niemand")
    assert known == unknown == (200, known[1])  # the same answer
    assert forgot(site, "chef") == known  # an account without an address: nothing sent
    [mail] = smtp.messages
    assert mail["To"] == "koord@example.org"
    found_link = LINK.search(mail.get_content())
    assert found_link is not None
    assert "/password/reset/" in found_link.group(0)
    with time_machine.travel(utcnow() + timedelta(minutes=31)):
        assert set_password(site, found_link.group(0)) == 404  # valid 30 minutes
    assert set_password(site, found_link.group(0)) == 303
    assert sessions(database, "koord") == 0
    assert other.get("/").status_code == 303
    assert set_password(site, found_link.group(0)) == 404
    sign_in(site, "koord", NEW_PASSWORD)
    other.close()


def test_a_coordinator_cannot_send_an_admins_reset_link_to_herself(
    site: TestClient, smtp: FakeSMTP, database: Database, config: HotlineConfig
) -> None:
    """An admin who also counsels is linked to her counsellor record, which coordinators of
    her team edit. The reset link goes to the account's own address (set by an admin) only:
    a coordinator who puts her mailbox on the record gets no link to the admin's account."""
    with database.write() as session:
        person = add_counsellor(session, config, "islamism", name="Chefin", email=None)
        users.create_user(
            session,
            config,
            users.NewUser("chefin", PASSWORD, Role.ADMIN, (), person.id),
            actor="tests",
        )
        counsellor_id, phone = person.id, person.phone
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    sign_in(site, "koord", PASSWORD)
    csrf = csrf_of(site.get(f"/counsellors/{counsellor_id}").text)
    form = {"csrf": csrf, "name": "Chefin", "phone": phone, "email": "koord@example.org",
            "teams": "islamism", "notify_sms": "on"}  # fmt: skip
    assert site.post(f"/counsellors/{counsellor_id}", data=form).status_code == 303
    site.cookies.clear()
    assert forgot(site, "chefin")[0] == 200
    assert smtp.messages == []  # nothing to koord's mailbox


def test_forgotten_password_requests_are_throttled_per_account_and_per_address(
    site: TestClient, smtp: FakeSMTP, database: Database, config: HotlineConfig
) -> None:
    koord = make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    with database.write() as session:
        found = session.get(User, koord)
        assert found is not None
        found.email = "koord@example.org"
    answers = {forgot(site, "koord") for _ in range(accounts.RESET_PER_ACCOUNT + 2)}
    assert len(answers) == 1  # throttled silently: the same answer
    assert len(smtp.messages) == accounts.RESET_PER_ACCOUNT
    for _ in range(accounts.RESET_PER_ADDRESS - accounts.RESET_PER_ACCOUNT - 2):
        forgot(site, "niemand")
    status, text = forgot(site, "niemand")
    assert status == 429
    assert "zu viele Anfragen" in text
    with time_machine.travel(utcnow() + accounts.RESET_WINDOW + timedelta(minutes=1)):
        assert forgot(site, "koord")[0] == 200
    assert len(smtp.messages) == accounts.RESET_PER_ACCOUNT + 1


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("neu\x00", "unzulässiges Steuerzeichen"),
        ("neu\x1b[31m", "unzulässiges Steuerzeichen"),  # web.auth.page refuses them all
        ("neu\u202eev", "unzulässiges Steuerzeichen"),
        ("x" * 1_000_000, "Benutzername: 1 bis 100 Zeichen"),
        ("ch\u200bef", "unzulässiges Zeichen"),  # a zero-width space: reads as "chef"
        ("\u00adchef", "unzulässiges Zeichen"),  # a soft hyphen, invisible
        ("ｃｈｅｆ", "unzulässiges Zeichen"),  # fullwidth letters: NFKC makes them "chef"
        ("Chef", "Diesen Benutzernamen gibt es schon"),
    ],
)
def test_a_hostile_username_is_refused_in_german_and_changes_nothing(
    site: TestClient, database: Database, username: str, message: str
) -> None:
    csrf = admin_csrf(site)
    before = audit_actions(database)
    answer = site.post(
        "/accounts/new", data={"csrf": csrf, "username": username, "role": "counsellor"}
    )
    assert answer.status_code == 422
    assert message in answer.text
    assert audit_actions(database) == before


def test_hostile_input_on_the_pages_before_sign_in_is_refused(
    site: TestClient, smtp: FakeSMTP
) -> None:
    page = site.get("/password/forgot")
    nul = site.post("/password/forgot", data={"csrf": csrf_of(page.text), "login": "chef\x00"})
    assert nul.status_code == 422
    assert "unzulässiges Steuerzeichen" in nul.text
    assert site.post("/password/forgot", data={"login": "chef"}).status_code == 403  # no CSRF
    assert forgot(site, "\u202echef")[0] == 200
    assert forgot(site, "x" * 1_000_000)[0] == 200
    assert smtp.messages == []
    for token in ("%00", "ä" * 43, "x" * 1_000, "%E2%80%AE" * 10):
        assert site.get(f"/invite/{token}").status_code == 404
        assert site.get(f"/password/reset/{token}").status_code == 404


def test_first_requests_at_once_are_counted_not_a_server_error(
    database: Database, config: HotlineConfig
) -> None:
    """The throttles count in one row per key: four wrong sign-ins or forgotten-password
    requests from a new address at the same moment (on PostgreSQL truly in parallel) are all
    counted, and none fails on a duplicate row (which the page would answer with a 500)."""
    make_user(database, config, "chef", Role.ADMIN)

    wrong = at_once(database, lambda s: users.authenticate(s, "chef", "falsch-f", "10.0.0.9"))
    assert wrong == [None] * 4
    assert at_once(database, lambda s: accounts.request_reset(s, "chef", "10.0.0.8")) == [None] * 4
    with database.read() as session:
        counts = sorted(row.failures for row in session.scalars(select(LoginAttempt)))
    assert counts == [4, 4]  # the sign-in's key and the address's (chef has no e-mail address)


def test_one_invitation_sent_twice_at_once_creates_one_account(
    database: Database, config: HotlineConfig
) -> None:
    """An admin's double click on "Konto anlegen" (on PostgreSQL both run in parallel): one
    account; the other request is the German "gibt es schon" (409), not a 500."""
    new = accounts.NewAccount("neu", Role.COORDINATOR, ["islamism"])
    answers = at_once(database, lambda s: accounts.invite(s, config, new, actor="t").username)
    assert answers == ["Conflict"] * 3 + ["neu"]
