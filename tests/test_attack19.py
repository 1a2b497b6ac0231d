"""Issue 19's languages attacked from outside (review attack19): the voice language menu with
hostile keys and forged step URLs, the callback form's `?lang=` and Accept-Language, the cancel
keywords of every language with homoglyphs, bidirectional and invisible characters, the staff
page's language switch, the API's language fields, and hostile languages and texts in the
configuration; on both databases.

Each test names what it attacks; "Finding:" marks what failed before its fix (docs/security.md,
"Languages")."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx
import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from config.languages import pair_problem
from config.model import ConfigError, HotlineConfig, load_config
from config.settings import Settings
from foundation.db import Database
from foundation.models import Call
from tests.helpers import OnCall, https_client, post_signed
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

    monkeypatch.setattr(calls, "set_language", _locked)
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
    # Every step of a call, with a language in its URL: unsigned or with another token, 403.
    for step, query, step_params in STEPS:
        url = settings.public_url + step + "?" + urlencode({**query, "lang": "tr"})
        target = url.removeprefix(settings.public_url)
        assert client.post(target, data=step_params).status_code == 403, step
        assert post_signed(client, settings, url, step_params, token="x").status_code == 403, step
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 1


# --- hostile languages and texts in the configuration ---------------------------------------

TURKISH_VOICE = 'voice = "Polly.Burcu-Neural"'
TURKISH_LANGUAGE = 'language = "tr-TR"'
TURKISH_GREETING = (
    'greeting = "Merhaba. Çıkış danışmanlığına bağlandınız. Lütfen bir dakika bekleyin, sizi '
    'bir danışmanımıza bağlıyoruz."'
)
TR_GREETING = "voice.languages.tr: greeting: holds the control character"
FIJIAN = """[reminders.languages.fj]
client_template = "{weekday} {date} {time}"
cancel_reply = "{weekday} {date} {time}"
stop_reply = "-"
cancel_keywords = ["BOKOCA"]
stop_keywords = ["STOP"]

"""


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
            TURKISH_VOICE,
            TURKISH_VOICE + '\ngreeting_audio_url = "https://x.example/a.mp3\\u0000"',
            "voice.languages.tr.greeting_audio_url: holds the control character U+0000",
        ),
        # Finding: a language Babel names but has no dates of passed, and its reminders failed
        # when sent.
        ("[reminders.languages.en]", FIJIAN + "[reminders.languages.en]", "languages.fj: no dates"),
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
    the key, before anything is started (the cases marked "Finding" started before)."""
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


# --- the callback form's language -----------------------------------------------------------

FORM = "/rueckruf/islamism"
FORM_NOON = WEDNESDAY_NOON


def _html_lang(page: str) -> tuple[str, str | None]:
    found = re.search(r'<html lang="([^"]*)"(?: dir="([^"]*)")?>', page)
    assert found is not None, page[:300]
    return found.group(1), found.group(2)


@pytest.fixture
def public(settings: Settings, database: Database) -> Iterator[TestClient]:
    with https_client(settings, database, client=("203.0.113.9", 50000)) as browser:
        yield browser


def test_a_hostile_lang_on_the_callback_form_is_the_lines_first_language(
    public: TestClient, settings: Settings
) -> None:
    """Held: `?lang=` with markup, a path, a header break, a NUL, a long or unknown code, a
    language of the other line, another case: the page (form and thank-you page) in the
    line's first language, `lang`/`dir` right, nothing of it on the page or in a header."""
    for path in (FORM, f"{FORM}/danke", "/rueckruf/right-wing"):
        for lang in [*HOSTILE_LANG, "ar%22", "AR", "ar-AE", "xx"]:
            if path.startswith("/rueckruf/right-wing") and lang == "ru":
                continue
            page = public.get(path, params={"lang": lang})
            assert page.status_code == 200, (path, lang)
            assert _html_lang(page.text) == ("de", None), (path, lang)
            assert "x-evil" not in {name.lower() for name in page.headers}
            if len(lang) > 2 and lang not in ("de-DE", "ar-AE"):
                assert lang not in page.text, (path, lang)
            for href in re.findall(r'(?:href|action)="([^"]*)"', page.text):
                assert parse_qs(urlsplit(html.unescape(href)).query).get("lang", ["de"])[0] in (
                    settings.config.lines[path.split("/")[2]].languages
                ), href
    # Arabic on the line that offers it reads right to left; asked twice, one of them wins.
    assert _html_lang(public.get(FORM, params={"lang": "ar"}).text) == ("ar", "rtl")
    twice = public.get(f"{FORM}?lang=ar&lang=%3Cscript%3E")
    assert _html_lang(twice.text) in (("ar", "rtl"), ("de", None))
    assert "<script" not in twice.text
    # An unknown line, itself hostile: the 404 in a language some line offers, nothing of it.
    for lang in ("ar", "<script>", "ru", "xx"):
        missing = public.get("/rueckruf/%3Cscript%3Ealert(1)", params={"lang": lang})
        assert missing.status_code == 404
        assert _html_lang(missing.text)[0] in settings.config.languages
        assert "<script>" not in missing.text
        assert "alert(1)" not in missing.text
    # Arabic is not the right-wing line's: German there.
    assert _html_lang(public.get("/rueckruf/right-wing", params={"lang": "ar"}).text)[0] == "de"


@pytest.mark.parametrize(
    "header",
    [
        "ar",
        "en;q=2",
        "en;q=nan",
        "en;q=-1",
        "en;q=inf",
        "en;q=1e999",
        "en;q=",
        ",,,;;;==",
        "*",
        "x" * 7000,
        ",".join(["fr"] * 2000),
        "de-DE\u00e4\u00f6",
        "tr;q=0.9,ar;q=0.8",
    ],
)
def test_a_weird_accept_language_never_breaks_a_page(public: TestClient, header: str) -> None:
    """Held: the callback form ignores Accept-Language (its language is the link's: a shared
    device must not pick it), the sign-in page takes one of its own (q out of range, NaN,
    huge or malformed headers are read, never a 500)."""
    encoded = header.encode("latin-1")
    page = public.get(FORM, headers={"Accept-Language": encoded})  # type: ignore[dict-item]
    assert page.status_code == 200
    assert _html_lang(page.text) == ("de", None)
    sign_in_page = public.get("/login", headers={"Accept-Language": encoded})  # type: ignore[dict-item]
    assert sign_in_page.status_code == 200
    assert _html_lang(sign_in_page.text)[0] in ("de", "en")


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_callback_request_with_a_hostile_lang_is_stored_in_a_configured_language(
    public: TestClient, database: Database, settings: Settings
) -> None:
    """Held: the form sent to `?lang=<hostile>` (or with a `lang` field in the body) is stored,
    in the line's first language, and redirected to the plain thank-you page; `?lang=ar` is
    stored in Arabic."""
    from foundation.models import CallbackRequest

    sent = [
        (f"{FORM}?lang=%3Cscript%3E", {}, f"{FORM}/danke", "de"),
        (f"{FORM}?lang=tr%0D%0AX-Evil:%201", {}, f"{FORM}/danke", "de"),
        (f"{FORM}?lang=ru", {"lang": "ar"}, f"{FORM}/danke", "de"),
        (f"{FORM}?lang=ar", {"lang": "<b>"}, f"{FORM}/danke?lang=ar", "ar"),
    ]
    with time_machine.travel(FORM_NOON, tick=False) as clock:
        for number, (path, extra, location, _code) in enumerate(sent):
            page = public.get(path)
            clock.shift(5)
            data = {
                "token": _token(page.text),
                "phone": f"0151 2345 67{number:02d}",
                "time_window": "egal",
                **extra,
            }
            answer = public.post(path, data=data)
            assert answer.status_code == 303, (path, answer.text[:300])
            assert answer.headers["location"] == location
            assert "x-evil" not in {name.lower() for name in answer.headers}
    with database.read() as session:
        stored = session.scalars(select(CallbackRequest.language).order_by(CallbackRequest.id))
        assert list(stored) == [code for *_, code in sent]


# --- cancel keywords in every language ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("İPTAL", "cancel"),  # Turkish capital dotted I
        ("ıptal", "cancel"),  # Turkish dotless i
        ("İptal", "cancel"),
        ("I\u0307PTAL", "cancel"),  # I with a combining dot above
        ("ＡＢＳＡＧＥＮ", "cancel"),  # full width: the same word
        ("ＳＴＯＰ", "stop"),
        ("Cancel!", "cancel"),
        ("تَوَقَّف", "stop"),  # Arabic with its vowel marks
        ("ﺗﻮﻗﻒ", "stop"),  # Arabic presentation forms: the same letters
        ("\u0410BSAGEN", None),  # Cyrillic А
        ("ABS\u0410GEN", None),
        ("\u0406PTAL", None),  # Cyrillic І
        ("ST\u041ePP", None),  # Cyrillic О
        ("\u202eNEGASBA", None),  # shows as ABSAGEN, is NEGASBA
        ("ABSAGEN\u202e", None),
        ("\u200fIPTAL", None),  # right-to-left mark
        ("IPTAL\u200e", None),  # left-to-right mark
        ("AB\u200bSAGEN", None),  # zero-width space
        ("ABSA\u200dGEN", None),  # zero-width joiner
        ("\ufeffSTOP", None),  # byte order mark
        ("إلغاء\u200f", None),
        ("IPTAL bitte", None),
        ("Bitte ABSAGEN", None),
        ("ABSAGEN ABSAGEN", None),
        ("ABSAGEN" * 300, None),
        ("x" * 1600, None),
        ("\x00ABSAGEN", None),
    ],
)
def test_cancel_keywords_are_read_folded_and_never_hidden(
    config: HotlineConfig, body: str, word: str | None
) -> None:
    """The rule: a message is a keyword when it is nothing but the word, compared case-folded
    in its compatibility form with accents and the Turkish dotted/dotless i ignored (İPTAL,
    ıptal, full-width ＡＢＳＡＧＥＮ are the words). A letter of another script that looks the
    same (Cyrillic А), any invisible or direction character (bidi marks and overrides,
    zero-width characters, BOM) or more text makes it no keyword: the message goes to the
    counsellor as text instead, so nothing is cancelled by what the client did not see."""
    from scheduling import replies

    assert replies.keyword(body, config.reminders) == word


def test_a_hidden_keyword_cancels_nothing_and_a_keyword_only_the_senders_appointment(
    client: TestClient, database: Database, settings: Settings, config: HotlineConfig
) -> None:
    """Held: hidden keywords and a 30 KiB body from the client cancel nothing (200, no
    answer); İPTAL from an unknown number nothing; İPTAL from the client her next
    appointment only, never the other client's."""
    from datetime import timedelta

    from foundation.models import Appointment, AppointmentStatus
    from tests.conftest import add_counsellor
    from tests.test_reminders import NOW, THURSDAY, book, post_sms

    with database.write() as session:
        counsellor_id = add_counsellor(session, config, "islamism", phone="+4915199990000").id
    other = "+4917699999999"
    mine = book(database, settings, counsellor_id, THURSDAY, language="tr")
    later = book(database, settings, counsellor_id, THURSDAY + timedelta(days=7), language="tr")
    theirs = book(
        database, settings, counsellor_id, THURSDAY - timedelta(hours=2), phone=other, language="tr"
    )

    def status() -> dict[int, AppointmentStatus]:
        with database.read() as session:
            return {a.id: a.status for a in session.scalars(select(Appointment))}

    booked = status()
    with time_machine.travel(NOW, tick=False):
        for body in ("\u202eLATPI", "IPTAL\u200f", "AB\u200bSAGEN", "\u0410BSAGEN", "x" * 30000):
            answer = post_sms(client, settings, body)
            assert answer.status_code == 200, body[:20]
            assert "<Message" not in answer.text
        assert status() == booked
        unknown = post_sms(client, settings, "İPTAL", sender="+4917600000001")
        assert "<Message" not in unknown.text
        assert status() == booked
        answer = post_sms(client, settings, "İPTAL")
        assert "randevunuz iptal edildi" in answer.text
    assert status() == {
        mine: AppointmentStatus.CANCELLED,
        later: AppointmentStatus.BOOKED,
        theirs: AppointmentStatus.BOOKED,
    }


# --- the staff page's language ----------------------------------------------------------------


def _locale(database: Database, username: str) -> str:
    from foundation.models import User

    with database.read() as session:
        return session.scalars(select(User.locale).where(User.username == username)).one()


@pytest.fixture
def staff(browser: TestClient, database: Database, config: HotlineConfig) -> TestClient:
    from foundation.models import Role
    from tests.test_auth import make_user

    make_user(database, config, "amira", Role.COUNSELLOR, "islamism")
    make_user(database, config, "koord", Role.COORDINATOR, "islamism")
    return browser


def test_a_hostile_locale_is_refused_and_changes_nothing(
    staff: TestClient, database: Database
) -> None:
    """Held: an unknown locale, another case or region, markup, a NUL, a long one: a 422 on
    the account page, nothing reflected, the account's language unchanged."""
    from tests.test_auth import csrf_of, sign_in

    sign_in(staff, "amira")
    csrf = csrf_of(staff.get("/account").text)
    for locale in ["xx", "EN", "en-GB", "en_GB", "", " en", "<script>x</script>", "en\x00",
                   "e" * 10000, "fr", "deu"]:  # fmt: skip
        answer = staff.post("/account/locale", data={"csrf": csrf, "locale": locale})
        assert answer.status_code == 422, (locale[:20], answer.status_code)
        if len(locale) > 3:
            assert locale not in answer.text
        assert _html_lang(answer.text)[0] == "de"
    assert _locale(database, "amira") == "de"
    # Given twice: one of ours (or refused), never anything else.
    answer = staff.post("/account/locale", data={"csrf": csrf, "locale": ["en", "xx"]})
    assert answer.status_code in (303, 422)
    assert _locale(database, "amira") in ("de", "en")


def test_the_locale_switch_needs_the_sessions_csrf_and_sets_only_ones_own(
    staff: TestClient, database: Database, settings: Settings
) -> None:
    """Held: without a CSRF token, with a wrong one or with another session's, a 403 that
    changes nothing; signed out no change; an account id in the form changes only one's own
    account; GET is a 405."""
    from foundation.models import User
    from tests.test_auth import csrf_of, sign_in

    with database.read() as session:
        koord_id = session.scalars(select(User.id).where(User.username == "koord")).one()
    sign_in(staff, "koord")
    koord_csrf = csrf_of(staff.get("/account").text)
    staff.cookies.clear()
    assert staff.post("/account/locale", data={"locale": "en"}).status_code in (303, 403)
    sign_in(staff, "amira")
    for data in ({"locale": "en"}, {"locale": "en", "csrf": "x" * 40},
                 {"locale": "en", "csrf": koord_csrf}):  # fmt: skip
        assert staff.post("/account/locale", data=data).status_code == 403, data
    assert staff.get("/account/locale").status_code == 405
    assert _locale(database, "amira") == "de"
    csrf = csrf_of(staff.get("/account").text)
    for field in ("user_id", "id", "account", "username"):
        data = {"csrf": csrf, "locale": "en", field: str(koord_id) if "id" in field else "koord"}
        assert staff.post("/account/locale", data=data).status_code == 303
    assert (_locale(database, "amira"), _locale(database, "koord")) == ("en", "de")
    assert _html_lang(staff.get("/account").text)[0] == "en"


# --- the API's language fields ----------------------------------------------------------------

BAD_CODES: list[Any] = ["xx", "de-DE", "", None, "ｄｅ", "ду", "x" * 10000, "d", 7,
                        ["de"], {"de": 1}, "<s"]  # fmt: skip


def _api_key(database: Database, teams: list[str] | None, *, read_only: bool = False) -> str:
    from foundation import apikeys

    with database.write() as session:
        _, plain = apikeys.create_api_key(
            session, "attack19", actor="tests", teams=teams, read_only=read_only
        )
    return plain


def test_a_counsellors_hostile_languages_are_a_422_naming_the_field(
    api: TestClient, database: Database
) -> None:
    """Held: every entry a non-code, upper-case with a region, Unicode look-alikes, 10,000
    characters, nested, a number, or the list not a list, empty, or of 1,000 entries: a 422
    naming `languages`, no counsellor stored; "DE" and a code twice are "de" once."""
    from tests.test_api import counts

    before = counts(database)
    payloads = [[code] for code in BAD_CODES] + [["de", code] for code in BAD_CODES]
    payloads += ["de", None, {}, [], ["de"] * 1000, [["de", "tr"]]]
    for number, languages in enumerate(payloads):
        payload = {"name": "X", "phone": f"0151 2345 69{number:02d}", "teams": ["islamism"],
                   "languages": languages}  # fmt: skip
        answer = api.post("/api/v1/counsellors", json=payload)
        assert answer.status_code == 422, (str(languages)[:40], answer.text[:200])
        fields = [detail["field"] or "" for detail in answer.json()["details"]]
        assert any(field.startswith("languages") for field in fields), fields
        assert "x" * 100 not in answer.text
    assert counts(database) == before
    payload = {"name": "Y", "phone": "0151 2345 6999", "teams": ["islamism"],
               "languages": ["DE", "tr", "de"]}  # fmt: skip
    taken = api.post("/api/v1/counsellors", json=payload)
    assert taken.status_code == 201, taken.text
    assert taken.json()["languages"] == ["de", "tr"]


def test_a_counsellors_languages_only_with_the_teams_writing_key(
    client: TestClient, database: Database
) -> None:
    """Held: another team's key, a read-only key, no key: no counsellor made (403, 403,
    401); another team's key lists none of the team's counsellors or their languages."""
    from tests.test_api import counts

    payload = {"name": "Z", "phone": "0151 2345 6998", "teams": ["islamism"],
               "languages": ["de", "ar"]}  # fmt: skip
    keys = ((_api_key(database, ["right-wing"]), 403),
            (_api_key(database, ["islamism"], read_only=True), 403), (None, 401))  # fmt: skip
    before = counts(database)
    for key, expected in keys:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        answer = client.post("/api/v1/counsellors", json=payload, headers=headers)
        assert answer.status_code == expected, answer.text
    assert counts(database) == before
    own = {"Authorization": f"Bearer {_api_key(database, ['islamism'])}"}
    assert client.post("/api/v1/counsellors", json=payload, headers=own).status_code == 201
    other = {"Authorization": f"Bearer {_api_key(database, ['right-wing'])}"}
    listed = client.get("/api/v1/counsellors", headers=other)
    assert listed.status_code == 200
    assert all(item["name"] != "Z" for item in listed.json()["items"])
    refused = client.get("/api/v1/counsellors", params={"team": "islamism"}, headers=other)
    assert refused.status_code == 403
    assert "ar" not in refused.text


def test_a_hostile_client_language_is_a_422_naming_the_field_and_stores_nothing(
    api: TestClient, database: Database, config: HotlineConfig
) -> None:
    """Held: `client_language` of an appointment and `language` of a client record (POST and
    PATCH) hostile, unknown, of no SMS texts (fr), upper case, null: a 422 naming the field,
    nothing stored or changed."""
    from datetime import timedelta

    from foundation.models import Appointment, Client
    from tests.conftest import add_counsellor, berlin

    with database.write() as session:
        person = add_counsellor(session, config, "islamism").id
    start = berlin(2027, 1, 14, 14)
    when = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    record = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Adler"})
    assert record.status_code == 201
    url = f"/api/v1/clients/{record.json()['id']}"

    def count(model: type) -> int:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    before = (count(Appointment), count(Client))
    for code in [*BAD_CODES, "fr", "DE", "TR"]:
        booking = {"counsellor_id": person, "mode": "phone", **when,
                   "client": {"pseudonym": "Falke"}, "client_language": code}  # fmt: skip
        answer = api.post("/api/v1/appointments", json=booking)
        assert answer.status_code == 422, (str(code)[:20], answer.text[:200])
        assert [d["field"] for d in answer.json()["details"]] == ["client_language"]
        new = api.post("/api/v1/clients", json={"team": "islamism", "pseudonym": "Eule",
                                                "language": code})  # fmt: skip
        assert new.status_code == 422, (str(code)[:20], new.text[:200])
        assert [d["field"] for d in new.json()["details"]] == ["language"]
        changed = api.patch(url, json={"language": code})
        assert changed.status_code == 422, (str(code)[:20], changed.text[:200])
        # (a value of another type: "language.constrained-str", as pydantic names the branches
        # of `str | None`; every optional field of the API does so)
        fields = {d["field"].split(".")[0] for d in changed.json()["details"]}
        assert fields == {"language"}, code
        assert "x" * 100 not in answer.text + new.text + changed.text
    assert (count(Appointment), count(Client)) == before
    assert api.get(url).json()["language"] == "de"


# --- the text relay's guess of the client's language ---------------------------------------


@pytest.mark.parametrize(
    ("body", "islamism", "right_wing"),
    [
        # Finding: "ß" casefolds to "ss" and "İ" to "i" and a dot: every s counted German,
        # every i Turkish, and an English client was answered in German.
        ("Hi, my sister is in serious distress", "en", "en"),
        ("Yes, this is serious. Thanks", "en", "en"),
        ("Hi, I need help with my situation, it is visible", "en", "en"),
        ("Grüße, Straße", "de", "de"),
        ("İYİ GÜNLER, IŞIK", "tr", "en"),  # (no Turkish on the right-wing line)
        ("ПРИВЕТ, МНЕ НУЖНА ПОМОЩЬ", "de", "ru"),
        ("\u202eolleh \u200bplease help", "en", "en"),
        ("x" * 30000, "de", "de"),
    ],
)
def test_the_relay_guesses_the_language_by_its_own_letters(
    config: HotlineConfig, body: str, islamism: str, right_wing: str
) -> None:
    """The out-of-hours answer's language among the line's: letters count one for one, a
    direction override or zero-width space changes nothing, 30,000 characters are read."""
    from hotline.relay.language import guess

    assert guess(config, config.lines["islamism"], body) == islamism
    assert guess(config, config.lines["right-wing"], body) == right_wing


# --- the counsellors page's languages ---------------------------------------------------------


def _languages_of(database: Database, name: str) -> list[list[str]]:
    from foundation.models import Counsellor

    with database.read() as session:
        found = session.scalars(select(Counsellor.languages).where(Counsellor.name == name))
        return [list(languages) for languages in found]


def test_the_counsellors_page_refuses_hostile_languages_and_other_teams(
    staff: TestClient, database: Database, config: HotlineConfig
) -> None:
    """Held: the coordinator's form with an unknown code, markup, a region, Unicode letters
    or a long one is a 422 (1,000 ticks: the form parser's 400) that stores nothing and
    shows none of it again; another team's coordinator cannot change a counsellor's
    languages (404), a counsellor cannot use the form (403), nor a form without the
    session's CSRF token."""
    from foundation.models import Role
    from tests.test_auth import csrf_of, make_user, sign_in

    make_user(database, config, "koordrw", Role.COORDINATOR, "right-wing")
    sign_in(staff, "koord")
    csrf = csrf_of(staff.get("/counsellors").text)
    base = {"csrf": csrf, "name": "Deniz Kaya", "phone": "0151 23456780", "teams": "islamism",
            "languages_shown": "1"}  # fmt: skip
    for languages in (["xx"], ["<script>alert(1)</script>"], ["de-DE"], ["ду"], ["ｄｅ"],
                      ["x" * 5000], ["de"] * 1000, ["de", "\x00"]):  # fmt: skip
        answer = staff.post("/counsellors", data={**base, "languages": languages})
        assert answer.status_code in (400, 422), (languages[0][:20], answer.status_code)
        assert "<script>alert(1)" not in answer.text
        assert "x" * 100 not in answer.text
    assert _languages_of(database, "Deniz Kaya") == []
    made = staff.post("/counsellors", data={**base, "languages": ["DE", "tr"]})
    assert made.status_code in (303, 422)
    amira = _counsellor_id(database, "Amira")
    edit = f"/counsellors/{amira}"
    before = _languages_of(database, "Amira")
    sign_in(staff, "koordrw")
    csrf = csrf_of(staff.get("/counsellors").text)
    theirs = {"csrf": csrf, "name": "Amira", "phone": "0151 23456781", "languages_shown": "1",
              "languages": ["ar"]}  # fmt: skip
    assert staff.post(edit, data=theirs).status_code == 404
    staff.cookies.clear()
    sign_in(staff, "amira")
    csrf = csrf_of(staff.get("/account").text)
    assert staff.post(edit, data={**theirs, "csrf": csrf}).status_code == 403
    unsigned = {k: v for k, v in theirs.items() if k != "csrf"}
    assert staff.post(edit, data=unsigned).status_code == 403
    assert _languages_of(database, "Amira") == before


def _counsellor_id(database: Database, name: str) -> int:
    from foundation.models import Counsellor

    with database.read() as session:
        return session.scalars(select(Counsellor.id).where(Counsellor.name == name)).one()


# --- the relatives menu behind the language menu -------------------------------------------


RELATIVES = 'recording = false\nrelatives_menu = true\nrelatives_tiers = ["backup", "primary"]'


def test_hostile_keys_at_the_combined_menus_and_a_failing_write_still_ring_the_counsellor(
    tmp_path: Path, db_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a line with both menus: a hostile key at the language menu is the first
    language's relatives menu, a hostile key at the relatives menu a call like any other
    (the primary), all in the chosen language. Finding (with the language menu's): a
    relative's key whose record could not be written sent the caller to the fallback
    number; now she reaches the relatives' tier."""
    from config.model import SHIPPED
    from hotline import calls
    from tests.conftest import berlin
    from tests.test_voice import app_with, day_shifts

    text = SHIPPED.read_text(encoding="utf-8").replace("recording = false", RELATIVES, 1)
    client, settings = app_with(tmp_path, db_url, database, text)
    line = settings.config.lines["islamism"]
    with client, time_machine.travel(WEDNESDAY_NOON, tick=False):
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        base = {"line": "islamism", "t": T}
        for number, digits in enumerate(["٢", "２", "0", "9", "*", "2" * 3000]):
            sid = f"CA{number:032d}"
            _open_call(client, settings, sid)
            params = {"CallSid": sid, "Digits": digits, "From": CALLER, "To": ISLAMISM}
            menu = _twiml(_post(client, settings, "/twilio/voice/language", base, params))
            _check_speech(menu, settings.config)
            said = [say.text for say in menu.iter("Say")]
            assert line.in_language("de").relatives_prompt in said, digits
            # The same key at the relatives menu, in Turkish: a call like any other.
            answer = _post(client, settings, "/twilio/voice/menu", {**base, "lang": "tr"}, params)
            root = _twiml(answer)
            _check_speech(root, settings.config)
            assert _dialled(root) == [rota.primary], digits
        monkeypatch.setattr(calls, "mark_relative", _locked)
        monkeypatch.setattr(calls, "set_language", _locked)
        sid = "CA" + "9" * 32
        _open_call(client, settings, sid)
        params = {"CallSid": sid, "Digits": "2", "From": CALLER, "To": ISLAMISM}
        menu = _twiml(_post(client, settings, "/twilio/voice/language", base, params))
        assert line.in_language("tr").relatives_prompt in [say.text for say in menu.iter("Say")]
        root = _twiml(_post(client, settings, "/twilio/voice/menu", {**base, "lang": "tr"}, params))
        assert _dialled(root) == [rota.backup]  # the relatives' first tier, not the fallback


def _locked(*_args: object, **_kwargs: object) -> None:
    raise OperationalError("UPDATE calls", {}, Exception("database is locked"))


# --- the client's language on the pages -------------------------------------------------------


def test_a_hostile_client_language_on_the_booking_and_client_forms_is_refused(
    staff: TestClient, database: Database
) -> None:
    """The booking form's `client_language` and the client form's `language` with markup, a
    long value, an unknown or upper-case code or one without SMS texts (fr): a 422, nothing
    stored; given twice, one of the offered ones or refused. Finding: the refused value came
    back as the selected option of the language list (escaped, but 5,000 characters of it,
    and a choice the form refuses again); the list now shows German selected instead."""
    from foundation.models import Appointment, Client
    from tests.conftest import berlin
    from tests.test_appointments import form
    from tests.test_auth import csrf_of, sign_in

    def count(model: type) -> int:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    with time_machine.travel(berlin(2026, 11, 25, 12), tick=False):
        sign_in(staff, "amira")
        csrf = csrf_of(staff.get("/appointments").text)
        for code in ("<script>alert(1)</script>", "x" * 5000, "xx", "TR", "fr", "de-DE", "\x00"):
            booked = staff.post("/appointments", data=form(csrf, client_language=code))
            assert booked.status_code == 422, (code[:20], booked.status_code)
            made = staff.post(
                "/clients",
                data={"csrf": csrf, "team": "islamism", "pseudonym": "Falke", "language": code},
            )
            assert made.status_code == 422, (code[:20], made.status_code)
            for page in (booked.text, made.text):
                assert "<script>alert(1)" not in page
                assert "x" * 100 not in page
        assert (count(Appointment), count(Client)) == (0, 0)
        twice = staff.post("/appointments", data={**form(csrf), "client_language": ["tr", "<b>"]})
        assert twice.status_code in (303, 422)
    with database.read() as session:
        assert set(session.scalars(select(Appointment.client_language))) <= {"tr"}
