"""The languages the service speaks: ISO 639-1 codes, their names, which Twilio voices speak
them, and the German words that need no configuration.

A line offers languages in menu order (`[lines.<slug>] languages`); what is said in each comes
from `[voice.languages.<code>]` (every line) and `[lines.<slug>.speech.<code>]` (this line),
German from built-in defaults as well. `config.model` resolves them into one `Speech` per line
and language at load, so a missing text is an error at start, never a German word in the middle
of a Turkish call.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator

GERMAN = "de"


@lru_cache(maxsize=1)
def iso_639_1() -> frozenset[str]:
    """Every two-letter language code Babel (CLDR) names."""
    codes = (str(code) for code in Locale("en").languages)
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha())


def check_code(value: str) -> str:
    if not (isinstance(value, str) and len(value) == 2 and value in iso_639_1()):
        raise ValueError(f"{value!r} is not an ISO 639-1 language code (two letters, e.g. 'tr')")
    return value


LanguageCode = Annotated[str, AfterValidator(check_code)]


def has_dates(code: str) -> bool:
    """Whether Babel can write dates in `code` (it names some languages it has no data of,
    e.g. "fj", "sh")."""
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return False
    return True


def german_name(code: str) -> str:
    """'Türkisch': how the whisper and the counsellor's SMS name a language."""
    return name_in(code, GERMAN)


def name_in(code: str, locale: str) -> str:
    """'Türkisch' (in "de"), 'Turkish' (in "en"): a language as the reader's names it; the
    code itself where Babel knows no name."""
    return str(Locale.parse(locale).languages.get(code, code))


def native_name(code: str) -> str:
    """'Türkçe': how a language names itself (the callback form's language switch)."""
    try:
        name = Locale.parse(code).languages.get(code)
    except (UnknownLocaleError, ValueError):
        name = None
    return name or german_name(code)


def is_rtl(code: str) -> bool:
    """Written right to left (Arabic, Persian, Hebrew, Urdu …)."""
    try:
        return bool(Locale.parse(code).character_order == "right-to-left")
    except (UnknownLocaleError, ValueError):
        return False


def locale_of(code: str, twilio_language: str | None = None) -> str:
    """The Babel locale for dates and lists in a language: its Twilio language ("en-GB" ->
    "en_GB") when that names one, else the bare code."""
    if twilio_language and "-" in twilio_language:
        candidate = twilio_language.replace("-", "_")
        try:
            Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            return code
        if candidate.split("_")[0] == code:
            return candidate
    return code


# --- Twilio's voices ---------------------------------------------------------------------------

# Amazon Polly voices as Twilio names them (`Polly.<Name>`, neural ones `Polly.<Name>-Neural`),
# per `language` attribute, after Twilio's text-to-speech table and Amazon's list of voices. An
# invalid pair makes the <Say> fail, so the configuration is checked against this table.
POLLY_VOICES: dict[str, frozenset[str]] = {
    "de-DE": frozenset(
        {"Polly.Marlene", "Polly.Vicki", "Polly.Hans", "Polly.Vicki-Neural", "Polly.Daniel-Neural"}
    ),
    "tr-TR": frozenset({"Polly.Filiz", "Polly.Burcu-Neural"}),
    "ar-AE": frozenset({"Polly.Hala-Neural", "Polly.Zayd-Neural"}),  # Gulf Arabic
    "arb": frozenset({"Polly.Zeina"}),  # Modern Standard Arabic
    "ru-RU": frozenset({"Polly.Tatyana", "Polly.Maxim"}),
    "en-GB": frozenset(
        {
            "Polly.Amy",
            "Polly.Emma",
            "Polly.Brian",
            "Polly.Amy-Neural",
            "Polly.Emma-Neural",
            "Polly.Brian-Neural",
            "Polly.Arthur-Neural",
        }
    ),
}
# Twilio's basic voice "alice" (deprecated, still served) for these.
ALICE = frozenset({"de-DE", "en-GB", "ru-RU"})
# Google voices: `Google.<locale>-<family>-<name>`, the locale the same as `language`. Google
# has no Gulf Arabic: its Arabic is "ar-XA".
GOOGLE_LOCALES = frozenset({"de-DE", "tr-TR", "ru-RU", "en-GB", "ar-XA"})
_GOOGLE = re.compile(
    r"^Google\.(?P<locale>[a-z]{2}-[A-Z]{2})-"
    r"(?:(?:Standard|Wavenet|Neural2|Polyglot|Studio)-[A-Z]|(?:Chirp-HD|Chirp3-HD)-[A-Za-z]+)$"
)
TWILIO_LANGUAGES = frozenset(POLLY_VOICES) | GOOGLE_LOCALES


def voice_problem(code: str, language: str, voice: str) -> str | None:
    """Why Twilio would not speak `code` with this `language` and `voice` (None: it would)."""
    if language not in TWILIO_LANGUAGES:
        known = ", ".join(sorted(TWILIO_LANGUAGES))
        return f"language {language!r} is not one the voice table knows (known: {known})"
    primary = language.split("-")[0]
    if primary != code and not (code == "ar" and primary == "arb"):
        return f"language {language!r} does not speak {code!r}"
    if voice in POLLY_VOICES.get(language, frozenset()):
        return None
    if voice == "alice" and language in ALICE:
        return None
    google = _GOOGLE.fullmatch(voice)  # (`match` with `$` let "…-A\n" through)
    if google and google["locale"] == language and language in GOOGLE_LOCALES:
        return None
    polly = sorted(POLLY_VOICES.get(language, frozenset()))
    known = ", ".join(polly) if polly else "none"
    google_hint = f", or Google.{language}-…" if language in GOOGLE_LOCALES else ""
    return f"voice {voice!r} does not speak {language!r} (Polly: {known}{google_hint})"


def pair_problem(language: str, voice: str) -> str | None:
    """Why Twilio would not speak with this `language` and `voice` (None: it would)."""
    primary = language.split("-")[0]
    return voice_problem("ar" if primary == "arb" else primary, language, voice)


# --- what a line says in a language ------------------------------------------------------------

# The texts of a language, and the placeholders each may use (others are configuration errors).
SPEECH_TEXTS: dict[str, frozenset[str]] = {
    "opening": frozenset(),
    "menu_option": frozenset({"digit"}),
    "greeting": frozenset(),
    "relatives_prompt": frozenset(),
    "all_busy_text": frozenset(),
    "hours": frozenset(),
    "closed_text": frozenset({"hours"}),
    "holiday_text": frozenset({"hours"}),
    "voicemail_prompt": frozenset(),
    "nobody_text": frozenset(),
    "call_later_text": frozenset(),
    "no_message_text": frozenset(),
    "goodbye_text": frozenset(),
    "thanks_text": frozenset(),
    "connecting_text": frozenset(),
}
# Texts a language may leave out: said only where given (`opening`), needed only for a line with
# a relatives menu or several languages, or made from the line's hours (`hours`); German also
# falls back to the words it said before there were languages (`closed_text`, `holiday_text`).
OPTIONAL_TEXTS = frozenset({"opening", "relatives_prompt", "menu_option", "hours"})
GERMAN_OPTIONAL = OPTIONAL_TEXTS | {"closed_text", "holiday_text"}

GERMAN_VOICE = "Polly.Vicki-Neural"
GERMAN_LANGUAGE = "de-DE"
GERMAN_TEXTS: dict[str, str] = {
    "menu_option": "Für Deutsch drücken Sie die {digit}.",
    "relatives_prompt": (
        "Wenn Sie Angehörige oder Angehöriger sind, drücken Sie die 2. "
        "Andernfalls bleiben Sie bitte einfach am Apparat."
    ),
    "all_busy_text": (
        "Alle Beraterinnen und Berater sind gerade im Gespräch. Bitte bleiben Sie dran."
    ),
    "voicemail_prompt": (
        "Bitte hinterlassen Sie nach dem Signalton eine Nachricht. Wir melden uns bei Ihnen."
    ),
    "nobody_text": "Leider ist im Moment niemand erreichbar.",
    "call_later_text": (
        "Leider ist im Moment niemand erreichbar. Bitte rufen Sie später noch einmal an. "
        "In einem Notfall wählen Sie bitte die 1 1 0."
    ),
    "no_message_text": "Wir haben keine Nachricht erhalten. Auf Wiederhören.",
    "goodbye_text": "Auf Wiederhören.",
    "thanks_text": "Vielen Dank für Ihre Nachricht. Wir melden uns. Auf Wiederhören.",
}


# What no text of the configuration may hold: what XML 1.0 cannot carry (C0 controls but tab and
# line breaks, U+FFFE, U+FFFF; a <Say> with one makes the whole TwiML unreadable, and every call
# of the line would fail) and what no one types (DEL, the C1 controls).
_UNSAYABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a text of the configuration (None: it can)."""
    found = _UNSAYABLE.search(value)
    if found is None:
        return None
    return f"holds the control character U+{ord(found.group()):04X}"


def placeholder_problem(value: str, allowed: frozenset[str]) -> str | None:
    """Why `value` is not a text with only `allowed` `{name}` placeholders and no control
    characters (None: it is)."""
    problem = text_problem(value)
    if problem:
        return problem
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        return f"{exc} (write {{{{ or }}}} for a literal brace)"
    known = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in allowed:
            return f"unknown placeholder {{{name}}} (known: {known})"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format (write {{{name}}})"
    return None


@dataclass(frozen=True, slots=True)
class Speech:
    """One language of one line, every text resolved (`config.model` builds it at load).

    `closed_text` / `holiday_text` None (German only): the words said before there were
    languages, made from the line's hours; `hours` None: made from the line's hours."""

    code: str
    language: str  # Twilio's `language` attribute
    voice: str
    name: str  # the German name, for the staff ("Türkisch")
    greeting: str
    greeting_audio_url: str | None
    all_busy_text: str
    voicemail_prompt: str
    nobody_text: str
    call_later_text: str
    no_message_text: str
    goodbye_text: str
    thanks_text: str
    connecting_text: str
    opening: str | None = None
    menu_option: str | None = None
    relatives_prompt: str | None = None
    hours: str | None = None
    closed_text: str | None = None
    holiday_text: str | None = None

    @property
    def locale(self) -> str:
        return locale_of(self.code, self.language)

    def option(self, digit: int) -> str:
        """'Für Deutsch drücken Sie die 1.'"""
        return (self.menu_option or "").format(digit=digit)


# --- keywords in text messages -----------------------------------------------------------------


def fold(word: str) -> str:
    """A word as keywords are compared: case, accents and the Turkish dotted/dotless i ignored
    ("İPTAL", "iptal" and "IPTAL" are one word)."""
    folded = unicodedata.normalize("NFKD", word.casefold().replace("ı", "i"))
    return "".join(char for char in folded if not unicodedata.combining(char))
