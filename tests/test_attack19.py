"""Issue 19's languages attacked from outside (review attack19): the voice language menu with
hostile keys and forged step URLs, the callback form's `?lang=` and Accept-Language, the cancel
keywords of every language with homoglyphs, bidirectional and invisible characters, the staff
page's language switch, the API's language fields, and hostile languages and texts in the
configuration; on both databases.

Each test names what it attacks; "Finding:" marks what failed before its fix (docs/security.md,
"Languages")."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from config.languages import pair_problem
from config.model import ConfigError, HotlineConfig, load_config
from config.settings import Settings
from foundation.db import Database
from foundation.models import Call
from tests.helpers import OnCall, post_signed
from tests.test_config import shipped_with, write
from tests.test_voice import ISLAMISM, WEDNESDAY_NOON

CALLER = "+4917612345678"
T = int(WEDNESDAY_NOON.timestamp())
HOSTILE_LANG = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "../../etc/passwd",
    "ru",  # a language of the other line
    "DE",
    "de-DE",
    "",
    "x" * 3000,
    "tr\r\nX-Evil: 1",
    "ar\x00",
    "١",
]


# --- the voice language menu ----------------------------------------------------------------


def _post(
    client: TestClient, settings: Settings, path: str, query: dict[str, Any], params: dict[str, str]
) -> httpx.Response:
    """POST a step as Twilio does, signed over the URL with `query`."""
    url = settings.public_url + path + (f"?{urlencode(query)}" if query else "")
    return post_signed(client, settings, url, params)


def _twiml(answer: httpx.Response) -> ET.Element:
    """The answer as TwiML: 200, XML, well-formed."""
    assert answer.status_code == 200, (answer.status_code, answer.text[:200])
    assert answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)  # noqa: S314 - our own service's answer
    assert root.tag == "Response"
    return root


def _dialled(root: ET.Element) -> list[str]:
    numbers = [number.text or "" for number in root.iter("Number")]
    plain = [(dial.text or "").strip() for dial in root.iter("Dial")]
    return numbers + [number for number in plain if number]


def _configured_pairs(config: HotlineConfig) -> set[tuple[str, str]]:
    pairs = {(s.language, s.voice) for line in config.lines.values() for s in line.spoken}
    return pairs | {("de-DE", config.voice.default_voice)}


def _check_speech(root: ET.Element, config: HotlineConfig, line: str = "islamism") -> None:
    """Every <Say> speaks a configured language/voice pair; every step URL's `lang` is one
    the line offers; nothing else of the request is in the answer."""
    pairs = _configured_pairs(config)
    for say in root.iter("Say"):
        pair = (say.get("language", ""), say.get("voice", ""))
        assert pair in pairs, pair
        assert pair_problem(*pair) is None
    offered = config.lines[line].languages
    for element in root.iter():
        for name in ("action", "url"):
            target = element.get(name)
            if target:
                for code in parse_qs(urlsplit(target).query).get("lang", []):
                    assert code in offered, target


def _open_call(client: TestClient, settings: Settings, sid: str) -> ET.Element:
    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": CALLER, "To": ISLAMISM}
    return _twiml(_post(client, settings, "/twilio/voice", {}, params))


def _language_of_call(database: Database, sid: str) -> str | None:
    with database.read() as session:
        return session.scalars(select(Call.language).where(Call.call_sid == sid)).one()


@pytest.fixture
def noon() -> Iterator[None]:
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        yield


KEYS = [
    ("2", "tr"),
    ("4", "en"),
    ("²", "de"),
    ("٣", "de"),  # Arabic-Indic three
    ("３", "de"),  # full-width three
    ("0", "de"),
    ("5", "de"),  # one past the line's four languages
    ("9", "de"),
    ("#", "de"),
    ("*", "de"),
    ("", "de"),
    (" 2", "de"),
    ("-1", "de"),
    ("+2", "de"),
    ("2.0", "de"),
    ("22", "de"),
    ("2" * 5000, "de"),
    ("<Hangup/>", "de"),
]


def test_any_key_at_the_language_menu_rings_the_on_call_counsellor(
    client: TestClient, settings: Settings, database: Database, on_call: OnCall, noon: None
) -> None:
    """Held: key n is the n-th language; any other key (a Unicode digit, 0, one past the
    last, #, *, several, a long string, markup) is the first language, as if none was
    pressed, and the call rings the on-call counsellor, never the fallback number."""
    line = settings.config.lines["islamism"]
    for number, (digits, code) in enumerate(KEYS):
        sid = f"CA{number:032d}"
        _open_call(client, settings, sid)
        answer = _post(
            client,
            settings,
            "/twilio/voice/language",
            {"line": "islamism", "t": T},
            {"CallSid": sid, "Digits": digits, "From": CALLER, "To": ISLAMISM},
        )
        root = _twiml(answer)
        assert _dialled(root) == [on_call.primary], digits
        _check_speech(root, settings.config)
        speech = line.in_language(code)
        assert {(say.get("language"), say.get("voice")) for say in root.iter("Say")} == {
            (speech.language, speech.voice)
        }, digits
        assert _language_of_call(database, sid) == code, digits
        if len(digits) > 1:
            assert digits not in answer.text


def test_a_key_whose_record_cannot_be_written_still_rings_the_counsellor_in_that_language(
    client: TestClient,
    settings: Settings,
    database: Database,
    on_call: OnCall,
    noon: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding: the language chosen was written to the call's record without a guard, so a
    write that failed (SQLite's "database is locked" under load, a lock timeout on
    PostgreSQL) sent a caller who pressed 2 to the fallback number instead of the on-call
    counsellor; the record is not worth a caller, as when the call is opened."""
    from hotline import calls

    sid = "CA" + "2" * 32
    _open_call(client, settings, sid)

    def locked(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("UPDATE calls", {}, Exception("database is locked"))

    monkeypatch.setattr(calls, "set_language", locked)
    root = _twiml(
        _post(
            client,
            settings,
            "/twilio/voice/language",
            {"line": "islamism", "t": T},
            {"CallSid": sid, "Digits": "2", "From": CALLER, "To": ISLAMISM},
        )
    )
    assert _dialled(root) == [on_call.primary]
    turkish = settings.config.lines["islamism"].in_language("tr")
    assert {(say.get("language"), say.get("voice")) for say in root.iter("Say")} == {
        (turkish.language, turkish.voice)
    }


def _steps() -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    common = {"line": "islamism", "t": T, "rel": 0}
    sid = {"CallSid": "CA" + "3" * 32, "From": CALLER, "To": ISLAMISM}
    return [
        ("/twilio/voice/language", {"line": "islamism", "t": T}, {**sid, "Digits": "3"}),
        ("/twilio/voice/route", common, sid),
        ("/twilio/voice/dialed", {**common, "step": 0}, {**sid, "DialCallStatus": "no-answer"}),
        ("/twilio/voice/fallback-dialed", common, {**sid, "DialCallStatus": "no-answer"}),
        ("/twilio/voice/screen", {"line": "islamism", "cid": 1}, {**sid, "ParentCallSid": "CA1"}),
        (
            "/twilio/voice/voicemail",
            {"line": "islamism"},
            {**sid, "RecordingSid": "RE" + "4" * 32, "RecordingDuration": "12"},
        ),
    ]


STEPS = _steps()


@pytest.mark.parametrize(("path", "query", "params"), STEPS, ids=[step[0] for step in STEPS])
def test_a_forged_language_in_a_step_url_speaks_a_configured_language(
    client: TestClient,
    settings: Settings,
    database: Database,
    on_call: OnCall,
    noon: None,
    path: str,
    query: dict[str, Any],
    params: dict[str, str],
) -> None:
    """Held: a step URL whose `lang` is hostile, of another line, in another case or too long
    (even signed: only Twilio can sign) answers TwiML in a language the line offers, with a
    configured voice, and carries on with one of the line's codes; nothing of it is said,
    the call goes on to the counsellor or the next one."""
    for lang in HOSTILE_LANG:
        answer = _post(client, settings, path, {**query, "lang": lang}, params)
        root = _twiml(answer)
        _check_speech(root, settings.config)
        if len(lang) > 2 and lang != "de-DE":
            assert lang not in answer.text
            assert html.escape(lang) not in answer.text
        if path in ("/twilio/voice/route", "/twilio/voice/language"):
            assert _dialled(root) == [on_call.primary], lang
        if path == "/twilio/voice/dialed":
            assert _dialled(root) == [on_call.backup], lang


def test_a_forged_instant_in_the_language_step_still_connects_the_caller(
    client: TestClient, settings: Settings, database: Database, noon: None
) -> None:
    """Held: a `t` out of datetime's range, not a number or missing (only Twilio can sign
    one) fails open: TwiML that dials a number (the on-call counsellor or the fallback), or,
    for an instant in closed hours (1970), takes a message."""
    for t in ("-1", "99999999999999", "abc", "1e9", "²", None):
        query = {"line": "islamism", **({"t": t} if t is not None else {})}
        params = {"CallSid": "CA" + "5" * 32, "Digits": "2", "From": CALLER, "To": ISLAMISM}
        root = _twiml(_post(client, settings, "/twilio/voice/language", query, params))
        assert _dialled(root) or list(root.iter("Record")), t
        _check_speech(root, settings.config)


def test_language_steps_unsigned_or_signed_for_something_else_are_refused(
    client: TestClient, settings: Settings, database: Database, on_call: OnCall, noon: None
) -> None:
    """Held: the language step unsigned, signed with another token, or with a signature of
    another language's URL (lang=tr signed, lang=ar sent) or other Digits is a 403 and
    changes nothing on the call."""
    sid = "CA" + "6" * 32
    _open_call(client, settings, sid)
    params = {"CallSid": sid, "Digits": "2", "From": CALLER, "To": ISLAMISM}
    base = settings.public_url + "/twilio/voice/language"
    path = f"/twilio/voice/language?line=islamism&t={T}"
    assert client.post(path, data=params).status_code == 403
    assert post_signed(client, settings, base + path[22:], params, token="wrong").status_code == 403
    signed_tr = f"{base}?line=islamism&t={T}&lang=tr"
    replayed = post_signed(client, settings, signed_tr, params, path=path + "&lang=ar")
    assert replayed.status_code == 403
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(settings.webhook_tokens()[0]).compute_signature(
        settings.public_url + path, params
    )
    tampered = client.post(
        path, data=params | {"Digits": "3"}, headers={"X-Twilio-Signature": signature}
    )
    assert tampered.status_code == 403
    assert _language_of_call(database, sid) == "de"


# --- hostile languages and texts in the configuration ---------------------------------------

TURKISH_VOICE = 'voice = "Polly.Burcu-Neural"'
TURKISH_LANGUAGE = 'language = "tr-TR"'
TURKISH_GREETING = (
    'greeting = "Merhaba. Çıkış danışmanlığına bağlandınız. Lütfen bir dakika bekleyin, sizi '
    'bir danışmanımıza bağlıyoruz."'
)
TR_GREETING = "voice.languages.tr: greeting: holds the control character"


@pytest.mark.parametrize(
    ("replace", "by", "key"),
    [
        # A voice or language with markup or quotes: not one Twilio speaks.
        (TURKISH_VOICE, 'voice = "Polly.Burcu-Neural\\"/><Hangup/>"', "voice 'Polly.Burcu"),
        (TURKISH_VOICE, 'voice = "<Polly.Filiz>"', "voice '<Polly.Filiz>'"),
        (TURKISH_LANGUAGE, 'language = "tr-TR\\"><Hangup/>"', "language 'tr-TR"),
        (TURKISH_LANGUAGE, 'language = "tr-TR\\n"', "language 'tr-TR\\n'"),
        # Finding: `$` let a Google voice end in a line break.
        (
            TURKISH_VOICE,
            'voice = "Google.tr-TR-Standard-A\\n"',
            "voice 'Google.tr-TR-Standard-A\\n'",
        ),
        (TURKISH_VOICE, 'voice = "Google.tr-TR-Wavenet-B\\n"', "voice 'Google.tr-TR-Wavenet-B"),
        # Codes that are not ISO 639-1 in lower case.
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "RU"]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "ru-RU"]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "xx"]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", ""]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "<s"]', "ISO 639-1"),
        ('languages = ["de", "ru", "en"]', 'languages = ["de", "ru", "ru"]', "named twice"),
        ('languages = ["de", "ru", "en"]', "languages = []", "at least 1"),
        # Finding: a text with a control character made the TwiML of every call unreadable.
        (TURKISH_GREETING, 'greeting = "Merhaba\\u0000"', f"{TR_GREETING} U+0000"),
        (TURKISH_GREETING, 'greeting = "Merhaba \\u001b[31m"', f"{TR_GREETING} U+001B"),
        (TURKISH_GREETING, 'greeting = "Merhaba \\u0085"', f"{TR_GREETING} U+0085"),
        (TURKISH_GREETING, 'greeting = "Merhaba \\uffff"', f"{TR_GREETING} U+FFFF"),
        (
            'greeting = "Guten Tag.',
            'greeting = "\\u0007Guten Tag.',
            "lines.islamism.greeting: holds the control character U+0007",
        ),
        (
            'connecting_text = "Einen',
            'connecting_text = "\\u0000Einen',
            "voice.connecting_text: holds the control character U+0000",
        ),
        (
            'cancel_reply = "Your appointment',
            'cancel_reply = "\\u001bYour appointment',
            "reminders.languages.en.cancel_reply: holds the control character",
        ),
        (
            'out_of_hours_reply = "Thank you',
            'out_of_hours_reply = "\\u0000Thank you',
            "relay.languages.en.out_of_hours_reply: holds the control character",
        ),
        (
            'menu_option = "Türkçe için {digit} tuşuna basın."',
            'menu_option = "Türkçe için {digit.__class__} tuşuna basın."',
            "unknown placeholder {digit.__class__}",
        ),
        (
            'menu_option = "Türkçe için {digit} tuşuna basın."',
            'menu_option = "Türkçe için {digit!r} tuşuna basın."',
            "takes no format",
        ),
        (
            'menu_option = "Türkçe için {digit} tuşuna basın."',
            'menu_option = "Türkçe için 2 tuşuna basın."',
            "must say which key",
        ),
    ],
)
def test_hostile_languages_and_texts_stop_serve_with_exit_2_naming_the_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    replace: str,
    by: str,
    key: str,
) -> None:
    """`hotline serve` with a hostile language, voice or text exits 2 with a message naming
    the key, before anything is started."""
    from app.cli import main

    path = write(tmp_path, shipped_with(replace, by))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert key in str(caught.value), str(caught.value)
    monkeypatch.setenv("HOTLINE_CONFIG", str(path))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert key in err
    assert not (tmp_path / "db.sqlite3").exists()


def test_a_configured_text_with_markup_is_said_as_text(tmp_path: Path) -> None:
    """Held: angle brackets and quotes in a text are words to Twilio (escaped), never TwiML."""
    from hotline import twiml

    hostile = 'Merhaba"/><Dial>+491234</Dial><Say>'
    config = load_config(write(tmp_path, shipped_with(TURKISH_GREETING, f"greeting = '{hostile}'")))
    line = config.lines["islamism"]
    answer = twiml.dial(
        line, line.in_language("tr"), [], action="https://x/d", screen_url=None, greet=True
    )
    root = ET.fromstring(str(answer))  # noqa: S314 - our own TwiML
    assert hostile in [say.text for say in root.iter("Say")]
    assert _dialled(root) == []
