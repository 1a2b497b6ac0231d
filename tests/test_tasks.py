"""Callback requests ("Rückruf anfordern") and the task list: the public form end to end, its
abuse protections, the staff's task list, the voicemail player against a Twilio-compatible fake,
and retention."""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from app import compose
from app.simulator import Behaviour
from config.model import HotlineConfig, Tasks
from config.phone import display
from config.settings import Settings
from foundation import crypto, outbox
from foundation.clock import utcnow
from foundation.db import Database
from foundation.models import (
    AuditEntry,
    CallbackRequest,
    OutboxMessage,
    Role,
    TaskStatus,
    Team,
    Tier,
    Voicemail,
)
from hotline import providers
from hotline.tasks import callback_requests, retention
from scheduling.shifts import NewShift, Rota, create_shift
from tests.conftest import add_counsellor, berlin
from tests.fake_twilio import FakeTwilio
from tests.helpers import TWILIO_SID as SID
from tests.helpers import OnCall, https_client
from tests.test_auth import csrf_of, make_user, sign_in
from tests.test_voice import ISLAMISM, simulator
from web.callback_request_pages import client_key, form_token, token_age

NOON = berlin(2026, 12, 2, 12)  # a Wednesday
FORM = "/rueckruf/islamism"
PHONE = "0151 2345 6789"
E164 = "+4915123456789"
COUNSELLOR_SMS = "Neue Rückrufbitte für die Islamismus-Leitung. Details im Webportal."
AUDIO = bytes(range(256)) * 40  # 10 KiB standing in for an MP3


def _web(settings: Settings, database: Database, address: str = "203.0.113.7") -> TestClient:
    """A browser on https (the staff cookies are Secure), from `address`, not following
    redirects."""
    return https_client(settings, database, client=(address, 50000))


@pytest.fixture
def web(settings: Settings, database: Database) -> Iterator[TestClient]:
    with _web(settings, database) as client:
        yield client


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def token_of(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "no token in the form"
    return match.group(1)


def fill(
    client: TestClient,
    clock: time_machine.Coordinates,
    *,
    wait: float = 5,
    line: str = "islamism",
    **fields: str,
) -> httpx.Response:
    """Open the form, take `wait` seconds, send it with `fields` over the defaults."""
    page = client.get(f"/rueckruf/{line}")
    assert page.status_code == 200
    clock.shift(timedelta(seconds=wait))
    data = {"token": token_of(page.text), "phone": PHONE, "time_window": "abends", **fields}
    return client.post(f"/rueckruf/{line}", data=data)


def stored(database: Database) -> list[CallbackRequest]:
    with database.read() as session:
        return list(session.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def sent(database: Database, settings: Settings) -> list[outbox.Plain]:
    with database.read() as session:
        return outbox.recent(session, settings)


# --- the public form ------------------------------------------------------------------------


def test_form_end_to_end_stores_encrypted_and_tells_the_counsellor_nothing(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    page = web.get(FORM)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Rückruf anfordern" in page.text
    assert '<html lang="de">' in page.text
    assert "Bitte leer lassen" in page.text
    assert "Islam" not in page.text  # neutral: the page does not name the topic
    clock.shift(timedelta(seconds=5))
    response = web.post(
        FORM,
        data={
            "token": token_of(page.text),
            "name": "Samira",
            "phone": PHONE,
            "time_window": "abends",
            "preferred_date": "2026-12-04",
            "message": "Bitte nach 18 Uhr, mein Bruder",
            "confirm_sms": "ja",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/rueckruf/islamism/danke"
    thanks = web.get(response.headers["location"])
    assert thanks.status_code == 200
    assert "Vielen Dank" in thanks.text

    # Stored encrypted: the raw columns hold none of it in clear.
    with database.read() as session:
        (raw,) = session.execute(text("SELECT * FROM callback_requests")).mappings().all()
    for column in ("name_enc", "phone_enc", "message_enc"):
        value = bytes(raw[column])
        for secret in (b"Samira", E164.encode(), b"151", b"Bruder"):
            assert secret not in value, column
    (request,) = stored(database)
    box = crypto.box(settings)
    assert box.open(request.phone_enc) == E164
    assert request.name_enc is not None
    assert box.open(request.name_enc) == "Samira"
    assert request.message_enc is not None
    assert box.open(request.message_enc) == "Bitte nach 18 Uhr, mein Bruder"
    assert request.phone_hash == crypto.keyed_hash(settings, "callback-phone", E164)
    assert request.time_window == "abends"
    assert request.preferred_date == date(2026, 12, 4)
    assert request.status is TaskStatus.NEW
    assert request.line == "islamism"

    # The on-call counsellor is told, without any caller data; the requester is confirmed to,
    # in neutral words, from the neutral number.
    messages = {message.purpose: message for message in sent(database, settings)}
    assert set(messages) == {"callback", "callback-confirmation"}
    told = messages["callback"]
    assert told.to == on_call.primary
    assert told.from_number == ISLAMISM
    assert told.body == COUNSELLOR_SMS
    confirmation = messages["callback-confirmation"]
    assert confirmation.to == E164
    assert confirmation.from_number == settings.config.reminders.sender_number
    for word in ("Islam", "Extrem", "Ausstieg", "konex", "Beratung"):
        assert word not in confirmation.body
    with database.read() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "callback_request")
        ).one()
    assert (entry.actor, entry.action, entry.entity) == (
        callback_requests.PUBLIC_ACTOR,
        "create",
        "callback_request",
    )
    assert "Samira" not in str(entry.after)
    assert E164 not in str(entry.after)


def test_confirmation_only_when_asked(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    assert fill(web, clock).status_code == 303
    assert [m.purpose for m in sent(database, settings)] == ["callback"]


def test_backup_is_told_when_nobody_is_primary(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    config: HotlineConfig,
) -> None:
    with database.write() as session:
        backup = add_counsellor(session, config, "islamism", name="Hintergrund")
        shift = NewShift(
            "islamism", backup.id, Tier.BACKUP, berlin(2026, 12, 2), berlin(2026, 12, 3)
        )
        create_shift(session, config, shift, actor="tests")
    fill(web, clock)
    assert [m.to for m in sent(database, settings)] == [backup.phone]


def test_nobody_on_call_still_stores_the_request(
    web: TestClient, clock: time_machine.Coordinates, database: Database, settings: Settings
) -> None:
    assert fill(web, clock).status_code == 303
    assert len(stored(database)) == 1
    assert sent(database, settings) == []


def test_one_sms_to_the_counsellor_per_ten_minutes(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    fill(web, clock, phone="0151 1111 2222")
    fill(web, clock, phone="0151 1111 3333")
    clock.shift(timedelta(minutes=11))
    fill(web, clock, phone="0151 1111 4444")
    assert len(stored(database)) == 3
    assert [m.purpose for m in sent(database, settings)] == ["callback", "callback"]


# --- bots, floods and bad input -----------------------------------------------------------


def test_honeypot_is_refused_quietly(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    response = fill(web, clock, website="http://spam.example")
    assert response.status_code == 303
    assert response.headers["location"] == "/rueckruf/islamism/danke"
    assert stored(database) == []
    assert sent(database, settings) == []


@pytest.mark.parametrize("wait", [0, 2.5, 2 * 3600 + 1])
def test_too_fast_or_expired_stores_nothing(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
    wait: float,
) -> None:
    response = fill(web, clock, wait=wait)
    assert stored(database) == []
    assert sent(database, settings) == []
    if wait < 3:  # a bot: the same answer as a person gets, nothing learnt
        assert response.status_code == 303
        return
    # A person who left the page open gets the form again, their input kept, and may send it
    # again at once.
    assert response.status_code == 400
    page = response.text
    assert "zu lange geöffnet" in page
    assert f'value="{PHONE}"' in page
    again = web.post(FORM, data={"token": token_of(page), "phone": PHONE, "time_window": "egal"})
    assert again.status_code == 303
    assert len(stored(database)) == 1


def test_a_form_is_stored_once_however_often_it_is_sent(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    """Each form has its own token, used once: a double click, the back button or a replay
    gets the thank-you page and stores nothing; a form opened anew may be sent."""
    page = web.get(FORM).text
    assert token_of(page) != token_of(web.get(FORM).text)  # every form its own
    clock.shift(timedelta(seconds=5))
    data = {"token": token_of(page), "phone": PHONE, "time_window": "egal"}
    first = web.post(FORM, data=data)
    assert first.status_code == 303
    for _ in range(3):
        again = web.post(FORM, data={**data, "phone": "0151 9999 8888"})
        assert again.status_code == 303
        assert again.headers["location"] == "/rueckruf/islamism/danke"
    assert len(stored(database)) == 1
    assert len(sent(database, settings)) == 1  # the counsellor is told once
    assert fill(web, clock, phone="0151 9999 8888").status_code == 303
    assert len(stored(database)) == 2


def test_a_form_with_errors_keeps_its_token_until_it_is_stored(
    web: TestClient, clock: time_machine.Coordinates, database: Database, on_call: OnCall
) -> None:
    page = web.get(FORM).text
    clock.shift(timedelta(seconds=5))
    token = token_of(page)
    wrong = web.post(FORM, data={"token": token, "phone": "12", "time_window": "egal"})
    assert wrong.status_code == 422
    assert token_of(wrong.text) == token
    right = web.post(FORM, data={"token": token, "phone": PHONE, "time_window": "egal"})
    assert right.status_code == 303
    assert len(stored(database)) == 1


def test_used_tokens_are_forgotten_once_they_would_have_expired(database: Database) -> None:
    from foundation import once
    from web.app import _sweep
    from web.callback_request_pages import MAX_AGE, TOKEN_LIFETIME

    assert timedelta(seconds=MAX_AGE) < TOKEN_LIFETIME  # a replay is refused as expired
    used = datetime(2026, 12, 2, 8, tzinfo=UTC)
    with database.write() as session:
        assert once.use(session, "callback-form", "t1", used)
        assert not once.use(session, "callback-form", "t1", used)
        assert once.use(session, "other", "t1", used)  # purposes apart
    with time_machine.travel(used + TOKEN_LIFETIME - timedelta(seconds=1), tick=False):
        _sweep(database)
    with database.write() as session:
        assert not once.use(session, "callback-form", "t1")
    with time_machine.travel(used + TOKEN_LIFETIME + timedelta(seconds=1), tick=False):
        _sweep(database)
    with database.write() as session:
        assert once.use(session, "callback-form", "t1")


def test_forged_or_foreign_tokens_are_refused_quietly(
    web: TestClient, clock: time_machine.Coordinates, database: Database, settings: Settings
) -> None:
    other_line = form_token(settings, "right-wing", int(utcnow().timestamp()) - 10)
    forged = other_line.split(".")
    forged[1] = "A" * 16  # another nonce under the same signature
    for token in ("", "123.abc", "x" * 50, other_line, ".".join(forged), "1.\u0661.x"):
        response = web.post(FORM, data={"token": token, "phone": PHONE, "time_window": "egal"})
        assert response.status_code == 303
    assert stored(database) == []


def test_flood_from_one_address(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    for i in range(callback_requests.PER_ADDRESS[0]):
        assert fill(web, clock, phone=f"0151 2000 000{i}").status_code == 303
    refused = fill(web, clock, phone="0151 2000 0009")
    assert refused.status_code == 429
    assert "später noch einmal" in refused.text
    assert '<html lang="de">' in refused.text
    assert len(stored(database)) == callback_requests.PER_ADDRESS[0]
    # Another address is not affected; after an hour this one may send again.
    with _web(settings, database, "198.51.100.20") as elsewhere:
        assert fill(elsewhere, clock, phone="0151 2000 0010").status_code == 303
    clock.shift(timedelta(hours=1))
    assert fill(web, clock, phone="0151 2000 0011").status_code == 303


def test_flood_for_one_number_from_many_addresses(
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    limit = callback_requests.PER_NUMBER[0]
    for i in range(limit + 1):
        with _web(settings, database, f"198.51.100.{i + 1}") as client:
            response = fill(client, clock, confirm_sms="ja")
        assert response.status_code == (303 if i < limit else 429), i
    assert len(stored(database)) == limit
    # The number got no more confirmations than the limit: the form cannot be used to flood it.
    confirmations = [m for m in sent(database, settings) if m.purpose == "callback-confirmation"]
    assert len(confirmations) == limit


def test_huge_bodies_are_refused_with_413(
    web: TestClient, clock: time_machine.Coordinates, database: Database
) -> None:
    page = web.get(FORM)
    clock.shift(timedelta(seconds=5))
    token = token_of(page.text)
    big = web.post(FORM, data={"token": token, "phone": PHONE, "message": "x" * 9000})
    assert big.status_code == 413
    assert "zu groß" in big.text
    # Without a Content-Length (chunked), the cap holds while reading.
    chunks = iter([f"token={token}&phone=0151&message=".encode()] + [b"y" * 1024] * 20)
    streamed = web.post(
        FORM, content=chunks, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413
    assert stored(database) == []


def test_invalid_input_gets_german_errors_and_stores_nothing(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
) -> None:
    cases = [
        ({"phone": "12"}, "keine gültige|unter der wir Sie erreichen"),
        ({"phone": ""}, "unter der wir Sie erreichen"),
        ({"phone": "0900 1234567"}, "Festnetz- oder Mobilnummer"),  # premium rate
        ({"time_window": "nachts"}, "wann wir anrufen dürfen"),
        ({"preferred_date": "2026-11-30"}, "in den nächsten 14 Tagen"),  # in the past
        ({"preferred_date": "2027-01-30"}, "in den nächsten 14 Tagen"),
        ({"message": "z" * 501}, "höchstens 500 Zeichen"),
        ({"name": "n" * 61}, "höchstens 60 Zeichen"),
    ]
    for fields, wanted in cases:
        response = fill(web, clock, **fields)
        assert response.status_code == 422, fields
        page = response.text
        assert re.search(wanted, page), (fields, wanted)
        assert 'class="field-error"' in page
        assert "Es wurde noch nichts gesendet" in page
    assert stored(database) == []
    assert sent(database, settings) == []


def test_a_quick_correction_after_an_error_is_accepted(
    web: TestClient, clock: time_machine.Coordinates, database: Database
) -> None:
    first = fill(web, clock, phone="12")
    assert first.status_code == 422
    clock.shift(timedelta(seconds=1))  # fixing one digit is quick: the form stays valid
    token = token_of(first.text)
    again = web.post(FORM, data={"token": token, "phone": PHONE, "time_window": "egal"})
    assert again.status_code == 303
    assert len(stored(database)) == 1


SCRIPT = "<script>alert('x')</script>"
IMG = '"><img src=x onerror=alert(1)>'


def test_script_in_fields_is_stored_as_text_and_always_escaped(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    config: HotlineConfig,
    on_call: OnCall,
) -> None:
    # Shown again in the form (an error elsewhere): escaped.
    again = fill(web, clock, name=SCRIPT, message=IMG, phone="kaputt")
    assert again.status_code == 422
    assert SCRIPT not in again.text
    assert "<img src=x" not in again.text
    assert "&lt;script&gt;" in again.text
    # Stored as typed, shown escaped in the staff's list.
    assert fill(web, clock, name=SCRIPT, message=IMG).status_code == 303
    (request,) = stored(database)
    assert request.name_enc is not None
    assert crypto.box(settings).open(request.name_enc) == SCRIPT
    make_user(database, config, "primaer", Role.COUNSELLOR, "islamism")
    sign_in(web, "primaer")
    listing = web.get("/tasks").text
    assert SCRIPT not in listing
    assert "<img src=x" not in listing
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in listing
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in listing


def test_unknown_line_is_a_german_404(web: TestClient, database: Database) -> None:
    for response in (
        web.get("/rueckruf/gibt-es-nicht"),
        web.post("/rueckruf/gibt-es-nicht", data={"phone": PHONE}),
        web.get("/rueckruf/gibt-es-nicht/danke"),
    ):
        assert response.status_code == 404
        assert "Diese Seite gibt es nicht" in response.text
    assert stored(database) == []


@pytest.mark.parametrize(
    ("line", "code"), [("islamism", "ar"), ("islamism", "tr"), ("right-wing", "ru")]
)
def test_the_form_in_another_language_of_the_line(
    web: TestClient,
    clock: time_machine.Coordinates,
    database: Database,
    settings: Settings,
    on_call: OnCall,
    line: str,
    code: str,
) -> None:
    """`?lang=` picks the page's language among the line's: every word, the errors, the
    thank-you page and the confirmation in it, `lang` and `dir` set, a link to each other
    language; the request records the language, the counsellor is told it."""
    words = settings.config.form_texts(code)
    german = settings.config.form_texts("de")
    form = f"/rueckruf/{line}"
    page = web.get(f"{form}?lang={code}")
    assert page.status_code == 200
    rtl = ' dir="rtl"' if code == "ar" else ""
    assert f'<html lang="{code}"{rtl}>' in page.text
    assert f"<title>{words['page_title']}</title>" in page.text
    for name in ("intro", "phone_label", "window_legend", "window_abends", "submit", "sms_hint"):
        assert html.escape(words[name], quote=False) in page.text, name
    for name in ("intro", "phone_label", "submit", "window_legend"):
        assert german[name] not in page.text, name
    assert f'action="{form}?lang={code}"' in page.text
    # The switch: a link per language of the line, in its own language, this one current.
    switch = re.search(
        r'<nav class="language-switch" aria-label="([^"]+)">(.*?)</nav>', page.text, re.S
    )
    assert switch is not None
    assert switch.group(1) == words["language_label"]
    links = re.findall(r'<a href="([^"]+)" lang="(\w+)"', switch.group(2))
    languages = settings.config.lines[line].languages
    assert links == [(form if c == "de" else f"{form}?lang={c}", c) for c in languages]
    assert re.search(rf'lang="{code}" hreflang="{code}"[^>]*aria-current="page"', switch.group(2))
    assert 'lang="de" hreflang="de">Deutsch</a>' in switch.group(2)
    # Errors in the language, nothing stored.
    clock.shift(timedelta(seconds=5))
    token = token_of(page.text)
    wrong = web.post(
        f"{form}?lang={code}", data={"token": token, "phone": "12", "time_window": "egal"}
    )
    assert wrong.status_code == 422
    assert f'<html lang="{code}"{rtl}>' in wrong.text
    assert html.escape(words["errors_summary"], quote=False) in wrong.text
    assert html.escape(words["error_phone"], quote=False) in wrong.text
    assert stored(database) == []
    # Sent: the thank-you page and the confirmation in the language.
    data = {"token": token, "phone": PHONE, "time_window": "abends", "confirm_sms": "ja"}
    response = web.post(f"{form}?lang={code}", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == f"{form}/danke?lang={code}"
    thanks = web.get(response.headers["location"])
    assert f'<html lang="{code}"{rtl}>' in thanks.text
    assert html.escape(words["thanks_text"], quote=False) in thanks.text
    (request,) = stored(database)
    assert request.language == code
    messages = {message.purpose: message for message in sent(database, settings)}
    assert messages["callback-confirmation"].body == words["confirmation_sms"]
    if line == "islamism":  # someone on call (`on_call`) to tell
        name = {"ar": "Arabisch", "tr": "Türkisch"}[code]
        assert messages["callback"].body == (
            f"Neue Rückrufbitte für die Islamismus-Leitung, Sprache {name}. Details im Webportal."
        )


def test_the_forms_language_is_one_of_the_lines(
    web: TestClient, clock: time_machine.Coordinates, database: Database, settings: Settings
) -> None:
    """A language the line does not offer (Russian on the Islamism line), an unknown or a
    hostile one: the line's first language, and the German request records German."""
    for asked in ("ru", "xx", "", "ar%22%3E", "AR", "de"):
        page = web.get(f"{FORM}?lang={asked}")
        assert page.status_code == 200
        assert '<html lang="de">' in page.text, asked
        assert f'action="{FORM}"' in page.text
    clock.shift(timedelta(seconds=5))
    token = token_of(web.get(FORM).text)
    clock.shift(timedelta(seconds=5))
    data = {"token": token, "phone": PHONE, "time_window": "egal"}
    assert web.post(f"{FORM}?lang=ru", data=data).headers["location"] == f"{FORM}/danke"
    (request,) = stored(database)
    assert request.language == "de"
    # Too large: refused in the asked language, before the body is read.
    page = web.get(f"{FORM}?lang=tr")
    big = web.post(f"{FORM}?lang=tr", data={"token": token_of(page.text), "message": "x" * 9000})
    assert big.status_code == 413
    words = settings.config.form_texts("tr")
    assert html.escape(words["too_large_text"], quote=False) in big.text
    assert f'href="{FORM}?lang=tr">{html.escape(words["back"], quote=False)}</a>' in big.text
    # An unknown line in Arabic: the 404 in Arabic, without a switch.
    missing = web.get("/rueckruf/gibt-es-nicht?lang=ar")
    assert missing.status_code == 404
    assert '<html lang="ar" dir="rtl">' in missing.text
    assert "language-switch" not in missing.text


def test_public_page_loads_nothing_from_elsewhere_and_has_no_script(
    web: TestClient, database: Database
) -> None:
    page = web.get(FORM)
    assert "<script" not in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers  # nothing to track a visitor by
    assert "Hauptnavigation" not in page.text  # not the staff app
    honeypot = re.search(r"<input [^>]*name=\"website\"[^>]*>", page.text)
    assert honeypot
    assert 'tabindex="-1"' in honeypot.group(0)
    assert 'autocomplete="off"' in honeypot.group(0)


def test_client_key_groups_an_ipv6_household() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:3:4:5:6") == client_key("2001:db8:1:2:ffff::1")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("testclient") == "testclient"


def test_token_age(settings: Settings) -> None:
    token = form_token(settings, "islamism", 1000)
    assert token_age(settings, "islamism", token, 1004.5) == 4.5
    assert token_age(settings, "right-wing", token, 1004.5) is None
    assert token_age(settings, "islamism", token.replace("1000.", "999."), 1004.5) is None
    assert token_age(settings, "islamism", token + "0", 1004.5) is None
    # A form handed out before forms had their own nonce (an upgrade in between) still counts.
    from web.auth import csrf_token

    old = f"1000.{csrf_token(settings, 'callback-form', 'islamism:1000')}"
    assert token_age(settings, "islamism", old, 1004.5) == 4.5
    assert token_age(settings, "right-wing", old, 1004.5) is None
    assert token_age(settings, "islamism", old[:-1] + "x", 1004.5) is None


# --- the task list ----------------------------------------------------------------------------


def _request(
    database: Database, settings: Settings, phone: str = E164, line: str = "islamism"
) -> int:
    with database.write() as session:
        new = callback_requests.NewCallbackRequest(
            line, phone, "morgens", "192.0.2.1", name="Jo", message="Hallo"
        )
        callback_requests.create_callback_request(session, settings, new, Rota(settings.config))
        newest = session.scalar(select(func.max(CallbackRequest.id)))
    assert newest is not None
    return newest


def _voicemail(database: Database, sid: str, line: str = "islamism", **extra: object) -> int:
    with database.write() as session:
        team = session.scalars(select(Team).where(Team.slug == line)).one()
        voicemail = Voicemail(
            line=line, team_id=team.id, recording_sid=sid, duration_seconds=83, **extra
        )
        session.add(voicemail)
        session.flush()
        return voicemail.id


def _act(client: TestClient, kind: str, task_id: int, action: str) -> int:
    csrf = csrf_of(client.get("/tasks").text)
    path = f"/tasks/{kind}/{task_id}/status"
    return client.post(path, data={"csrf": csrf, "action": action}).status_code


def test_task_list_shows_details_to_the_team_and_works_its_actions(
    web: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    request_id = _request(database, settings)
    voicemail_id = _voicemail(database, "RE" + "a" * 32)
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    sign_in(web, "beraterin")
    page = web.get("/tasks")
    assert page.status_code == 200
    assert "Aufgaben" in page.text
    # The number only masked (a call-back goes through the line), never in full.
    assert "+49 151 ••• ••89" in page.text
    assert E164 not in page.text
    assert display(E164) not in page.text
    assert "tel:" not in page.text
    assert "Jo" in page.text
    assert "Hallo" in page.text
    assert "morgens (8–11 Uhr)" in page.text
    assert (
        f'<audio controls preload="none" src="/tasks/voicemails/{voicemail_id}/audio"' in page.text
    )
    assert "1:23 min" in page.text
    # Newest first: the voicemail came after the request.
    assert page.text.index(f"voicemail-{voicemail_id}") < page.text.index(f"callback-{request_id}")

    assert _act(web, "callbacks", request_id, "take") == 303
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        assert request.status is TaskStatus.IN_PROGRESS
        assert request.taken_by_id is not None
    assert "übernommen von beraterin" in web.get("/tasks").text
    assert _act(web, "callbacks", request_id, "done") == 303
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        assert request.status is TaskStatus.DONE
        assert request.done_at is not None
    listing = web.get("/tasks").text
    assert "Erledigt in den letzten 14 Tagen (1)" in listing
    assert "Wieder öffnen" in listing
    # A done task cannot be taken without reopening it.
    assert _act(web, "callbacks", request_id, "take") == 409
    assert _act(web, "callbacks", request_id, "reopen") == 303
    assert _act(web, "voicemails", voicemail_id, "take") == 303
    assert _act(web, "voicemails", voicemail_id, "fly") == 422
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        voicemail = session.get(Voicemail, voicemail_id)
        assert request is not None
        assert voicemail is not None
        assert (request.status, request.taken_by_id, request.done_at) == (
            TaskStatus.NEW,
            None,
            None,
        )
        assert voicemail.status is TaskStatus.IN_PROGRESS
        trail = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity.in_(("callback_request", "voicemail")))
            .order_by(AuditEntry.id)
        ).all()
    assert trail == ["create", "take", "done", "reopen", "take"]


def test_other_teams_and_admins_see_no_client_data_and_cannot_act(
    web: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    request_id = _request(database, settings)
    voicemail_id = _voicemail(database, "RE" + "b" * 32)
    make_user(database, config, "chef", Role.ADMIN)
    make_user(database, config, "rechts", Role.COORDINATOR, "right-wing")
    sign_in(web, "rechts")
    page = web.get("/tasks").text
    assert "Team Rechtsextremismus" in page
    assert "Team Islamismus" not in page
    # Another team's tasks are answered as if they did not exist ...
    assert _act(web, "callbacks", request_id, "take") == 404
    assert web.get(f"/tasks/voicemails/{voicemail_id}/audio").status_code == 404
    web.cookies.clear()
    sign_in(web, "chef")
    page = web.get("/tasks").text
    assert "Team Islamismus" in page  # admins see every team's list ...
    assert "Rückrufbitte vom" in page
    assert E164 not in page  # ... but not what clients left
    assert "0151" not in page
    assert "Hallo" not in page
    assert "<audio" not in page
    assert "Die Angaben sieht nur das Team." in page
    assert _act(web, "callbacks", request_id, "done") == 403
    csrf = csrf_of(web.get("/tasks").text)
    delete = web.post(f"/tasks/voicemails/{voicemail_id}/recording/delete", data={"csrf": csrf})
    assert delete.status_code == 403
    with database.read() as session:
        request = session.get(CallbackRequest, request_id)
        assert request is not None
        assert request.status is TaskStatus.NEW


def test_dashboard_counts_open_callbacks_without_client_data(
    web: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    _request(database, settings, phone="+4915111111111")
    _request(database, settings, phone="+4915122222222")
    make_user(database, config, "chef", Role.ADMIN)
    sign_in(web, "chef")
    page = web.get("/").text
    assert "2 Rückrufbitten sind offen" in page
    assert 'href="/tasks#team-islamism"' in page
    assert "Keine offenen Rückrufbitten." in page  # the other teams
    assert "0151" not in page
    assert 'href="/tasks"' in page  # in the navigation


# --- voicemail recordings at Twilio -----------------------------------------------------------


def test_voicemail_from_a_call_is_played_through_the_service_and_deleted_at_twilio(
    live: tuple[Settings, FakeTwilio],
    database: Database,
    config: HotlineConfig,
    on_call: OnCall,
) -> None:
    settings, fake = live
    with (
        https_client(settings, database) as client,
        time_machine.travel(NOON, tick=False),
    ):
        # A signed call walks to the voicemail: the task appears in the list.
        simulator(client, settings).call(
            ISLAMISM, behaviour=Behaviour(default="no-answer", fallback="no-answer")
        )
        with database.read() as session:
            voicemail = session.scalars(select(Voicemail)).one()
        fake.recordings[voicemail.recording_sid] = AUDIO
        make_user(database, config, "primaer", Role.COUNSELLOR, "islamism")
        sign_in(client, "primaer")
        assert f"voicemail-{voicemail.id}" in client.get("/tasks").text

        url = f"/tasks/voicemails/{voicemail.id}/audio"
        played = client.get(url)
        assert played.status_code == 200
        assert played.content == AUDIO
        assert played.headers["content-type"] == "audio/mpeg"
        assert played.headers["cache-control"] == "no-store"
        (asked,) = fake.media_requests
        assert asked["path"] == (
            f"/2010-04-01/Accounts/{SID}/Recordings/{voicemail.recording_sid}.mp3"
        )
        assert asked["authorization"].startswith("Basic ")
        assert fake.authorized(asked["authorization"])
        # A range (the player seeks) is passed on.
        part = client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == AUDIO[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(AUDIO)}"
        # Twilio redirecting to its storage: followed, without sending the credentials there.
        fake.redirect_media = True
        fake.media_requests.clear()
        assert client.get(url).content == AUDIO
        assert [r["path"].split("/")[1] for r in fake.media_requests] == ["2010-04-01", "storage"]
        assert fake.media_requests[1]["authorization"] == ""
        # Signed out: nothing.
        signed_out = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
        assert signed_out.get(url).status_code == 303

        # Deleting needs the voicemail taken first; then it is deleted at Twilio.
        csrf = csrf_of(client.get("/tasks").text)
        delete_url = f"/tasks/voicemails/{voicemail.id}/recording/delete"
        refused = client.post(delete_url, data={"csrf": csrf})
        assert refused.status_code == 409
        assert "übernehmen" in refused.text
        assert _act(client, "voicemails", voicemail.id, "take") == 303
        fake.fail_next = 1
        failed = client.post(delete_url, data={"csrf": csrf})
        assert failed.status_code == 502
        assert "später noch einmal" in failed.text
        assert fake.deleted == []
        assert client.post(delete_url, data={"csrf": csrf}).status_code == 303
        assert fake.deleted == [voicemail.recording_sid]
        with database.read() as session:
            stored_voicemail = session.get(Voicemail, voicemail.id)
            assert stored_voicemail is not None
            assert stored_voicemail.recording_deleted_at is not None
            entry = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "delete_recording")
            ).one()
        assert entry.actor.endswith("primaer")
        assert client.get(url).status_code == 404
        assert "<audio" not in client.get("/tasks").text
        assert "Die Aufnahme ist gelöscht." in client.get("/tasks").text


def test_recording_missing_at_twilio_is_a_404(
    live: tuple[Settings, FakeTwilio], database: Database, config: HotlineConfig
) -> None:
    settings, _fake = live
    voicemail_id = _voicemail(database, "RE" + "c" * 32)
    make_user(database, config, "primaer", Role.COUNSELLOR, "islamism")
    with https_client(settings, database) as client:
        sign_in(client, "primaer")
        response = client.get(f"/tasks/voicemails/{voicemail_id}/audio")
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"


def test_simulation_mode_plays_a_second_of_silence(
    web: TestClient, database: Database, config: HotlineConfig
) -> None:
    voicemail_id = _voicemail(database, "RE" + "d" * 32)
    make_user(database, config, "primaer", Role.COUNSELLOR, "islamism")
    sign_in(web, "primaer")
    response = web.get(f"/tasks/voicemails/{voicemail_id}/audio")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content.startswith(b"RIFF")
    assert response.headers["cache-control"] == "no-store"


# --- retention ------------------------------------------------------------------------------


def test_retention_deletes_old_done_requests_and_recordings_and_keeps_open_ones(
    live: tuple[Settings, FakeTwilio], database: Database
) -> None:
    settings, fake = live
    now = NOON
    days = settings.config.tasks.retention_days
    old, recent = now - timedelta(days=days + 1), now - timedelta(days=days - 1)
    with time_machine.travel(now - timedelta(days=days + 30), tick=False):
        old_done = _request(database, settings, phone="+4915100000001")
        old_open = _request(database, settings, phone="+4915100000002")
        recent_done = _request(database, settings, phone="+4915100000003")
    with database.write() as session:
        for request_id, done_at in ((old_done, old), (recent_done, recent)):
            request = session.get(CallbackRequest, request_id)
            assert request is not None
            request.status, request.done_at = TaskStatus.DONE, done_at
    sids = {name: "RE" + char * 32 for name, char in (("old", "1"), ("open", "2"), ("new", "3"))}
    for sid in sids.values():
        fake.recordings[sid] = AUDIO
    created = now - timedelta(days=days + 5)
    old_voicemail = _voicemail(database, sids["old"], status=TaskStatus.DONE, created_at=created)
    _voicemail(database, sids["open"], status=TaskStatus.IN_PROGRESS, created_at=created)
    _voicemail(database, sids["new"], status=TaskStatus.DONE, created_at=recent)

    retention.retention_job(database, settings, now=now)

    with database.read() as session:
        left = set(session.scalars(select(CallbackRequest.id)))
        deleted_at = session.get(Voicemail, old_voicemail).recording_deleted_at  # type: ignore[union-attr]
        kept = session.scalars(
            select(Voicemail).where(Voicemail.recording_deleted_at.is_(None))
        ).all()
        purged = session.scalars(
            select(AuditEntry.entity_id).where(AuditEntry.actor == retention.RETENTION_ACTOR)
        ).all()
    assert left == {old_open, recent_done}
    assert fake.deleted == [sids["old"]]
    assert deleted_at is not None
    assert {v.recording_sid for v in kept} == {sids["open"], sids["new"]}
    assert sorted(purged) == sorted([old_done, old_voicemail])
    # Idempotent: a second run finds nothing more.
    retention.retention_job(database, settings, now=now)
    assert fake.deleted == [sids["old"]]


def test_retention_tries_again_when_twilio_fails(
    live: tuple[Settings, FakeTwilio], database: Database
) -> None:
    settings, fake = live
    sid = "RE" + "4" * 32
    fake.recordings[sid] = AUDIO
    created = NOON - timedelta(days=settings.config.tasks.retention_days + 1)
    voicemail_id = _voicemail(database, sid, status=TaskStatus.DONE, created_at=created)
    fake.fail_next = 1
    retention.retention_job(database, settings, now=NOON)
    with database.read() as session:
        assert session.get(Voicemail, voicemail_id).recording_deleted_at is None  # type: ignore[union-attr]
    retention.retention_job(database, settings, now=NOON)
    assert fake.deleted == [sid]


def test_retention_runs_hourly_from_the_scheduler(database: Database, settings: Settings) -> None:
    everything = compose.jobs(database, settings, providers.for_settings(database, settings))
    (job,) = [job for job in everything if job.id == "tasks.retention"]
    assert job.every == timedelta(hours=1)
    run = inspect.unwrap(job.run)  # under the heartbeat's note of its runs
    assert isinstance(run, partial)
    assert run.func is retention.retention_job


def test_retention_days_is_configured_and_checked(config: HotlineConfig) -> None:
    assert config.tasks.retention_days == 90  # config/hotline.toml
    assert Tasks().retention_days == 90
    for wrong in (0, -1, 10_000):
        with pytest.raises(ValueError, match="retention_days"):
            Tasks(retention_days=wrong)


def test_callback_requests_are_in_the_rekey_list() -> None:
    assert (CallbackRequest, ("name_enc", "phone_enc", "message_enc")) in crypto.ENCRYPTED


def test_outbox_rows_of_the_form_are_encrypted(
    web: TestClient, clock: time_machine.Coordinates, database: Database, on_call: OnCall
) -> None:
    fill(web, clock, confirm_sms="ja")
    with database.read() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert len(rows) == 2
    for row in rows:
        assert E164.encode() not in bytes(row.to_enc)
        assert "Rückruf".encode() not in bytes(row.body_enc)
