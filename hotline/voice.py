"""What a caller and a counsellor hear: TwiML for every step of a call, and the German texts.

Pure functions of the configuration and the people on call; no database, no clock. The webhook
layer (`web/twilio.py`) decides which step comes next and asks this module for the TwiML.
TwiML is built with the `twilio` library, never from string templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from itertools import groupby

from twilio.twiml import TwiML
from twilio.twiml.voice_response import Say, VoiceResponse

from config.model import HotlineConfig, Line, ServiceHours, TimeRange
from hotline.routing import Target

LANGUAGE = "de-DE"
RING_TONE = "de"
WHISPER_TIMEOUT = 10  # seconds the counsellor has to press 1
MENU_TIMEOUT = 4
ANONYMOUS = frozenset({"", "anonymous", "restricted", "unknown", "unavailable", "+266696687"})

_DAYS = ("montags", "dienstags", "mittwochs", "donnerstags", "freitags", "samstags", "sonntags")


def say(response: TwiML, text: str, line: Line) -> None:
    """German speech in the line's voice (inside a response or a Gather)."""
    response.nest(Say(text, language=LANGUAGE, voice=line.voice))


# --- opening hours ----------------------------------------------------------------------------


def closed_reason(config: HotlineConfig, line: Line, at: datetime) -> str | None:
    """None if the line is open at `at`; else "holiday" or "hours"."""
    local = at.astimezone(config.organisation.zone)
    if line.closed_on_holidays and config.organisation.is_holiday(local.date()):
        return "holiday"
    if any(span.contains(local.time()) for span in line.hours.on(local.date())):
        return None
    return "hours"


def _clock(minutes: int) -> tuple[str, str]:
    hours, rest = divmod(minutes, 60)
    return (str(hours), f"{hours} Uhr {rest}") if rest else (str(hours), f"{hours} Uhr")


def _span_text(span: TimeRange) -> str:
    start_short, start_long = _clock(span.start)
    _, end_long = _clock(span.end)
    start = start_short if span.start % 60 == 0 else start_long
    return f"von {start} bis {end_long}"


def hours_text(hours: ServiceHours) -> str:
    """'montags bis donnerstags von 9 bis 18 Uhr und freitags von 9 bis 16 Uhr'."""
    week = [hours.on(date(2026, 11, 23 + offset)) for offset in range(7)]  # Mon..Sun
    parts = []
    for spans, run in groupby(range(7), key=lambda day: week[day]):
        days = list(run)
        if not spans:
            continue
        if len(days) == 1:
            who = _DAYS[days[0]]
        elif len(days) == 2:
            who = f"{_DAYS[days[0]]} und {_DAYS[days[1]]}"
        else:
            who = f"{_DAYS[days[0]]} bis {_DAYS[days[-1]]}"
        parts.append(f"{who} {' und '.join(_span_text(span) for span in spans)}")
    if not parts:
        return ""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " und " + parts[-1]


# --- responses --------------------------------------------------------------------------------


def greeting(response: VoiceResponse, line: Line) -> None:
    if line.greeting_audio_url:
        response.play(line.greeting_audio_url)
    else:
        say(response, line.greeting, line)


def menu(line: Line, action: str, no_choice: str) -> VoiceResponse:
    """Greeting, then 'press 2 if you are a relative'; silence continues as a normal call."""
    response = VoiceResponse()
    greeting(response, line)
    gather = response.gather(num_digits=1, timeout=MENU_TIMEOUT, action=action, method="POST")
    say(gather, line.relatives_prompt, line)
    response.redirect(no_choice, method="POST")
    return response


def dial(
    line: Line,
    targets: Sequence[Target],
    *,
    action: str,
    screen_url: str | None,
    greet: bool,
) -> VoiceResponse:
    """Ring `targets` at once from the line's number; `screen_url` makes each leg hear the
    whisper first. The action URL is told how the Dial ended."""
    response = VoiceResponse()
    if greet:
        greeting(response, line)
    outgoing = response.dial(
        caller_id=line.number,
        timeout=line.ring_timeout,
        action=action,
        method="POST",
        ring_tone=RING_TONE,
    )
    for target in targets:
        if screen_url:
            outgoing.number(
                target.phone, url=f"{screen_url}&cid={target.counsellor_id}", method="POST"
            )
        else:
            outgoing.number(target.phone)
    return response


def whisper(line: Line, action: str) -> VoiceResponse:
    """What the counsellor hears on answering: the line's name, 'press 1'. No key: hang up, so a
    mailbox never takes the caller."""
    text = f"Anruf über die {line.display_name}. Drücken Sie die 1, um das Gespräch anzunehmen."
    return _press_one(line, text, action)


def _press_one(line: Line, text: str, action: str) -> VoiceResponse:
    """`text` twice, waiting for one key; nothing pressed: hang up."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=WHISPER_TIMEOUT, action=action, method="POST")
    say(gather, text, line)
    say(gather, text, line)
    response.hangup()
    return response


def bridge() -> VoiceResponse:
    """An empty response on the counsellor's leg: Twilio bridges the caller."""
    return VoiceResponse()


def hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def fallback_dial(line: Line, number: str, *, action: str | None, greet: bool) -> VoiceResponse:
    """Connect the caller to the fallback number (never screened: an office, not a person)."""
    response = VoiceResponse()
    if greet:
        greeting(response, line)
    options: dict[str, object] = {"caller_id": line.number, "ring_tone": RING_TONE}
    if action:
        options |= {"action": action, "method": "POST", "timeout": line.ring_timeout}
    response.dial(number, **options)
    return response


def voicemail(line: Line, action: str, *, intro: str = "") -> VoiceResponse:
    response = VoiceResponse()
    text = "Bitte hinterlassen Sie nach dem Signalton eine Nachricht. Wir melden uns bei Ihnen."
    say(response, f"{intro} {text}".strip(), line)
    _record(response, line, action)
    # Reached only when nothing was recorded.
    say(response, "Wir haben keine Nachricht erhalten. Auf Wiederhören.", line)
    response.hangup()
    return response


def _record(response: VoiceResponse, line: Line, action: str) -> None:
    """A voicemail: beep, at most the line's maximum, no transcription (the audio stays at
    Twilio; nobody else reads it)."""
    response.record(
        action=action,
        method="POST",
        max_length=line.voicemail_max_seconds,
        play_beep=True,
        timeout=5,
        finish_on_key="#",
        transcribe=False,
        trim="trim-silence",
    )


def nobody_reached(line: Line, voicemail_action: str) -> VoiceResponse:
    intro = "Leider ist im Moment niemand erreichbar."
    if line.voicemail:
        return voicemail(line, voicemail_action, intro=intro)
    response = VoiceResponse()
    say(response, f"{intro} Bitte rufen Sie später noch einmal an. {EMERGENCY}", line)
    response.hangup()
    return response


EMERGENCY = "In einem Notfall wählen Sie bitte die 1 1 0."


def closed(line: Line, reason: str, voicemail_action: str) -> VoiceResponse:
    """Outside service hours or on a public holiday: the hours, 110, and voicemail."""
    opening = hours_text(line.hours)
    parts = ["" if line.greeting_audio_url else "Guten Tag."]
    parts.append(
        "Heute ist ein Feiertag, die Leitung ist nicht besetzt."
        if reason == "holiday"
        else "Sie rufen außerhalb unserer Sprechzeiten an."
    )
    if opening:
        parts.append(f"Sie erreichen uns {opening}.")
    parts.append(EMERGENCY)
    text = " ".join(part for part in parts if part)
    response = VoiceResponse()
    if line.greeting_audio_url:
        response.play(line.greeting_audio_url)
    if line.voicemail:
        say(response, text, line)
        _record(response, line, voicemail_action)
        say(response, "Auf Wiederhören.", line)
    else:
        say(response, f"{text} Auf Wiederhören.", line)
    response.hangup()
    return response


def thanks(line: Line) -> VoiceResponse:
    response = VoiceResponse()
    say(response, "Vielen Dank für Ihre Nachricht. Wir melden uns. Auf Wiederhören.", line)
    response.hangup()
    return response


def voicemail_sms(line: Line, seconds: int) -> str:
    """The note to the on-call counsellor. No caller data at all."""
    minutes, rest = divmod(max(seconds, 0), 60)
    return (
        f"Neue Sprachnachricht auf der Leitung {line.display_name} ({minutes}:{rest:02d} min). "
        "Bitte im Hotline-Postfach abhören."
    )


def is_anonymous(caller: str) -> bool:
    return caller.strip().lower() in ANONYMOUS


# --- call-backs through the line (hotline.outbound_calls) ------------------------------------

CLIENT_RING_SECONDS = 30  # how long the client's phone rings on a call-back
CALL_BACK_UNREACHED = {
    "busy": "Der Anschluss ist besetzt.",
    "no-answer": "Es hat niemand abgenommen.",
    "failed": "Die Nummer ist nicht erreichbar.",
    "canceled": "Der Anruf wurde abgebrochen.",
}


def call_back_whisper(line: Line, action: str) -> VoiceResponse:
    """What the counsellor hears on answering a call-back: the line, 'press 1'. No key: hang
    up, so a mailbox that answers never reaches the client."""
    text = f"Rückruf über die {line.display_name}. Drücken Sie die 1, um verbunden zu werden."
    return _press_one(line, text, action)


def call_back_dial(line: Line, number: str, action: str) -> VoiceResponse:
    """The counsellor pressed 1: dial the client from the line's number (recorded only if the
    line records calls)."""
    response = VoiceResponse()
    say(response, "Sie werden verbunden.", line)
    options: dict[str, object] = {
        "caller_id": line.number,
        "timeout": CLIENT_RING_SECONDS,
        "action": action,
        "method": "POST",
        "ring_tone": RING_TONE,
    }
    if line.recording:
        options["record"] = "record-from-answer-dual"
    response.dial(number, **options)
    return response


def call_back_ended(line: Line, client_status: str) -> VoiceResponse:
    """After the Dial to the client: tell the counsellor why nobody was reached, then hang up."""
    response = VoiceResponse()
    reason = CALL_BACK_UNREACHED.get(client_status)
    if reason:
        say(response, f"{reason} Der Rückruf ist beendet.", line)
    response.hangup()
    return response


def call_back_refused() -> VoiceResponse:
    """A call-back that cannot go on (expired, unknown, no number, a failure): an apology to
    the counsellor, and hang up. Needs no line and no database."""
    response = VoiceResponse()
    response.say(
        "Entschuldigung, dieser Rückruf ist nicht möglich. "
        "Bitte starten Sie ihn im Webportal noch einmal.",
        language=LANGUAGE,
        voice="Polly.Vicki-Neural",
    )
    response.hangup()
    return response
