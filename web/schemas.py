"""JSON shapes of /api/v1: validation of what comes in, and the OpenAPI document's schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from foundation import text
from foundation.clock import FIRST_DAY, LAST_DAY, served
from foundation.models import (
    MAX_ID,
    AbsenceKind,
    AppointmentMode,
    AppointmentStatus,
    ClientStatus,
    PlanStepStatus,
    PreferredChannel,
    Tier,
)
from scheduling.counsellors import MAX_LANGUAGES

# A record id as the database holds it (`MAX_ID`: a larger one is no record, a 422, not a 500).
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _served(moment: datetime) -> datetime:
    if not served(moment.date()):
        raise ValueError(f"must lie between {FIRST_DAY.year} and {LAST_DAY.year}")
    return moment


# A time of the service (datetime's own limits, year 1 and 9999, overflow in a time zone).
Instant = Annotated[AwareDatetime, AfterValidator(_served)]


class _MultiLine:
    """The mark of a text field that keeps tab and line breaks (`MultiLine`)."""


MULTI_LINE = _MultiLine()
# A text of several lines (a note): tab, line feed and carriage return allowed.
MultiLine = Annotated[str, MULTI_LINE]


def _multi_line(model: type[BaseModel], name: str) -> bool:
    """The field is a `MultiLine` (or a `MultiLine | None`)."""
    field = model.model_fields[name]
    inner = (getattr(arg, "__metadata__", ()) for arg in get_args(field.annotation))
    return MULTI_LINE in field.metadata or any(MULTI_LINE in found for found in inner)


def _document_input(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The document says which characters a text takes (`foundation.text`): each string
    without a pattern, format or enum of its own gets the pattern that `In` checks. A body's
    `EXAMPLE` (valid, and naming the demo's records) is its example."""
    example = getattr(model, "EXAMPLE", None)
    if example is not None:
        schema["examples"] = [example]

    def mark(node: dict[str, Any], pattern: str) -> None:
        if node.get("type") == "string" and not {"pattern", "format", "enum"} & node.keys():
            node["pattern"] = pattern
        for child in (*node.get("anyOf", ()), *([node["items"]] if "items" in node else [])):
            mark(child, pattern)

    for name, node in schema.get("properties", {}).items():
        multi = name in model.model_fields and _multi_line(model, name)
        mark(node, text.MULTI_LINE_PATTERN if multi else text.PATTERN)


_START, _END = "2031-03-03T09:00:00+01:00", "2031-03-03T10:00:00+01:00"


class In(BaseModel):
    EXAMPLE: ClassVar[dict[str, Any] | None] = None
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_document_input
    )

    @field_validator("*")
    @classmethod
    def _typed(cls, value: object, info: ValidationInfo) -> object:
        """No text holds a control character or a bidirectional override (NUL: PostgreSQL
        cannot store one; the others make a text read otherwise than stored): a 422 naming
        the field, not a 500."""
        multi_line = info.field_name is not None and _multi_line(cls, info.field_name)
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and text.refused(t, multi_line=multi_line) for t in texts):
            raise ValueError(text.PROBLEM)
        return value


# An e-mail address: something@host.domain, no spaces, controls or overrides.
_ADDRESS = r"[^@\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+"
EMAIL = rf"^{_ADDRESS}@{_ADDRESS}\.{_ADDRESS}$"
# A phone number as people write one: digits, spaces, + ( ) . / -.
PHONE = r"^\+?[0-9 ()./-]*$"


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Two letters; which are languages, and the rest, `scheduling.counsellors.counsellor_languages`
# decides (a 422 naming `languages`).
LanguageOfCounsellor = Annotated[str, Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
_COUNSELLOR_LANGUAGES = (
    "the languages she counsels in, ISO 639-1 codes (two letters), in the order given: a caller "
    "who chose one of them at a line's language menu rings those on call who speak it first."
)


class CounsellorIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "name": "Anna Beispiel",
        "phone": "0151 23456789",
        "teams": ["islamism"],
        "languages": ["de", "tr"],
    }

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(
        min_length=3, max_length=40, pattern=PHONE, description="any German notation; stored E.164"
    )
    email: str | None = Field(default=None, max_length=320, pattern=EMAIL)
    teams: list[str] = Field(default_factory=list, description="team slugs", max_length=20)
    languages: list[LanguageOfCounsellor] = Field(
        default_factory=lambda: ["de"],
        min_length=1,
        max_length=MAX_LANGUAGES,
        description=_COUNSELLOR_LANGUAGES
        + ' Left out: ["de"]. Upper case is taken as lower case, a code given twice counts once;'
        ' one Babel does not name as a language (e.g. "xx") is a 422 naming `languages`.',
        examples=[["de", "tr"]],
    )


class CounsellorOut(Out):
    id: int
    name: str
    phone: str = Field(description="E.164")
    email: str | None
    active: bool
    teams: list[str]
    languages: list[str] = Field(description=_COUNSELLOR_LANGUAGES, examples=[["de", "tr"]])


class CounsellorList(Out):
    items: list[CounsellorOut]


class ShiftIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "team": "islamism",
        "counsellor_id": 1,
        "tier": "primary",
        "start": _START,
        "end": _END,
    }

    team: str = Field(description="team slug")
    counsellor_id: RecordId
    tier: Tier
    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset; after start")


class ShiftOut(Out):
    id: int
    team: str
    counsellor_id: int
    counsellor_name: str
    tier: Tier
    start: datetime
    end: datetime


class ShiftList(Out):
    items: list[ShiftOut]


class StandInIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "team": "islamism",
        "absent_id": 1,
        "substitute_id": 2,
        "start": _START,
        "end": _END,
    }

    team: str = Field(description="team slug")
    absent_id: RecordId = Field(description="the counsellor who is replaced")
    substitute_id: RecordId = Field(description="an active counsellor of the team; not absent_id")
    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset; after start, at most 366 days")
    note: MultiLine = Field(default="", max_length=500)


class StandInOut(Out):
    id: int
    team: str
    absent_id: int
    absent_name: str
    substitute_id: int
    substitute_name: str
    start: datetime
    end: datetime
    note: str | None


class StandInList(Out):
    items: list[StandInOut]


class AbsenceIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "counsellor_id": 1,
        "kind": "holiday",
        "start": _START,
        "end": _END,
    }

    counsellor_id: RecordId
    kind: AbsenceKind
    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset; after start, at most 366 days")
    note: MultiLine = Field(default="", max_length=500)


class AbsenceOut(Out):
    id: int
    counsellor_id: int
    counsellor_name: str
    kind: AbsenceKind
    start: datetime
    end: datetime
    note: str | None


class AbsenceList(Out):
    items: list[AbsenceOut]


class Person(Out):
    id: int
    name: str


class OnCallOut(Out):
    team: str
    at: datetime
    primary: list[Person] = Field(description="in calling order")
    backup: list[Person] = Field(description="in calling order")
    next_change: datetime | None = Field(description="next handoff within 31 days, if any")


# A language code as the API takes one; which are known is the configuration's (a 422 names
# the field when there are no reminder texts in it).
_LANGUAGE: dict[str, Any] = {"min_length": 2, "max_length": 2, "pattern": r"^[a-z]{2}$"}


class ClientIn(In):
    pseudonym: str = Field(
        min_length=1, max_length=100, description="how the client is called; no phone number"
    )
    phone: str | None = Field(
        default=None,
        max_length=40,
        pattern=PHONE,
        description="any notation; stored encrypted, never returned",
    )
    sms_consent: bool = Field(default=False, description="SMS reminders; needs a mobile phone")


class AppointmentIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "counsellor_id": 1,
        "client": {"pseudonym": "Klient A"},
        "start": _START,
        "end": _END,
        "mode": "phone",
    }

    counsellor_id: RecordId
    client: ClientIn | None = Field(
        default=None, description="the client inline; or name a client record by `client_id`"
    )
    client_id: RecordId | None = Field(
        default=None,
        description="a client record of the counsellor's team (POST /api/v1/clients): the "
        "appointment is linked to it and takes its pseudonym, phone and SMS consent",
    )
    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset; after start, at most 8 h")
    mode: AppointmentMode
    location: str | None = Field(default=None, max_length=500, description="mode in_person")
    video_link: str | None = Field(
        default=None, max_length=500, description="mode video: an https:// link"
    )
    client_language: str = Field(
        default="de",
        description="the client's language (ISO 639-1) for her SMS reminders and the answers to "
        "her ABSAGEN/STOP: de or one of the configuration's [reminders.languages]. Left out: "
        "the client record's `language` with `client_id`, else de",
        **_LANGUAGE,
    )

    @model_validator(mode="after")
    def _one_client(self) -> AppointmentIn:
        if (self.client is None) == (self.client_id is None):
            raise ValueError("name the client: either client or client_id")
        return self


class RescheduleIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"start": _START, "end": _END}

    start: Instant = Field(description="ISO 8601 with offset")
    end: Instant = Field(description="ISO 8601 with offset; after start, at most 8 h")


class StatusIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"status": "done"}

    status: Literal["done", "no_show"]


class ClientOut(Out):
    pseudonym: str
    phone: str | None = Field(description="masked (+49 151 ••• ••67); never in full")
    sms_consent: bool


class AppointmentOut(Out):
    id: int
    counsellor_id: int
    counsellor_name: str
    client: ClientOut
    start: datetime
    end: datetime
    mode: AppointmentMode
    location: str | None
    video_link: str | None
    status: AppointmentStatus
    sequence: int = Field(description="grows with every change of time or status (iCal)")
    client_language: str = Field(description="the language of the client's SMS (ISO 639-1)")


class AppointmentList(Out):
    items: list[AppointmentOut]


class Existing(Out):
    id: int
    start: datetime
    end: datetime


class CallBackIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"counsellor_id": 1, "appointment_id": 1}

    counsellor_id: RecordId = Field(
        description="whose phone rings first: an active counsellor of the target's team"
    )
    callback_request_id: RecordId | None = Field(default=None, description="a callback request")
    voicemail_id: RecordId | None = Field(
        default=None, description="a voicemail that kept the caller's number"
    )
    appointment_id: RecordId | None = Field(
        default=None, description="an appointment with a client phone"
    )
    line: str | None = Field(
        default=None,
        max_length=40,
        description="slug of the line to call from. A callback request or voicemail: only its "
        "own line. An appointment: a line of a team of the appointment's counsellor; without "
        "it, the line of the appointment's latest call-back, else the first such line in the "
        "configuration's order",
    )

    @model_validator(mode="after")
    def _one_target(self) -> CallBackIn:
        named = [self.callback_request_id, self.voicemail_id, self.appointment_id]
        if sum(value is not None for value in named) != 1:
            raise ValueError(
                "name exactly one target: callback_request_id, voicemail_id or appointment_id"
            )
        return self


CallBackStatus = Literal[
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "simulated",
    "not_placed",
    "uncertain",
]


class CallBackTarget(Out):
    kind: Literal["callback_request", "voicemail", "appointment"]
    id: int


class CallBackOut(Out):
    id: int
    status: CallBackStatus = Field(
        description="the counsellor's leg as Twilio reports it; `simulated` (simulation mode: "
        "in the outbox), `not_placed` (Twilio refused), `uncertain` (may have been placed)"
    )
    target: CallBackTarget
    counsellor_id: int
    counsellor_name: str
    line: str = Field(description="the line whose number both phones see")
    client_phone: str | None = Field(description="masked (+49 151 ••• ••67); never in full")
    call_sid: str | None = Field(description="Twilio's CallSid of the counsellor's leg")
    created_at: datetime
    bridged_at: datetime | None = Field(description="when the counsellor pressed 1")
    client_status: str | None = Field(
        description="how the Dial to the client ended: completed, busy, no-answer, failed, …"
    )


# A client's fields as both the create (POST) and the change (PATCH) describe them.
_PSEUDONYM: dict[str, Any] = {
    "min_length": 1,
    "max_length": 100,
    "description": "unique in the team; never a real name, no phone number",
}
_SMS_CONSENT = "SMS to the client; needs a mobile phone"
_RELATIVE = "a relative (Angehörige/r) of a radicalised person"
_CLIENT_LANGUAGE = (
    "the client's language (ISO 639-1) for the SMS of her appointments: de or one of the "
    "configuration's [reminders.languages]"
)


class NewClientIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"team": "islamism", "pseudonym": "Klient B"}

    team: str = Field(description="team slug")
    pseudonym: str = Field(**_PSEUDONYM)
    phone: str | None = Field(
        default=None,
        max_length=40,
        pattern=PHONE,
        description="any notation; stored encrypted, returned masked only",
    )
    sms_consent: bool = Field(default=False, description=_SMS_CONSENT)
    relative: bool = Field(default=False, description=_RELATIVE)
    preferred_channel: PreferredChannel | None = None
    counsellor_ids: list[RecordId] | None = Field(
        default=None,
        max_length=20,
        description="the responsible counsellors: active members of the team (default: none)",
    )
    language: str = Field(default="de", description=_CLIENT_LANGUAGE, **_LANGUAGE)


_Responsible = Annotated[list[RecordId], Field(max_length=20)]


def _left_out(schema: dict[str, Any]) -> None:
    """A field that may be left out but is never null: its default (None) is not shown."""
    schema.pop("default", None)


class ClientChangeIn(In):
    """What to change of a client (PATCH): what is given changes, the rest stays. `phone`,
    `preferred_channel` and `review_on` as null (`phone` also "") remove the value; the others
    are never null."""

    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "status": "in_counselling",
        "review_on": "2031-03-01",
    }

    pseudonym: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out, **_PSEUDONYM
    )
    phone: str | None = Field(
        default=None,
        max_length=40,
        pattern=PHONE,
        description='a new number (stored encrypted, returned masked only); null or "" removes it',
    )
    sms_consent: bool | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out, description=_SMS_CONSENT
    )
    relative: bool | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out, description=_RELATIVE
    )
    preferred_channel: PreferredChannel | None = Field(default=None, description="null: none")
    language: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_left_out, description=_CLIENT_LANGUAGE, **_LANGUAGE
    )
    counsellor_ids: _Responsible | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_left_out,
        description="the responsible counsellors (all of them): active members of the team",
    )
    status: ClientStatus | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra=_left_out,
        description="any status from any other; the dates follow (started_at: the first time "
        "in counselling, paused_at: the latest pause, ended_at: while ended)",
    )
    review_on: date | None = Field(
        default=None,
        description=f"the plan's next review (local day, {FIRST_DAY.year} to {LAST_DAY.year}); "
        "null: none",
    )

    @field_validator(
        "pseudonym",
        "sms_consent",
        "relative",
        "language",
        "counsellor_ids",
        "status",
        mode="before",
    )
    @classmethod
    def _given(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


TimelineKind = Literal[
    "appointment", "conversation", "callback_request", "voicemail", "outbound_call"
]


class TimelineEntryOut(Out):
    kind: TimelineKind
    id: int
    at: datetime = Field(description="when: an appointment's start, else when it came in")
    end: datetime | None = Field(description="an appointment's end")
    status: str = Field(
        description="the appointment's or task's status, the conversation's state, the call's"
    )
    channel: str = Field(
        description="phone, in_person, video (appointments); sms, whatsapp; web (callback "
        "request); voice (voicemail); call (call-back)"
    )
    line: str | None


class ClientRecordOut(Out):
    id: int
    team: str
    pseudonym: str
    phone: str | None = Field(description="masked (+49 151 ••• ••67); never in full")
    sms_consent: bool
    relative: bool
    preferred_channel: PreferredChannel | None
    language: str = Field(description="the client's language (ISO 639-1)")
    status: ClientStatus
    status_changed_at: datetime
    started_at: datetime | None = Field(description="counselling began")
    paused_at: datetime | None = Field(description="last paused")
    ended_at: datetime | None = Field(description="the case ended")
    created_at: datetime = Field(description="first contact")
    review_on: date | None = Field(description="the plan's next review (local day)")
    counsellor_ids: list[int] = Field(description="the responsible counsellors")
    timeline: list[TimelineEntryOut] = Field(description="everything linked, oldest first")


class PlanStepIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"title": "Kontakte zur Szene abbrechen"}

    title: str = Field(min_length=1, max_length=200)
    notes: MultiLine | None = Field(default=None, max_length=10_000)
    status: PlanStepStatus = PlanStepStatus.OPEN


class PlanStepChangeIn(In):
    EXAMPLE: ClassVar[dict[str, Any] | None] = {"status": "reached"}

    title: str | None = Field(default=None, min_length=1, max_length=200)
    notes: MultiLine | None = Field(default=None, max_length=10_000, description='"" clears')
    status: PlanStepStatus | None = None
    position: int | None = Field(default=None, ge=1, le=1000)


class PlanStepOut(Out):
    id: int
    title: str
    notes: str
    status: PlanStepStatus
    position: int
    status_changed_at: datetime


class PlanOut(Out):
    review_on: date | None = Field(description="the plan's next review (local day)")
    steps: list[PlanStepOut] = Field(description="in their order")


class ErrorDetail(Out):
    field: str | None
    message: str


class ErrorOut(Out):
    error: str = Field(description="machine-readable code")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class OverlapOut(ErrorOut):
    existing: Existing | None = Field(
        default=None, description="the counsellor's appointment in the way (on overlap)"
    )


class Health(Out):
    status: str


# --- reports (issue 17: foundation.reports, foundation.report_tables.as_json) ----------------

Count = Annotated[
    int | str,
    Field(description='a count, or "<5" (with the configured min_count) when suppressed'),
]


class TimingOut(Out):
    events: Count
    median: float | None = Field(description="seconds; null when none or suppressed")
    p90: float | None = Field(description="90th percentile in seconds; null likewise")


class CallsOut(Out):
    total: Count
    accepted: Count = Field(description="taken by a counsellor")
    accepted_primary: Count
    accepted_backup: Count
    accepted_unknown_tier: Count
    fallback: Count = Field(description="answered at the line's fallback number")
    voicemail: Count
    abandoned: Count = Field(description="the caller hung up before anyone answered")
    outside_hours: Count
    answered_share: float | None = Field(
        default=None, description="(accepted + fallback) / total, 0..1; null if suppressed"
    )


class CallersOut(Out):
    available: bool | None = Field(default=None, description="false: caller_hash is off")
    callers: Count
    first_time: Count
    repeat: Count
    relatives: Count = Field(description="calls from the relatives menu")


class TasksOut(Out):
    count: Count
    done: Count
    time_to_done: TimingOut | None = None


class CallBacksOut(Out):
    made: Count
    reached: Count


class RelayOut(Out):
    conversations: Count
    messages_in: Count
    messages_out: Count
    first_reply: TimingOut | None = None


class LanguageOut(Out):
    calls: Count = Field(description="calls in this language that reached an outcome")
    accepted: Count = Field(description="of those: taken by a counsellor")
    accepted_share: float | None = Field(
        default=None, description="accepted / calls, 0..1; null if none or suppressed"
    )


class LineSection(Out):
    calls: CallsOut
    languages: dict[str, LanguageOut] = Field(
        default_factory=dict,
        description='calls by the language the caller chose (ISO 639-1), "unknown" for calls'
        " from before the language was kept; they add up to `calls.total`",
    )
    ring: TimingOut | None = Field(default=None, description="ring seconds until accepted")
    talk: TimingOut | None = None
    callers: CallersOut
    voicemails: TasksOut
    callback_requests: TasksOut
    call_backs: CallBacksOut
    relay: RelayOut


class LineReportOut(LineSection):
    name: str
    heat: list[list[Count]] = Field(description="7 weekdays (Monday first) × 24 local hours")
    previous: LineSection
    change: LineSection = Field(description="period minus previous period")


class AppointmentsOut(Out):
    booked: Count
    held: Count
    no_show: Count
    cancelled_by_client: Count
    cancelled_by_staff: Count
    open: Count


class RemindersOut(Out):
    sent: Count
    missed: Count
    failed: Count
    uncertain: Count


class RotaOut(Out):
    gap_hours: float
    stand_in_hours: float
    notices_sent: float


class TeamSection(Out):
    appointments: AppointmentsOut
    reminders: RemindersOut
    rota: RotaOut


class PeriodOut(Out):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, populate_by_name=True)
    first: date = Field(alias="from")
    last: date = Field(alias="to")


class ReportOut(TeamSection):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, populate_by_name=True)
    team: str
    first: date = Field(alias="from", description="the first local day (Europe/Berlin)")
    last: date = Field(alias="to", description="the last local day, included")
    kind: Literal["week", "month", "quarter", "year", "range"]
    previous: PeriodOut = Field(description="the previous period of equal kind")
    min_count: int = Field(description="k: counts from fewer people are suppressed")
    lines: dict[str, LineReportOut] = Field(description="by line slug")
    previous_figures: TeamSection
    change: TeamSection
    detail_since: date | None = Field(
        description="days before it come from the daily roll-up (no first-time/repeat callers)"
    )
    notes: list[str]


# --- a client's data-subject export (web.api.client_requests; scheduling.subject_requests) ------


class ExportClient(Out):
    id: int
    team: str | None
    pseudonym: str
    phone: str | None = Field(description="in full: the export is for the client")
    sms_consent: bool
    preferred_channel: str | None
    relative: bool = Field(description="a relative (Angehörige/r) of a radicalised person")
    language: str = Field(description="the client's language (ISO 639-1)")
    status: str
    status_changed_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    ended_at: datetime | None
    review_on: date | None
    created_at: datetime
    counsellors: list[str] = Field(description="the responsible counsellors' names")


class ExportStep(Out):
    id: int
    title: str
    notes: str
    status: str
    status_changed_at: datetime


class ExportNote(Out):
    id: int
    text: str
    author: str
    at: datetime
    step_id: int | None
    appointment_id: int | None


class ExportPlan(Out):
    steps: list[ExportStep]
    notes: list[ExportNote] = Field(description="oldest first")


class ExportReminder(Out):
    to: Literal["client", "counsellor"]
    due: datetime
    state: str
    sent_at: datetime | None


class ExportAppointment(Out):
    id: int
    start: datetime
    end: datetime
    mode: AppointmentMode
    status: AppointmentStatus
    counsellor: str | None
    location: str | None
    video_link: str | None
    phone: str | None
    sms_consent: bool
    reminders: list[ExportReminder]


class ExportMessage(Out):
    direction: Literal["in", "out"] = Field(description="in: the client wrote; out: to the client")
    at: datetime
    status: str
    body: str | None = Field(description="None once the text relay's retention deleted it")


class ExportConversation(Out):
    id: int
    code: str
    channel: Literal["sms", "whatsapp"]
    line: str
    state: Literal["open", "closed"]
    address: str | None = Field(description="the client's number (None after the retention)")
    created_at: datetime
    closed_at: datetime | None
    messages: list[ExportMessage]


class ExportVoicemail(Out):
    id: int
    line: str
    at: datetime
    duration_seconds: int
    status: str
    done_at: datetime | None
    recording: Literal["at_twilio", "deleted"] = Field(
        description="the audio is not in the export: staff play it on the voicemail's page"
    )
    caller_phone: str | None


class ExportCallbackRequest(Out):
    id: int
    line: str
    at: datetime
    name: str | None
    phone: str | None
    time_window: str
    preferred_date: date | None
    message: str | None
    confirm_sms: bool
    status: str
    done_at: datetime | None


class ExportCallBack(Out):
    id: int
    line: str
    at: datetime
    counsellor: str | None
    status: str
    client_status: str | None


class ClientExportOut(Out):
    format: Literal[1] = Field(description="the version of this shape")
    exported_at: datetime
    client: ExportClient
    plan: ExportPlan
    appointments: list[ExportAppointment]
    conversations: list[ExportConversation]
    voicemails: list[ExportVoicemail]
    callback_requests: list[ExportCallbackRequest]
    call_backs: list[ExportCallBack] = Field(description="call-backs through the line")


ALL = (
    CounsellorIn,
    CounsellorOut,
    CounsellorList,
    ShiftIn,
    ShiftOut,
    ShiftList,
    StandInIn,
    StandInOut,
    StandInList,
    AbsenceIn,
    AbsenceOut,
    AbsenceList,
    Person,
    OnCallOut,
    ClientIn,
    AppointmentIn,
    RescheduleIn,
    StatusIn,
    ClientOut,
    AppointmentOut,
    AppointmentList,
    Existing,
    CallBackIn,
    CallBackTarget,
    CallBackOut,
    NewClientIn,
    ClientChangeIn,
    TimelineEntryOut,
    ClientRecordOut,
    PlanStepIn,
    PlanStepChangeIn,
    PlanStepOut,
    PlanOut,
    ErrorDetail,
    ErrorOut,
    OverlapOut,
    Health,
    ReportOut,
    ClientExportOut,
)
