"""The organisation's lines and teams, read from `config/hotline.toml` (or `HOTLINE_CONFIG`).

Adding a line or a team is a change to that file only. Every key is validated when the service
starts; an invalid file stops it with the file, the key and what is wrong.
"""

from __future__ import annotations

import re
import string
import tomllib
from datetime import date, time
from enum import StrEnum
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from config.callback_form import BUILT_IN as BUILT_IN_FORM
from config.callback_form import FORM_TEXTS
from config.languages import (
    GERMAN,
    GERMAN_LANGUAGE,
    GERMAN_OPTIONAL,
    GERMAN_TEXTS,
    GERMAN_VOICE,
    OPTIONAL_TEXTS,
    SPEECH_TEXTS,
    LanguageCode,
    Speech,
    fold,
    german_name,
    has_dates,
    placeholder_problem,
    text_problem,
    voice_problem,
)
from config.phone import InvalidPhoneNumber, normalise

SHIPPED = Path(__file__).with_name("hotline.toml")
SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def _e164(value: str) -> str:
    try:
        return normalise(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(f"{value!r} is {exc}") from exc


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError(f"{value!r} is not a slug (lower-case letters, digits and '-')")
    return value


PhoneNumber = Annotated[str, AfterValidator(_e164)]


def _said(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A text the service says or sends (checked: no control character breaks the TwiML).
Said = Annotated[str, Field(min_length=1), AfterValidator(_said)]
Slug = Annotated[str, AfterValidator(_slug)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(StrEnum):
    SEQUENTIAL = "sequential"
    RING_ALL = "ring_all"


class TimeRange(Strict):
    """Local wall-clock opening, in minutes after midnight; `end` may be 24:00."""

    start: int
    end: int

    def contains(self, moment: time) -> bool:
        minute = moment.hour * 60 + moment.minute
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}–{self.end // 60:02d}:{self.end % 60:02d}"
        )


def _ranges(value: Any) -> Any:
    """Accept "09:00-17:00", a list of such strings, or "" / [] for closed."""
    if isinstance(value, str):
        value = [value] if value else []
    if not isinstance(value, list):
        return value
    parsed = []
    for text in value:
        match = _RANGE.match(str(text).replace(" ", ""))
        if not match:
            raise ValueError(f"{text!r} is not a time range like '09:00-17:00'")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or end <= start:
            raise ValueError(f"{text!r} is not a time range within one day (start before end)")
        parsed.append({"start": start, "end": end})
    return parsed


DayHours = Annotated[tuple[TimeRange, ...], BeforeValidator(_ranges)]


class ServiceHours(Strict):
    """Opening hours per weekday; a missing day is closed."""

    mon: DayHours = ()
    tue: DayHours = ()
    wed: DayHours = ()
    thu: DayHours = ()
    fri: DayHours = ()
    sat: DayHours = ()
    sun: DayHours = ()

    def on(self, day: date) -> tuple[TimeRange, ...]:
        hours: tuple[TimeRange, ...] = getattr(self, WEEKDAYS[day.weekday()])
        return hours


class HolidayConfig(Strict):
    country: str = "DE"
    subdivision: str | None = "BW"

    @model_validator(mode="after")
    def _known(self) -> HolidayConfig:
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as exc:
            raise ValueError(f"no public holidays known for {self.country}") from exc
        except ValueError as exc:
            raise ValueError(f"unknown subdivision {self.subdivision!r}") from exc
        return self


class Organisation(Strict):
    name: str = Field(min_length=1)
    timezone: str = "Europe/Berlin"
    general_number: PhoneNumber
    holidays: HolidayConfig = HolidayConfig()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_holiday(self, day: date) -> bool:
        return day in _holidays(self.holidays.country, self.holidays.subdivision, day.year)


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """A year's public holidays; built once (every incoming call asks)."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


class Team(Strict):
    name: str = Field(min_length=1)
    # A shift swap agreed between two counsellors, and an open shift a colleague takes, need a
    # coordinator's approval.
    swap_approval: bool = True
    # How a counsellor's SMS reply to the text relay is recognised as hers: "number" (sent from
    # her number), "pin" (her number and her personal reply PIN in front), "web" (no SMS
    # replies: only from the web page). See docs/text-relay.md#replies-by-sms.
    sms_replies: Literal["number", "pin", "web"] = "number"
    # Retention (docs/retention.md): a client whose case ended this many days ago is deleted
    # with the plan and the client data of everything linked to it; an appointment without a
    # client record loses its client data this many days after its date (the last of its
    # pseudonym's). Only the counts the reports need remain.
    case_retention_days: int = Field(default=730, ge=1, le=3650)
    appointment_retention_days: int = Field(default=730, ge=1, le=3650)


def _clock(value: Any) -> Any:
    """Accept "18:00" (or "" for off) as a local wall-clock time."""
    if isinstance(value, str):
        if not value:
            return None
        try:
            return time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a time like '18:00'") from exc
    return value


class Notices(Strict):
    """When the scheduler tells counsellors about their on-call duty."""

    # The day before a duty starts, at this local time ("" switches it off).
    evening_before: Annotated[time | None, BeforeValidator(_clock)] = time(18, 0)
    # Minutes before a duty starts.
    before_minutes: tuple[Annotated[int, Field(ge=1, le=7 * 24 * 60)], ...] = (60,)
    # Minutes before a duty ends: the handoff note to the outgoing counsellor (0: off).
    handoff_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # A coordinator's changes are gathered this many minutes into one notice per counsellor.
    change_delay_minutes: int = Field(default=2, ge=0, le=60)
    # A notice whose moment passed longer ago than this is not sent late (minutes).
    grace_minutes: int = Field(default=30, ge=1, le=24 * 60)


class SpeechTexts(Strict):
    """What a line says in one language (`[voice.languages.<code>]` for every line,
    `[lines.<slug>.speech.<code>]` for one): Twilio's voice and language, and the texts
    (`config.languages.SPEECH_TEXTS`). Whatever is left out comes from the next place
    (the line's own, then every line's, then, for German only, the built-in words)."""

    voice: str | None = Field(default=None, min_length=1)
    language: str | None = Field(default=None, min_length=1)  # Twilio's, e.g. "tr-TR"
    greeting_audio_url: Said | None = None
    opening: str | None = Field(default=None, min_length=1)
    menu_option: str | None = Field(default=None, min_length=1)
    greeting: str | None = Field(default=None, min_length=1)
    relatives_prompt: str | None = Field(default=None, min_length=1)
    all_busy_text: str | None = Field(default=None, min_length=1)
    hours: str | None = Field(default=None, min_length=1)
    closed_text: str | None = Field(default=None, min_length=1)
    holiday_text: str | None = Field(default=None, min_length=1)
    voicemail_prompt: str | None = Field(default=None, min_length=1)
    nobody_text: str | None = Field(default=None, min_length=1)
    call_later_text: str | None = Field(default=None, min_length=1)
    no_message_text: str | None = Field(default=None, min_length=1)
    goodbye_text: str | None = Field(default=None, min_length=1)
    thanks_text: str | None = Field(default=None, min_length=1)
    connecting_text: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> SpeechTexts:
        for name, allowed in SPEECH_TEXTS.items():
            value = getattr(self, name)
            if value is None:
                continue
            problem = placeholder_problem(value, allowed)
            if problem:
                raise ValueError(f"{name}: {problem}")
            if name == "menu_option" and "{digit}" not in value:
                raise ValueError("menu_option: must say which key to press ({digit})")
        return self


# The line's own keys from before there were languages: its German words.
LEGACY_SPEECH = (
    "greeting",
    "greeting_audio_url",
    "voice",
    "language",
    "relatives_prompt",
    "all_busy_text",
)


def _languages(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError("a language is named twice")
    return value


class Line(Strict):
    number: PhoneNumber
    team: Slug
    display_name: Said
    # The languages the line speaks, in the order of its language menu (key 1 is the first, and
    # the first is also what a caller who presses nothing gets). One language: no menu.
    languages: Annotated[
        tuple[LanguageCode, ...], Field(min_length=1, max_length=9), AfterValidator(_languages)
    ] = (GERMAN,)
    # This line's own words per language, over `[voice.languages.<code>]`.
    speech: dict[LanguageCode, SpeechTexts] = {}
    # The line's German words (as before there were languages; `speech.de` says the same).
    greeting: Said | None = None
    greeting_audio_url: Said | None = None
    voice: str | None = Field(default=None, min_length=1)
    language: Literal["de-DE"] | None = None
    relatives_prompt: Said | None = None
    # Said when everyone on call is in another conversation, before the fallback number rings.
    all_busy_text: Said | None = None
    fallback_number: PhoneNumber | None = None
    hours: ServiceHours
    closed_on_holidays: bool = True
    ring_timeout: int = Field(default=20, ge=5, le=600)
    strategy: Strategy = Strategy.SEQUENTIAL
    screening: bool = True
    voicemail: bool = True
    voicemail_max_seconds: int = Field(default=120, ge=10, le=3600)
    # Keep the number of a caller who leaves a voicemail (encrypted, shown masked), so the team
    # can call back through the line (hotline.outbound_calls). Withheld numbers are never kept.
    voicemail_keeps_number: bool = True
    recording: bool = False
    caller_hash: bool = True
    relatives_menu: bool = False
    relatives_team: Slug | None = None
    relatives_tiers: tuple[Literal["primary", "backup"], ...] = Field(
        default=("primary", "backup"), min_length=1
    )
    # Every language resolved (HotlineConfig fills it at load): `spoken`, `in_language`.
    _spoken: dict[str, Speech] = PrivateAttr(default_factory=dict)

    @property
    def spoken(self) -> tuple[Speech, ...]:
        """The line's languages, resolved, in menu order."""
        return tuple(self._spoken[code] for code in self.languages)

    @property
    def multilingual(self) -> bool:
        return len(self.languages) > 1

    def in_language(self, code: str | None) -> Speech:
        """The line's words in `code`; its first language for None or one it does not speak
        (a URL from before a configuration change)."""
        return self._spoken.get(code or "") or self._spoken[self.languages[0]]

    def language_at(self, digit: str) -> Speech | None:
        """The language of a key pressed at the language menu (1 = the first); None for any
        other key."""
        # ASCII digits only: `isdigit` also takes "²", on which `int` fails (the call went to
        # the fallback number), and "١" (Arabic-Indic), which no keypad sends.
        if len(digit) == 1 and "1" <= digit <= "9" and int(digit) <= len(self.languages):
            return self._spoken[self.languages[int(digit) - 1]]
        return None


class Voice(Strict):
    """What is said where no line's own settings apply (hotline.twiml): the answer that connects
    a caller to the fallback number (Twilio's fallback URL, a failure in a call webhook, an
    unknown number) and the apology of a call-back through the line that cannot go on."""

    # The voice of answers that belong to no line (an unknown number, a refused call-back).
    default_voice: str = Field(default="Polly.Vicki-Neural", min_length=1)
    # Said before the caller is connected to the fallback number (in the line's voice if known).
    connecting_text: Said = "Einen Moment bitte, Sie werden verbunden."
    # Said to the counsellor when a call-back through the line cannot go on.
    outbound_call_refused_text: Said = (
        "Entschuldigung, dieser Rückruf ist nicht möglich. "
        "Bitte starten Sie ihn im Webportal noch einmal."
    )
    # What every line says in a language (a line's `speech.<code>` says otherwise).
    languages: dict[LanguageCode, SpeechTexts] = {}

    @model_validator(mode="after")
    def _german_voice(self) -> Voice:
        problem = voice_problem(GERMAN, GERMAN_LANGUAGE, self.default_voice)
        if problem:
            raise ValueError(f"default_voice: {problem}")
        return self


# What a reminder text may say about its appointment (local time of the organisation):
# weekday "Do", date "26.11.", time "14:00", when "heute" / "morgen" / "am Do, 26.11.",
# mode "Telefon" / "vor Ort" / "Video".
APPOINTMENT_PLACEHOLDERS = frozenset({"weekday", "date", "time", "when", "mode"})


def _placeholders(allowed: frozenset[str]) -> AfterValidator:
    """A text with `{name}` placeholders, checked at load so that a misspelt one stops the
    service with a config error instead of failing (or sending "{wekday}") at send time."""

    def check(value: str) -> str:
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"{exc} (write {{{{ or }}}} for a literal brace)") from exc
        known = ", ".join(f"{{{name}}}" for name in sorted(allowed)) or "none"
        for _text, name, spec, conversion in parts:
            if name is None:
                continue
            if name not in allowed:
                raise ValueError(f"unknown placeholder {{{name}}} (known: {known})")
            if spec or conversion:
                raise ValueError(f"placeholder {{{name}}} takes no format (write {{{name}}})")
        return value

    return AfterValidator(check)


AppointmentTemplate = Annotated[
    str, Field(min_length=1, max_length=480), _placeholders(APPOINTMENT_PLACEHOLDERS)
]
PlainTemplate = Annotated[str, Field(min_length=1, max_length=480), _placeholders(frozenset())]
# A client's text in another language than German: weekday, date and time in that language
# ({when} and {mode} are German words: the counsellors' texts).
CLIENT_PLACEHOLDERS = frozenset({"weekday", "date", "time"})
ClientTemplate = Annotated[
    str, Field(min_length=1, max_length=480), _placeholders(CLIENT_PLACEHOLDERS)
]


def _keyword(value: str) -> str:
    word = value.strip()
    if not word or any(char.isspace() for char in word):
        raise ValueError(f"{value!r} is not one word")
    return word


Keyword = Annotated[str, AfterValidator(_keyword)]


class ReminderLanguage(Strict):
    """A client's reminder and the answers to her SMS in one language (`[reminders.languages.
    <code>]`; German is `[reminders]` itself)."""

    client_template: ClientTemplate
    cancel_reply: ClientTemplate
    stop_reply: PlainTemplate
    # Words that, alone in an SMS, cancel the next appointment or stop reminders (any case;
    # the keywords of every language are accepted from every client).
    cancel_keywords: tuple[Keyword, ...] = Field(min_length=1)
    stop_keywords: tuple[Keyword, ...] = ("STOP",)


class Reminders(Strict):
    """Appointment reminders (scheduling.reminders): when, from which number, in which words."""

    client_offsets_minutes: tuple[Annotated[int, Field(ge=1, le=14 * 24 * 60)], ...] = (1440, 120)
    counsellor_offsets_minutes: tuple[Annotated[int, Field(ge=1, le=14 * 24 * 60)], ...] = (30,)
    # A reminder whose moment passed longer ago than this is marked missed, not sent late.
    grace_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # The neutral number client SMS come from (replies ABSAGEN / STOP arrive there); default:
    # the organisation's general number.
    sender_number: PhoneNumber | None = None
    # Words. Client texts must not name the service, a team or a counsellor: a phone may be
    # shared. Placeholders are checked at load (APPOINTMENT_PLACEHOLDERS).
    client_template: AppointmentTemplate = (
        "Erinnerung: Ihr Termin am {weekday}, {date} um {time} Uhr. "
        "Antworten Sie ABSAGEN, um abzusagen."
    )
    counsellor_template: AppointmentTemplate = (
        "Erinnerung: Beratungstermin {when} um {time} Uhr ({mode})."
    )
    cancel_reply: AppointmentTemplate = (
        "Ihr Termin am {weekday}, {date} um {time} Uhr ist abgesagt."
    )
    stop_reply: PlainTemplate = "Sie erhalten von dieser Nummer keine Erinnerungen mehr."
    cancelled_notice: AppointmentTemplate = (
        "Termin am {weekday}, {date} um {time} Uhr wurde per SMS abgesagt."
    )
    # The German keywords; other languages in `languages`.
    cancel_keywords: tuple[Keyword, ...] = Field(default=("ABSAGEN", "ABSAGE"), min_length=1)
    stop_keywords: tuple[Keyword, ...] = ("STOP", "STOPP")
    # A client's texts in other languages than German (every language a line offers).
    languages: dict[LanguageCode, ReminderLanguage] = {}

    @model_validator(mode="after")
    def _keywords_apart(self) -> Reminders:
        if GERMAN in self.languages:
            raise ValueError("languages.de: German is [reminders] itself")
        for code in self.languages:
            if not has_dates(code):  # a reminder's {weekday} and {date} would fail when sent
                raise ValueError(f"languages.{code}: no dates in {code!r} (Babel has none)")
        cancel = {fold(word) for word in self.cancel_keywords}
        stop = {fold(word) for word in self.stop_keywords}
        for texts in self.languages.values():
            cancel |= {fold(word) for word in texts.cancel_keywords}
            stop |= {fold(word) for word in texts.stop_keywords}
        both = cancel & stop
        if both:
            raise ValueError(f"a keyword both cancels and stops: {', '.join(sorted(both))}")
        return self

    def in_language(self, code: str | None) -> ReminderLanguage:
        """A client's texts in `code`; German for None or a language without its own."""
        found = self.languages.get(code or "")
        if found is not None:
            return found
        return ReminderLanguage.model_construct(
            client_template=self.client_template,
            cancel_reply=self.cancel_reply,
            stop_reply=self.stop_reply,
            cancel_keywords=self.cancel_keywords,
            stop_keywords=self.stop_keywords,
        )

    @property
    def client_languages(self) -> tuple[str, ...]:
        """The languages a client's texts can be in: German first."""
        return (GERMAN, *self.languages)


class Tasks(Strict):
    """Callback requests and voicemails (hotline.tasks): how long their personal data stays."""

    # A done callback request is deleted, and the recording of a done voicemail is deleted at
    # Twilio, this many days after (personal data is kept no longer than the work needs it).
    retention_days: int = Field(default=90, ge=1, le=3650)


HoursTemplate = Annotated[
    str, Field(min_length=1, max_length=480), _placeholders(frozenset({"hours"}))
]
# What marks a message as German when the relay guesses a client's language.
GERMAN_WORDS = (
    "hallo", "guten", "tag", "ich", "und", "bitte", "nicht", "ist", "mein", "meine", "sohn",
    "tochter", "hilfe", "danke", "wir", "sie", "mit", "eine", "ein", "das", "der", "die",
)  # fmt: skip


class RelayLanguage(Strict):
    """The text relay's words in one language (`[relay.languages.<code>]`; German is
    `[relay]` itself)."""

    out_of_hours_reply: HoursTemplate
    # What marks a client's message as written in this language: frequent words, and letters
    # only this language (of the line's) uses (hotline.relay.language).
    words: tuple[str, ...] = ()
    letters: str = ""


class Relay(Strict):
    """The text relay (hotline.relay): SMS and WhatsApp between clients and the on-call
    counsellor, and how long what was written stays."""

    # Message bodies, and the client address of a conversation closed this long ago, are
    # deleted after this many days.
    retention_days: int = Field(default=30, ge=1, le=3650)
    # A counsellor's reply without a code goes to the conversation last relayed to her only
    # within this many hours of that relay; later she must put the code in front.
    reply_without_code_hours: int = Field(default=12, ge=1, le=168)
    # Flood limit: at most client_limit messages of one client, and team_limit to one team, are
    # relayed within limit_minutes; more are stored for the page only.
    client_limit: int = Field(default=10, ge=1, le=1000)
    team_limit: int = Field(default=60, ge=1, le=10000)
    limit_minutes: int = Field(default=10, ge=1, le=1440)
    # The answer to a client writing outside the line's hours: neutral (no service, team or
    # counsellor name; a phone may be shared). {hours}: "montags bis freitags von 9 bis 18 Uhr".
    out_of_hours_reply: HoursTemplate = (
        "Vielen Dank für Ihre Nachricht. Wir sind {hours} erreichbar und antworten Ihnen dann. "
        "In einem Notfall wählen Sie bitte 110."
    )
    # What marks a message as German (see RelayLanguage).
    words: tuple[str, ...] = GERMAN_WORDS
    letters: str = "äÄß"
    # The relay's words in other languages than German (every language a line offers).
    languages: dict[LanguageCode, RelayLanguage] = {}

    @model_validator(mode="after")
    def _not_german(self) -> Relay:
        if GERMAN in self.languages:
            raise ValueError("languages.de: German is [relay] itself")
        return self

    def in_language(self, code: str | None) -> RelayLanguage:
        found = self.languages.get(code or "")
        if found is not None:
            return found
        return RelayLanguage.model_construct(
            out_of_hours_reply=self.out_of_hours_reply, words=self.words, letters=self.letters
        )


class Feeds(Strict):
    """Calendar feeds (scheduling.feeds) and busy times read back (scheduling.busy)."""

    # The window a feed covers, from this many days back to this many days ahead.
    past_days: int = Field(default=30, ge=0, le=366)
    future_days: int = Field(default=365, ge=1, le=3 * 366)
    # A cancelled appointment, or a part of her duty someone else (or nobody) now works, stays
    # in the feed (STATUS:CANCELLED) this many days after the change, then goes.
    cancelled_keep_days: int = Field(default=14, ge=0, le=366)
    # How often subscribers are asked to refresh (REFRESH-INTERVAL, X-PUBLISHED-TTL), minutes.
    refresh_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    # A reminder (VALARM) this many minutes before each of a counsellor's shifts (0: none).
    alarm_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    # Appointments read "Beratungstermin (Telefon)"; true adds the client's pseudonym.
    show_pseudonym: bool = False
    # A stand-in's duty reads "Rufbereitschaft Islamismus (primär, Vertretung)"; true adds
    # whom she replaces ("…, Vertretung für Anna Berger)"), in her feed and the team's.
    show_replaced: bool = False
    # External calendars: largest body read (bytes) and how long a fetch may take (seconds).
    external_max_bytes: int = Field(default=5_000_000, ge=10_000, le=50_000_000)
    external_timeout_seconds: int = Field(default=10, ge=1, le=60)
    # Fetch external calendars from loopback and private addresses too. For tests and trials
    # only: ignored in production (HOTLINE_MODE=production), where such URLs are refused.
    external_allow_private: bool = False


class AccessLog(Strict):
    """Who opened which record of client data (foundation.access_log), and for how long that
    is kept."""

    # Entries are deleted this many days after the opening they record.
    retention_days: int = Field(default=365, ge=1, le=3650)


class Clients(Strict):
    """Client records (scheduling.clients, docs/clients.md)."""

    # Offer, on a task or a conversation, the client of the team whose number has the same
    # keyed hash as the caller's or sender's (a suggestion staff confirm; never linked by
    # itself). Off: contacts are linked only by hand.
    match_caller_hash: bool = False
    # The local time on a plan's review date at which its responsible counsellors are told.
    review_notice_time: Annotated[time, BeforeValidator(_clock)] = time(8, 0)


_LOOPBACK = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")


class Reports(Strict):
    """Reports (foundation.reports, docs/reports.md): how small a count may be shown."""

    # A cell computed from fewer distinct callers or clients than this shows "< k", in pages,
    # exports and the API, and so do differences and totals that would reveal it.
    min_count: int = Field(default=5, ge=2, le=100)


class Retention(Strict):
    """How long call records are kept in detail (hotline.reports.roll_up), and how long Twilio
    keeps what the service sent and received (hotline.twilio_copies)."""

    # Call records older than this many days are rolled up into daily counts per line (no
    # caller hash) and then deleted by the hourly retention job.
    calls_days: int = Field(default=730, ge=30, le=3650)
    # Every message, call and recording the service sent or received through Twilio is deleted
    # from Twilio's logs this many days after (numbers and bodies are there).
    twilio_days: int = Field(default=30, ge=1, le=3650)


class Sso(Strict):
    """Single sign-on with OpenID Connect (foundation.sso, web/sso_pages.py). The client secret
    comes from the environment (HOTLINE_SSO_CLIENT_SECRET), never from this file."""

    enabled: bool = False
    # The provider's issuer URL exactly as its discovery document says it (https; plain http
    # only on loopback, for tests); /.well-known/openid-configuration is read below it.
    issuer: str = ""
    client_id: str = ""
    scopes: tuple[str, ...] = ("openid", "profile")
    # The ID token's claim whose value (a string or a list) maps to a role through `roles` ...
    roles_claim: str = "roles"
    # ... and the claim whose values name teams (values that are no team slug are ignored).
    teams_claim: str = "teams"
    # A new account's name (lower-cased; made unique); accounts are matched by issuer + sub.
    username_claim: str = "preferred_username"
    # Claim value -> role. Several values mapped: the strongest role wins; none: refused.
    roles: dict[str, Literal["admin", "coordinator", "counsellor"]] = {}
    button_label: str = Field(default="Mit Single Sign-on anmelden", min_length=1, max_length=80)
    timeout_seconds: int = Field(default=10, ge=1, le=60)

    @model_validator(mode="after")
    def _complete(self) -> Sso:
        if not self.enabled:
            return self
        if not self.issuer or not self.client_id:
            raise ValueError("sso: enabled needs issuer and client_id")
        if not (self.issuer.startswith("https://") or self.issuer.startswith(_LOOPBACK)):
            raise ValueError("sso.issuer: must be an https:// URL")
        if "openid" not in self.scopes:
            raise ValueError("sso.scopes: must contain openid")
        if not self.roles:
            raise ValueError("sso.roles: map at least one claim value to a role")
        return self


class Accounts(Strict):
    """Web accounts: which roles must sign in with a second factor (foundation.second_factor)."""

    # Roles whose accounts need a TOTP code after the password. Not enforced in simulation
    # mode outside production (the demo signs in in one step; the sign-in page says so).
    second_factor: tuple[Literal["admin", "coordinator", "counsellor"], ...] = (
        "admin",
        "coordinator",
        "counsellor",
    )


class Scheduler(Strict):
    """How /readyz judges the schedulers (scheduling.scheduler, foundation.heartbeats)."""

    # /readyz answers 503 when a scheduler job has not started a run for this many seconds
    # beyond its interval, in any scheduler process (0: never; else at least 30, as the
    # heartbeats are written every 15 s).
    stale_after_seconds: int = Field(default=120, ge=0, le=86_400)

    @model_validator(mode="after")
    def _longer_than_heartbeats(self) -> Scheduler:
        if 0 < self.stale_after_seconds < 30:
            raise ValueError("stale_after_seconds must be 0 (off) or at least 30")
        return self


class CallbackFormTexts(Strict):
    """The callback form's words in one language, over the built-in ones
    (`config.callback_form`; keys and placeholders: FORM_TEXTS)."""

    page_title: str | None = Field(default=None, min_length=1)
    intro: str | None = Field(default=None, min_length=1)
    privacy: str | None = Field(default=None, min_length=1)
    emergency: str | None = Field(default=None, min_length=1)
    errors_summary: str | None = Field(default=None, min_length=1)
    phone_label: str | None = Field(default=None, min_length=1)
    phone_hint: str | None = Field(default=None, min_length=1)
    name_label: str | None = Field(default=None, min_length=1)
    window_legend: str | None = Field(default=None, min_length=1)
    window_egal: str | None = Field(default=None, min_length=1)
    window_morgens: str | None = Field(default=None, min_length=1)
    window_mittags: str | None = Field(default=None, min_length=1)
    window_nachmittags: str | None = Field(default=None, min_length=1)
    window_abends: str | None = Field(default=None, min_length=1)
    date_label: str | None = Field(default=None, min_length=1)
    date_hint: str | None = Field(default=None, min_length=1)
    message_label: str | None = Field(default=None, min_length=1)
    message_hint: str | None = Field(default=None, min_length=1)
    sms_label: str | None = Field(default=None, min_length=1)
    sms_hint: str | None = Field(default=None, min_length=1)
    honeypot_label: str | None = Field(default=None, min_length=1)
    submit: str | None = Field(default=None, min_length=1)
    thanks_title: str | None = Field(default=None, min_length=1)
    thanks_text: str | None = Field(default=None, min_length=1)
    limited_title: str | None = Field(default=None, min_length=1)
    limited_text: str | None = Field(default=None, min_length=1)
    limited_call: str | None = Field(default=None, min_length=1)
    too_large_title: str | None = Field(default=None, min_length=1)
    too_large_text: str | None = Field(default=None, min_length=1)
    back: str | None = Field(default=None, min_length=1)
    missing_title: str | None = Field(default=None, min_length=1)
    missing_text: str | None = Field(default=None, min_length=1)
    error_phone: str | None = Field(default=None, min_length=1)
    error_phone_type: str | None = Field(default=None, min_length=1)
    error_name: str | None = Field(default=None, min_length=1)
    error_time_window: str | None = Field(default=None, min_length=1)
    error_preferred_date: str | None = Field(default=None, min_length=1)
    error_message: str | None = Field(default=None, min_length=1)
    error_characters: str | None = Field(default=None, min_length=1)
    expired: str | None = Field(default=None, min_length=1)
    language_label: str | None = Field(default=None, min_length=1)
    confirmation_sms: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> CallbackFormTexts:
        for name, allowed in FORM_TEXTS.items():
            value = getattr(self, name)
            problem = placeholder_problem(value, allowed) if value is not None else None
            if problem:
                raise ValueError(f"{name}: {problem}")
        return self


class HotlineConfig(Strict):
    organisation: Organisation
    teams: dict[Slug, Team] = Field(min_length=1)
    lines: dict[Slug, Line] = Field(min_length=1)
    notices: Notices = Notices()
    reminders: Reminders = Reminders()
    tasks: Tasks = Tasks()
    feeds: Feeds = Feeds()
    relay: Relay = Relay()
    voice: Voice = Voice()
    access_log: AccessLog = AccessLog()
    clients: Clients = Clients()
    reports: Reports = Reports()
    retention: Retention = Retention()
    sso: Sso = Sso()
    accounts: Accounts = Accounts()
    scheduler: Scheduler = Scheduler()
    # The callback form's words per language, over the built-in ones (config.callback_form).
    callback_form: dict[LanguageCode, CallbackFormTexts] = {}
    _form: dict[str, dict[str, str]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> HotlineConfig:
        for slug, line in self.lines.items():
            if line.team not in self.teams:
                known = ", ".join(sorted(self.teams))
                raise ValueError(f"lines.{slug}.team: unknown team {line.team!r} (known: {known})")
            if line.relatives_team is not None and line.relatives_team not in self.teams:
                known = ", ".join(sorted(self.teams))
                raise ValueError(
                    f"lines.{slug}.relatives_team: unknown team {line.relatives_team!r} "
                    f"(known: {known})"
                )
            if self.fallback_for(slug) == line.number:
                raise ValueError(f"lines.{slug}.fallback_number: must not be the line's own number")
        numbers = [line.number for line in self.lines.values()]
        if len(set(numbers)) != len(numbers):
            raise ValueError("lines: two lines share a number")
        problems = [_resolve_speech(self, slug, line) for slug, line in self.lines.items()]
        problems += [_text_channels(self, code) for code in self.languages]
        found = "\n".join(problem for problem in problems if problem)
        if found:
            raise ValueError(found)
        return self

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language a line offers, German first, then in the lines' order."""
        codes = [GERMAN] + [code for line in self.lines.values() for code in line.languages]
        return tuple(dict.fromkeys(codes))

    def form_texts(self, code: str) -> dict[str, str]:
        """The callback form's words in `code` (a language a line offers), else German."""
        return self._form.get(code) or self._form[GERMAN]

    def fallback_for(self, line_slug: str) -> str:
        return self.lines[line_slug].fallback_number or self.organisation.general_number

    @cached_property
    def line_by_number(self) -> dict[str, str]:
        """E.164 number -> line slug."""
        return {line.number: slug for slug, line in self.lines.items()}

    def line_for_number(self, number: str) -> tuple[str, Line] | None:
        for slug, line in self.lines.items():
            if line.number == number:
                return slug, line
        return None


def _resolve_speech(config: HotlineConfig, slug: str, line: Line) -> str:
    """Fill `line._spoken`; the problems found, one per line of text ("" for none)."""
    problems: list[str] = []
    legacy = [name for name in LEGACY_SPEECH if name in line.model_fields_set]
    if legacy and GERMAN not in line.languages:
        problems.append(
            f"lines.{slug}.{legacy[0]}: the line's German words, but it offers no German "
            f"(set them in [lines.{slug}.speech.<code>])"
        )
    for code in line.speech:
        if code not in line.languages:
            problems.append(f"lines.{slug}.speech.{code}: the line does not offer {code!r}")
    spoken: dict[str, Speech] = {}
    for code in line.languages:
        speech, missing = _speech(config, slug, line, code)
        problems += missing
        if speech is not None:
            spoken[code] = speech
    line._spoken = spoken
    return "\n".join(problems)


def _speech(
    config: HotlineConfig, slug: str, line: Line, code: str
) -> tuple[Speech | None, list[str]]:
    own = line.speech.get(code, SpeechTexts())
    shared = config.voice.languages.get(code, SpeechTexts())
    german = code == GERMAN
    values: dict[str, str | None] = {}
    for name in ("voice", "language", "greeting_audio_url", *SPEECH_TEXTS):
        value = getattr(own, name)
        if value is None and german and name in LEGACY_SPEECH and name in line.model_fields_set:
            value = getattr(line, name)
        if value is None:
            value = getattr(shared, name)
        if value is None and german:
            value = {
                "voice": GERMAN_VOICE,
                "language": GERMAN_LANGUAGE,
                "connecting_text": config.voice.connecting_text,
            }.get(name) or GERMAN_TEXTS.get(name)
        values[name] = value
    optional = GERMAN_OPTIONAL if german else OPTIONAL_TEXTS
    needed = [name for name in ("voice", "language", *SPEECH_TEXTS) if name not in optional]
    if line.relatives_menu:
        needed.append("relatives_prompt")
    if line.multilingual:
        needed.append("menu_option")
    problems = []
    for name in needed:
        if values[name] is None:
            if german and name == "greeting":
                where = f"lines.{slug}.greeting"
            else:
                where = f"voice.languages.{code}.{name}"
            problems.append(
                f"{where}: missing (the line {slug} offers {german_name(code)}; set it in "
                f"[voice.languages.{code}] or [lines.{slug}.speech.{code}])"
            )
    if problems:
        return None, problems
    problem = voice_problem(code, str(values["language"]), str(values["voice"]))
    if problem:
        return None, [f"lines.{slug}: {german_name(code)}: {problem}"]
    speech = Speech(code=code, name=german_name(code), **values)  # type: ignore[arg-type]
    return speech, []


def _text_channels(config: HotlineConfig, code: str) -> str:
    """Fill the callback form's words of `code`; what is missing for it in the text channels
    (reminders, the relay, the form), one problem per line of text."""
    problems = []
    offered = f"a line offers {german_name(code)}"
    if code != GERMAN:
        if code not in config.reminders.languages:
            problems.append(f"reminders.languages.{code}: missing ({offered})")
        if code not in config.relay.languages:
            problems.append(f"relay.languages.{code}: missing ({offered})")
    own = config.callback_form.get(code, CallbackFormTexts()).model_dump(exclude_none=True)
    texts = BUILT_IN_FORM.get(code, {}) | own
    for name in FORM_TEXTS:
        if name not in texts:
            problems.append(f"callback_form.{code}.{name}: missing ({offered})")
    config._form[code] = texts
    return "\n".join(problems)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_config(path: Path | str | None = None) -> HotlineConfig:
    """Read and validate a configuration file; raise ConfigError naming file, key and problem."""
    source = Path(path) if path else SHIPPED
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read configuration: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            where = _location(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (misspelt?)"
            problems.append(f"{source}: {where}: {message}" if where else f"{source}: {message}")
        raise ConfigError("\n".join(problems)) from exc
