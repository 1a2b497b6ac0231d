"""`hotline twilio check` and `hotline twilio configure` against the loopback Twilio fake (its
IncomingPhoneNumbers), run in process; and the fallback host's signatures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from app.cli import main
from config.model import SHIPPED, load_config
from config.settings import Settings
from foundation.db import Database
from hotline.providers import twilio, twilio_numbers
from tests.fake_twilio import FakeTwilio, running
from tests.helpers import TWILIO_SID, TWILIO_TOKEN, post_signed
from web.app import create_app

PRIMARY, FALLBACK = "https://a.hotline.example", "https://b.hotline.example"
CONFIG = load_config(SHIPPED)
ISLAMISM = CONFIG.lines["islamism"].number  # +497112794555
RIGHT_WING = CONFIG.lines["right-wing"].number  # +497112794544
SENDER = CONFIG.reminders.sender_number or ""  # +497112794556, not a line's number
VARIABLES = (
    "HOTLINE_CONFIG",
    "HOTLINE_MODE",
    "HOTLINE_PUBLIC_URL",
    "HOTLINE_FALLBACK_PUBLIC_URL",
    "HOTLINE_TWILIO_API_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    """A fake Twilio account the `hotline` command is pointed at, with the public URL of host A
    and no fallback host yet."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with running(TWILIO_SID, TWILIO_TOKEN) as twilio:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
        monkeypatch.setenv("HOTLINE_TWILIO_API_URL", twilio.url)
        monkeypatch.setenv("HOTLINE_PUBLIC_URL", PRIMARY)
        yield twilio


def run(capsys: pytest.CaptureFixture[str], *command: str) -> tuple[int, str, str]:
    status = main(["twilio", *command])
    out, err = capsys.readouterr()
    return status, out, err


def test_check_names_what_differs_and_configure_sets_only_that(
    fake: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # the level the command logs at
    monkeypatch.setenv("HOTLINE_FALLBACK_PUBLIC_URL", FALLBACK + "/")
    islamism = fake.add_number(ISLAMISM)  # as Twilio sets up a number bought: demo URLs
    # A number the PhoneNumber filter also matches (Twilio matches partial numbers): not ours.
    decoy = fake.add_number(ISLAMISM + "9")
    # Right-wing was set up by hand: only its fallback still points at host A.
    right_wing = fake.add_number(
        RIGHT_WING,
        voice_url=f"{PRIMARY}/twilio/voice",
        voice_fallback_url=f"{PRIMARY}/twilio/fallback",
        status_callback=f"{PRIMARY}/twilio/status",
        sms_url=f"{PRIMARY}/twilio/sms",
        sms_fallback_url=f"{FALLBACK}/twilio/sms",
    )
    sender = fake.add_number(
        SENDER,
        voice_url="https://office.example/voice",
        sms_url=f"{PRIMARY}/twilio/sms",
        sms_method="GET",
        sms_fallback_url=f"{FALLBACK}/twilio/sms",
    )

    status, out, err = run(capsys, "check")
    assert status == 1
    assert "warning" not in err
    assert f"voice under {PRIMARY}, fallback under {FALLBACK}" in out
    for line in (
        f"islamism •••555: VoiceUrl is 'https://demo.twilio.com/welcome/voice/', "
        f"needs '{PRIMARY}/twilio/voice'",
        f"islamism •••555: VoiceFallbackUrl is '', needs '{FALLBACK}/twilio/fallback'",
        f"islamism •••555: StatusCallback is '', needs '{PRIMARY}/twilio/status'",
        f"islamism •••555: SmsFallbackUrl is '', needs '{FALLBACK}/twilio/sms'",
        f"right-wing •••544: VoiceFallbackUrl is '{PRIMARY}/twilio/fallback', "
        f"needs '{FALLBACK}/twilio/fallback'",
        "reminders •••556: SmsMethod is 'GET', needs 'POST'",
    ):
        assert line in out.splitlines(), line
    assert "right-wing •••544: VoiceUrl" not in out
    assert "reminders •••556: Voice" not in out  # the sender's calls are not the service's
    assert not fake.number_updates  # check changes nothing

    status, out, err = run(capsys, "configure")
    assert status == 0, err
    assert f"right-wing •••544: setting VoiceFallbackUrl to '{FALLBACK}/twilio/fallback'" in out
    for label in ("islamism •••555", "right-wing •••544", "reminders •••556"):
        assert f"{label}: ok" in out.splitlines()
    updates = {update.pop("Sid"): update for update in fake.number_updates}
    assert set(updates) == {islamism, right_wing, sender}  # never the decoy
    assert updates[right_wing] == {"VoiceFallbackUrl": f"{FALLBACK}/twilio/fallback"}
    assert updates[sender] == {"SmsMethod": "POST"}
    assert set(updates[islamism]) == {
        "VoiceUrl",
        "VoiceFallbackUrl",
        "StatusCallback",
        "SmsUrl",
        "SmsFallbackUrl",
    }
    assert fake.numbers[islamism]["voice_fallback_url"] == f"{FALLBACK}/twilio/fallback"
    assert fake.numbers[islamism]["sms_url"] == f"{PRIMARY}/twilio/sms"
    assert fake.numbers[sender]["voice_url"] == "https://office.example/voice"
    assert fake.numbers[decoy]["voice_url"] == "https://demo.twilio.com/welcome/voice/"

    status, out, _ = run(capsys, "check")
    assert status == 0
    assert len([line for line in out.splitlines() if line.endswith(": ok")]) == 3
    # The fake's list pages as Twilio's do: the library follows next_page_uri to the end.
    listed = twilio.client(Settings.from_environ()).incoming_phone_numbers.list(page_size=1)
    assert [number.sid for number in listed] == list(fake.numbers)
    assert fake.refused == 0  # every request carried the account's credentials

    # A TwiML application on a number takes its calls instead of the URLs: it must go.
    fake.numbers[right_wing]["voice_application_sid"] = "AP" + "1" * 32
    status, out, _ = run(capsys, "check")
    assert status == 1
    assert f"right-wing •••544: VoiceApplicationSid is 'AP{'1' * 32}', needs ''" in out
    assert run(capsys, "configure")[0] == 0
    assert fake.numbers[right_wing]["voice_application_sid"] == ""

    # The operator sees line and last digits; no number is printed or logged.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for number in (ISLAMISM, RIGHT_WING, SENDER, ISLAMISM.removeprefix("+")):
        assert number not in out + err + logged


def test_a_missing_number_and_a_fallback_on_the_same_host(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_number(ISLAMISM)
    fake.add_number(SENDER)
    status, out, err = run(capsys, "configure")
    assert status == 1  # right-wing's number is not in the account
    assert "warning: HOTLINE_FALLBACK_PUBLIC_URL is not set" in err
    assert "right-wing •••544: not a number of this Twilio account" in err
    assert "islamism •••555: ok" in out
    assert f"voice under {PRIMARY}, fallback under {PRIMARY}" in out
    islamism = next(n for n in fake.numbers.values() if n["phone_number"] == ISLAMISM)
    assert islamism["voice_fallback_url"] == f"{PRIMARY}/twilio/fallback"

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-wrong-token")
    status, _, err = run(capsys, "check")
    assert status == 1
    assert "hotline twilio check: Twilio refused (401): are TWILIO_ACCOUNT_SID" in err
    assert fake.refused == 1


def test_without_a_twilio_account_or_a_public_url_nothing_is_asked(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add_number(ISLAMISM)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    for command in ("check", "configure"):
        status, _, err = run(capsys, command)
        assert status == 2
        assert f"hotline twilio {command}: needs Twilio credentials" in err
        assert "simulation mode" in err
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.delenv("HOTLINE_PUBLIC_URL")
    status, _, err = run(capsys, "configure")
    assert status == 2
    assert "HOTLINE_PUBLIC_URL is not set" in err
    assert not fake.number_updates
    assert fake.refused == 0


def test_the_fallback_host_accepts_requests_signed_for_its_own_base(
    settings: Settings, database: Database
) -> None:
    """Host B shares host A's environment: HOTLINE_PUBLIC_URL is A's, and Twilio signs the
    fallback requests it sends B with B's URL. The fallback paths accept that; the others not."""
    settings = replace(settings, public_url=PRIMARY, fallback_public_url=FALLBACK)
    app = create_app(settings, database=database)
    routes = {route.path for route in app.routes if isinstance(route, Route)}
    wanted = twilio_numbers.wanted(settings)[0]
    for _field, url in wanted.fields:  # every URL a number is pointed at is served
        if url.startswith(PRIMARY):
            assert url.removeprefix(PRIMARY) in routes, url
        elif url.startswith(FALLBACK):
            assert url.removeprefix(FALLBACK) in twilio_numbers.FALLBACK_PATHS, url
    call = {"CallSid": "CA" + "6" * 32, "To": ISLAMISM, "From": "anonymous"}
    message = {"MessageSid": "SM" + "6" * 32, "To": ISLAMISM, "From": "+4917612345678"}
    with TestClient(app) as client:
        for base, path, params, answer in (
            (FALLBACK, "/twilio/fallback", call, 200),
            (PRIMARY, "/twilio/fallback", call, 200),
            (FALLBACK, "/twilio/sms", message | {"Body": "Hallo"}, 200),
            (FALLBACK, "/twilio/status", call | {"CallStatus": "completed"}, 403),
            ("https://c.hotline.example", "/twilio/fallback", call, 403),
        ):
            response = post_signed(client, settings, base + path, params, path=path)
            assert response.status_code == answer, (base, path)
        dialled = post_signed(
            client, settings, FALLBACK + "/twilio/fallback", call, path="/twilio/fallback"
        )
        assert "<Dial" in dialled.text
        # Without a fallback host, only the public URL signs.
        alone = replace(settings, fallback_public_url=None)
    with TestClient(create_app(alone, database=database)) as client:
        response = post_signed(
            client, alone, FALLBACK + "/twilio/fallback", call, path="/twilio/fallback"
        )
        assert response.status_code == 403
