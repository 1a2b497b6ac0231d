"""All TwiML the service answers with, and the German words of it: every step of a call, the
answers that need nothing but the configuration (the fallback and the last resort), and the
steps of a call-back through the line.

Pure functions of the configuration and the people to ring: no database, no clock, no HTTP.
`hotline.routing` decides *who* gets a call, the use cases in `hotline.voice_calls` what a step
means, and this module *how* it sounds. TwiML is built with the `twilio` library, never from
string templates; the simulator (`app/simulator.py`) checks every verb and attribute.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml import TwiML
from twilio.twiml.voice_response import Say, VoiceResponse

from config.model import HotlineConfig, Line
from hotline.hours import hours_text
from hotline.routing import Target

LANGUAGE = "de-DE"
RING_TONE = "de"
WHISPER_TIMEOUT = 10  # seconds the counsellor has to press 1
MENU_TIMEOUT = 4
EMERGENCY = "In einem Notfall wählen Sie bitte die 1 1 0."


def say(response: TwiML, text: str, line: Line) -> None:
    """German speech in the line's voice (inside a response or a Gather)."""
    response.nest(Say(text, language=LANGUAGE, voice=line.voice))


# --- an incoming call -------------------------------------------------------------------------


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
            tier = f"&tier={target.tier.value}" if target.tier else ""
            outgoing.number(
                target.phone, url=f"{screen_url}&cid={target.counsellor_id}{tier}", method="POST"
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


def empty() -> VoiceResponse:
    """Nothing to do (the answer to a status callback)."""
    return VoiceResponse()


def fallback_dial(
    line: Line, number: str, *, action: str | None, greet: bool, all_busy: bool = False
) -> VoiceResponse:
    """Connect the caller to the fallback number (never screened: an office, not a person);
    with `all_busy`, first say that everyone on call is in another conversation."""
    response = VoiceResponse()
    if greet:
        greeting(response, line)
    if all_busy:
        say(response, line.all_busy_text, line)
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


# --- answers from the configuration alone (fail open) -----------------------------------------


def fallback(config: HotlineConfig, line_slug: str | None, dialled: str) -> VoiceResponse:
    """Connect the caller to the line's fallback number, or to the general number when the
    line is unknown (`line_slug` None; `dialled` is then the number the caller dialled). Needs
    nothing but the configuration in memory: Twilio's fallback URL and every failure of a call
    webhook answer with it."""
    words = config.voice
    response = VoiceResponse()
    if line_slug is None:
        response.say(words.connecting_text, language=LANGUAGE, voice=words.default_voice)
        # The dialled number is one of ours; without it, Twilio uses the caller's own.
        known = dialled.startswith("+") and dialled[1:].isascii() and dialled[1:].isdigit()
        caller_id = {"caller_id": dialled} if known else {}
        response.dial(config.organisation.general_number, ring_tone=RING_TONE, **caller_id)
        return response
    line = config.lines[line_slug]
    say(response, words.connecting_text, line)
    response.dial(config.fallback_for(line_slug), caller_id=line.number, ring_tone=RING_TONE)
    return response


def last_resort(config: HotlineConfig) -> VoiceResponse:
    """When even `fallback` failed: the general number, nothing else."""
    response = VoiceResponse()
    response.dial(config.organisation.general_number)
    return response


def after_voicemail(config: HotlineConfig, line_slug: str | None) -> VoiceResponse:
    """The caller has left a message (Twilio keeps the recording), but storing it failed: thank
    them anyway, and ring nobody now."""
    if line_slug is None:
        return hang_up()
    return thanks(config.lines[line_slug])


# --- a call-back through the line (hotline.outbound_calls) ------------------------------------

CLIENT_RING_SECONDS = 30  # how long the client's phone rings on a call-back
CLIENT_UNREACHED = {
    "busy": "Der Anschluss ist besetzt.",
    "no-answer": "Es hat niemand abgenommen.",
    "failed": "Die Nummer ist nicht erreichbar.",
    "canceled": "Der Anruf wurde abgebrochen.",
}


def outbound_call_whisper(line: Line, action: str) -> VoiceResponse:
    """What the counsellor hears on answering a call-back: the line, 'press 1'. No key: hang
    up, so a mailbox that answers never reaches the client."""
    text = f"Rückruf über die {line.display_name}. Drücken Sie die 1, um verbunden zu werden."
    return _press_one(line, text, action)


def outbound_call_dial(line: Line, number: str, action: str) -> VoiceResponse:
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


def outbound_call_ended(line: Line, client_status: str) -> VoiceResponse:
    """After the Dial to the client: tell the counsellor why nobody was reached, then hang up."""
    response = VoiceResponse()
    reason = CLIENT_UNREACHED.get(client_status)
    if reason:
        say(response, f"{reason} Der Rückruf ist beendet.", line)
    response.hangup()
    return response


def outbound_call_refused(config: HotlineConfig) -> VoiceResponse:
    """A call-back that cannot go on (expired, unknown, no number, a failure): an apology to
    the counsellor, and hang up. Needs no line and no database."""
    words = config.voice
    response = VoiceResponse()
    response.say(words.outbound_call_refused_text, language=LANGUAGE, voice=words.default_voice)
    response.hangup()
    return response
