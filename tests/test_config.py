"""The configuration file and the settings from the environment."""

from __future__ import annotations

import tomllib
from datetime import date, time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from config.model import SHIPPED, ConfigError, HotlineConfig, load_config
from config.settings import DEFAULT_DATABASE_URL, Settings, SettingsError
from foundation import apikeys
from foundation.db import Database, make_engine
from foundation.models import Tier
from scheduling.shifts import NewShift, create_shift
from tests.conftest import add_counsellor, berlin, quoted
from web.app import create_app

LEFT_WING = """
[teams.left-wing]
name = "Team Linksextremismus"

[lines.left-wing]
number = "+49 711 279 4533"
team = "left-wing"
display_name = "Leitung Linksextremismus"
greeting = "Guten Tag. Sie sind mit der Ausstiegsberatung verbunden."

[lines.left-wing.hours]
mon = "10:00-14:00"
wed = ["09:00-12:00", "13:00-17:00"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def shipped_with(replace: str, by: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8")
    assert replace in text, replace
    return text.replace(replace, by, 1)


def test_shipped_configuration(config: HotlineConfig) -> None:
    assert config.organisation.timezone == "Europe/Berlin"
    assert config.organisation.general_number == "+497112794556"
    assert set(config.teams) >= {"islamism", "right-wing"}
    numbers = {slug: line.number for slug, line in config.lines.items()}
    assert numbers == {"islamism": "+497112794555", "right-wing": "+497112794544"}
    line = config.lines["islamism"]
    assert line.recording is False
    assert config.fallback_for("islamism") == "+497112794556"
    assert [str(r) for r in line.hours.on(date(2026, 11, 27))] == ["09:00–16:00"]  # a Friday
    assert line.hours.on(date(2026, 11, 28)) == ()  # Saturday: closed


@pytest.mark.parametrize(
    "spelling", ["0711-279-4555", "+49 711 2794555", "0049 711 279 4555", "(0711) 279 45 55"]
)
def test_numbers_in_any_common_spelling_become_e164(tmp_path: Path, spelling: str) -> None:
    path = write(tmp_path, shipped_with('number = "0711-279-4555"', f'number = "{spelling}"'))
    assert load_config(path).lines["islamism"].number == "+497112794555"


def test_baden_wuerttemberg_holidays(config: HotlineConfig) -> None:
    organisation = config.organisation
    assert organisation.is_holiday(date(2026, 1, 6))  # Epiphany: BW, not Berlin
    assert organisation.is_holiday(date(2026, 6, 4))  # Corpus Christi
    assert organisation.is_holiday(date(2026, 11, 1))  # All Saints
    assert not organisation.is_holiday(date(2026, 10, 31))  # Reformation Day: not in BW
    assert not organisation.is_holiday(date(2026, 11, 25))


def test_service_hours_contain_and_exclude_the_edges(config: HotlineConfig) -> None:
    (monday,) = config.lines["islamism"].hours.on(date(2026, 11, 23))
    assert monday.contains(time(9, 0))
    assert monday.contains(time(17, 59))
    assert not monday.contains(time(18, 0))
    assert not monday.contains(time(8, 59))


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ('number = "0711-279-4555"', 'number = "12"', "lines.islamism.number"),
        ('team = "islamism"', 'team = "left-wing"', "lines.islamism.team"),
        ("ring_timeout = 20", "ring_timeout = 2", "lines.islamism.ring_timeout"),
        ('strategy = "sequential"', 'strategy = "random"', "lines.islamism.strategy"),
        ('mon = "09:00-18:00"', 'mon = "18:00-09:00"', "lines.islamism.hours.mon"),
        ('mon = "09:00-18:00"', 'mon = "9 to 5"', "lines.islamism.hours.mon"),
        ('timezone = "Europe/Berlin"', 'timezone = "Europe/Stuttgart"', "organisation.timezone"),
        ('subdivision = "BW"', 'subdivision = "XX"', "organisation.holidays"),
        ("recording = false", "recordings = false", "lines.islamism.recordings"),
        (
            'fallback_number = "0711-279-4556"',
            'fallback_number = "0711-279-4555"',
            "lines.islamism.fallback_number",
        ),
        ('[teams.office]\nname = "Geschäftsstelle"', '[teams.Office]\nname = "X"', "teams.Office"),
    ],
)
def test_invalid_configuration_names_file_key_and_problem(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    path = write(tmp_path, shipped_with(replace, by))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message, message


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[organisation\n"))


def test_two_lines_cannot_share_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, shipped_with('number = "0711-279-4544"', 'number = "0711 2794555"'))
    with pytest.raises(ConfigError, match="share a number"):
        load_config(path)


def test_invalid_configuration_stops_the_cli_with_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    path = write(tmp_path, shipped_with("ring_timeout = 20", "ring_timeout = 0"))
    monkeypatch.setenv("HOTLINE_CONFIG", str(path))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "lines.islamism.ring_timeout" in err
    assert not (tmp_path / "db.sqlite3").exists()


def test_a_third_line_and_team_is_configuration_only(tmp_path: Path, db_url: str) -> None:
    path = write(tmp_path, SHIPPED.read_text(encoding="utf-8") + LEFT_WING)
    config = load_config(path)
    assert config.line_for_number("+497112794533") == ("left-wing", config.lines["left-wing"])
    assert config.fallback_for("left-wing") == config.organisation.general_number
    assert [str(r) for r in config.lines["left-wing"].hours.on(date(2026, 11, 25))] == [
        "09:00–12:00",
        "13:00–17:00",
    ]

    settings = Settings(config=config, database_url=db_url)
    database = Database(make_engine(db_url))
    from foundation.models import Base

    Base.metadata.create_all(database.engine)
    try:
        with TestClient(create_app(settings, database=database)) as client:
            # The app mirrors the new team on start; rota and on-call work for it at once.
            with database.write() as session:
                person = add_counsellor(session, config, "left-wing", name="Lena Brandt")
                create_shift(
                    session,
                    config,
                    NewShift(
                        "left-wing",
                        person.id,
                        Tier.PRIMARY,
                        berlin(2026, 12, 1, 9),
                        berlin(2026, 12, 2, 9),
                    ),
                    actor="tests",
                )
                _, key = apikeys.create_api_key(session, "tests", actor="tests")
            response = client.get(
                f"/api/v1/oncall?team=left-wing&at={quoted(berlin(2026, 12, 1, 12))}",
                headers={"Authorization": f"Bearer {key}"},
            )
    finally:
        database.dispose()
    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json()["primary"]] == ["Lena Brandt"]


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults_mean_sqlite_and_simulation() -> None:
    settings = Settings.from_environ({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith("sqlite:///var/")
    assert settings.simulation


def test_settings_read_every_variable(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED.read_text(encoding="utf-8"))
    settings = Settings.from_environ(
        {
            "HOTLINE_CONFIG": str(path),
            "HOTLINE_DATABASE_URL": "postgresql+psycopg://db/hotline",
            "HOTLINE_PUBLIC_URL": "https://hotline.example.org/",
            "HOTLINE_FALLBACK_PUBLIC_URL": "https://fallback.example.org/",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "token-value",
            "HOTLINE_SECRET_KEY": "secret-value",
            "HOTLINE_ENCRYPTION_KEY": "encryption-value",
            "HOTLINE_TWILIO_API_URL": "http://127.0.0.1:9999",
        }
    )
    assert settings.public_url == "https://hotline.example.org"
    assert settings.fallback_base == "https://fallback.example.org"
    assert not settings.simulation
    assert settings.database_url == "postgresql+psycopg://db/hotline"
    assert settings.twilio_api_url == "http://127.0.0.1:9999"
    # Secrets never show up in a repr (and so never in a log line or traceback).
    for secret in ("token-value", "secret-value", "encryption-value"):
        assert secret not in repr(settings)


def test_bad_public_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="HOTLINE_PUBLIC_URL"):
        Settings.from_environ({"HOTLINE_PUBLIC_URL": "hotline.example.org"})
    with pytest.raises(SettingsError, match="HOTLINE_FALLBACK_PUBLIC_URL"):
        Settings.from_environ({"HOTLINE_FALLBACK_PUBLIC_URL": "/"})


def test_the_fallback_base_is_this_host_without_another() -> None:
    settings = Settings.from_environ({"HOTLINE_PUBLIC_URL": "https://a.example.org"})
    assert settings.fallback_public_url is None
    assert settings.fallback_base == "https://a.example.org"
    production = {
        "HOTLINE_MODE": "production",
        "HOTLINE_PUBLIC_URL": "https://a.example.org",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "token-value",
        "HOTLINE_SECRET_KEY": "secret-value",
        "HOTLINE_ENCRYPTION_KEY": "encryption-value",
    }
    assert Settings.from_environ(production).fallback_base == "https://a.example.org"
    with pytest.raises(SettingsError, match="https:// HOTLINE_FALLBACK_PUBLIC_URL"):
        Settings.from_environ(production | {"HOTLINE_FALLBACK_PUBLIC_URL": "http://b.example.org"})


def test_shipped_file_is_plain_toml_with_documented_sections() -> None:
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    assert {"organisation", "teams", "lines"} <= set(data)
    reference = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    documented = reference.read_text(encoding="utf-8")
    for section in set(data) - {"teams", "lines"}:
        assert f"`[{section}]`" in documented, f"[{section}] is not in docs/configuration.md"
    # The shipped file is also a valid configuration: every section is one the model knows.
    load_config(SHIPPED)


# --- languages (issue 19) ------------------------------------------------------------------------

RUSSIAN_VOICEMAIL = (
    'voicemail_prompt = "Пожалуйста, оставьте сообщение после сигнала. Мы свяжемся с вами."\n'
)


def test_the_shipped_lines_speak_their_languages(config: HotlineConfig) -> None:
    assert config.lines["islamism"].languages == ("de", "tr", "ar", "en")
    assert config.lines["right-wing"].languages == ("de", "ru", "en")
    right_wing = config.lines["right-wing"]
    assert [(s.code, s.language, s.voice) for s in right_wing.spoken] == [
        ("de", "de-DE", "Polly.Daniel-Neural"),  # the line's own German voice
        ("ru", "ru-RU", "Polly.Tatyana"),
        ("en", "en-GB", "Polly.Amy-Neural"),
    ]
    assert right_wing.language_at("2") == right_wing.in_language("ru")
    assert right_wing.language_at("4") is None
    assert right_wing.in_language("xx").code == "de"  # an unknown one: the first


def test_a_missing_text_of_a_configured_language_stops_serve_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    path = write(tmp_path, shipped_with(RUSSIAN_VOICEMAIL, ""))
    monkeypatch.setenv("HOTLINE_CONFIG", str(path))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "voice.languages.ru.voicemail_prompt: missing" in err
    assert "right-wing" in err
    assert not (tmp_path / "db.sqlite3").exists()  # stopped before anything was started


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        # Twilio would not speak Turkish with a Russian voice: the <Say> would fail.
        ('voice = "Polly.Burcu-Neural"', 'voice = "Polly.Maxim"', "voice 'Polly.Maxim'"),
        ('language = "ar-AE"', 'language = "ar-XX"', "language 'ar-XX'"),
        ('language = "tr-TR"', 'language = "ru-RU"', "does not speak 'tr'"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "xx"]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "ru", "de"]', "named twice"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "fr"]', "voice.languages.fr"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "fr"]', "reminders.languages.fr"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "fr"]', "relay.languages.fr"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "fr"]', "callback_form.fr.intro"),
        (
            'menu_option = "For English, press {digit}."',
            'menu_option = "For English, press {key}."',
            "unknown placeholder {key}",
        ),
        ('cancel_keywords = ["CANCEL"]', 'cancel_keywords = ["STOP"]', "both cancels and stops"),
        (
            'cancel_reply = "Your appointment on {weekday} {date} at {time} has been cancelled."',
            'cancel_reply = "Your appointment {when} has been cancelled."',
            "unknown placeholder {when}",
        ),
    ],
)
def test_language_problems_name_the_key(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    path = write(tmp_path, shipped_with(replace, by))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value), str(caught.value)


def test_a_single_language_configuration_works_as_before(tmp_path: Path) -> None:
    """A configuration from before languages: no `languages`, the line's own German words."""
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace('languages = ["de", "tr", "ar", "en"]\n', "").replace(
        'languages = ["de", "ru", "en"]\n', ""
    )
    text = text[: text.index("[voice.languages.de]")] + text[text.index("# Single sign-on") :]
    text = text.replace(
        'display_name = "Islamismus-Leitung"',
        'display_name = "Islamismus-Leitung"\nrelatives_menu = true\n'
        'relatives_prompt = "Angehörige drücken die 2."\nall_busy_text = "Alle sind im Gespräch."',
    )
    config = load_config(write(tmp_path, text))
    (german,) = config.lines["islamism"].spoken
    assert (german.code, german.language, german.voice) == ("de", "de-DE", "Polly.Vicki-Neural")
    assert german.relatives_prompt == "Angehörige drücken die 2."
    assert german.all_busy_text == "Alle sind im Gespräch."
    assert german.greeting.startswith("Guten Tag. Sie sind mit der Ausstiegsberatung verbunden.")
    assert german.closed_text is None  # the words of before, made from the hours
    assert config.languages == ("de",)
    assert not config.lines["islamism"].multilingual


def test_a_line_without_german_refuses_the_lines_german_keys(tmp_path: Path) -> None:
    path = write(tmp_path, shipped_with('languages = ["de", "ru", "en"]', 'languages = ["en"]'))
    with pytest.raises(ConfigError, match=r"lines\.right-wing\.greeting: the line's German words"):
        load_config(path)
