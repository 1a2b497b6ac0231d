"""All TwiML the service answers with: every step of a call (in the caller's language, chosen at
the language menu of a line with several), the answers that need nothing but the configuration
(the fallback and the last resort), and the steps of a call-back through the line (German: the
counsellor hears them).

Pure functions of the configuration and the people to ring: no database, no clock, no HTTP.
`hotline.routing` decides *who* gets a call, the use cases in `hotline.voice_calls` what a step
means, and this module *how* it sounds. TwiML is built with the `twilio` library, never from
string templates; the simulator (`app/simulator.py`) checks every verb and attribute.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml import TwiML
from twilio.twiml.voice_response import Say, VoiceResponse

from config.languages import GERMAN, GERMAN_LANGUAGE, GERMAN_VOICE, Speech
from config.model import HotlineConfig, Line
from hotline.hours import hours_text, spoken_hours
from hotline.routing import Target

LANGUAGE = GERMAN_LANGUAGE  # what the staff hear, and answers that belong to no line
RING_TONE = "de"
WHISPER_TIMEOUT = 10  # seconds the counsellor has to press 1
MENU_TIMEOUT = 4
LANGUAGE_MENU_TIMEOUT = 3  # seconds after the last option; no key: the line's first language
EMERGENCY = "In einem Notfall wählen Sie bitte die 1 1 0."


def say(response: TwiML, text: str, speech: Speech) -> None:
    """Speech in `speech`'s language and voice (inside a response or a Gather)."""
    response.nest(Say(text, language=speech.language, voice=speech.voice))


def _staff_say(response: TwiML, text: str, line: Line) -> None:
    """German to a counsellor: in the line's German voice, else the built-in one."""
    german = line.in_language(GERMAN)
    voice = german.voice if german.code == GERMAN else GERMAN_VOICE
    response.nest(Say(text, language=LANGUAGE, voice=voice))


# --- an incoming call -------------------------------------------------------------------------


def _start(line: Line, choose_at: str | None) -> VoiceResponse:
    """A new answer; with `choose_at` (the action of the language menu), the menu in front."""
    response = VoiceResponse()
    if choose_at is not None and line.multilingual:
        language_menu(response, line, choose_at)
    return response


def language_menu(response: VoiceResponse, line: Line, action: str) -> None:
    """The short opening in each language that has one, then each language's option in its own
    language and voice, all inside one Gather (a key cuts them short). Digit n posts the n-th
    language to `action`; no key: Twilio goes on with what follows (the first language)."""
    gather = response.gather(
        num_digits=1, timeout=LANGUAGE_MENU_TIMEOUT, action=action, method="POST"
    )
    for speech in line.spoken:
        if speech.opening:
            say(gather, speech.opening, speech)
    for digit, speech in enumerate(line.spoken, start=1):
        say(gather, speech.option(digit), speech)


def greeting(response: VoiceResponse, speech: Speech) -> None:
    if speech.greeting_audio_url:
        response.play(speech.greeting_audio_url)
    else:
        say(response, speech.greeting, speech)


def menu(
    line: Line, speech: Speech, action: str, no_choice: str, *, choose_at: str | None = None
) -> VoiceResponse:
    """Greeting, then 'press 2 if you are a relative'; silence continues as a normal call."""
    response = _start(line, choose_at)
    greeting(response, speech)
    gather = response.gather(num_digits=1, timeout=MENU_TIMEOUT, action=action, method="POST")
    say(gather, speech.relatives_prompt or "", speech)
    response.redirect(no_choice, method="POST")
    return response


def dial(
    line: Line,
    speech: Speech,
    targets: Sequence[Target],
    *,
    action: str,
    screen_url: str | None,
    greet: bool,
    choose_at: str | None = None,
) -> VoiceResponse:
    """Ring `targets` at once from the line's number; `screen_url` makes each leg hear the
    whisper first. The action URL is told how the Dial ended."""
    response = _start(line, choose_at)
    if greet:
        greeting(response, speech)
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


def whisper(line: Line, action: str, caller: Speech | None = None) -> VoiceResponse:
    """What the counsellor hears on answering: the line's name (and the caller's language when
    it is not the line's first), 'press 1'. No key: hang up, so a mailbox never takes the
    caller."""
    other = caller is not None and caller.code != line.languages[0]
    spoken = f", Sprache {caller.name}" if caller is not None and other else ""
    text = (
        f"Anruf über die {line.display_name}{spoken}. "
        "Drücken Sie die 1, um das Gespräch anzunehmen."
    )
    return _press_one(line, text, action)


def _press_one(line: Line, text: str, action: str) -> VoiceResponse:
    """`text` twice, waiting for one key; nothing pressed: hang up."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=WHISPER_TIMEOUT, action=action, method="POST")
    _staff_say(gather, text, line)
    _staff_say(gather, text, line)
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
    line: Line,
    speech: Speech,
    number: str,
    *,
    action: str | None,
    greet: bool,
    all_busy: bool = False,
    choose_at: str | None = None,
) -> VoiceResponse:
    """Connect the caller to the fallback number (never screened: an office, not a person);
    with `all_busy`, first say that everyone on call is in another conversation."""
    response = _start(line, choose_at)
    if greet:
        greeting(response, speech)
    if all_busy:
        say(response, speech.all_busy_text, speech)
    options: dict[str, object] = {"caller_id": line.number, "ring_tone": RING_TONE}
    if action:
        options |= {"action": action, "method": "POST", "timeout": line.ring_timeout}
    response.dial(number, **options)
    return response


def voicemail(line: Line, speech: Speech, action: str, *, intro: str = "") -> VoiceResponse:
    response = VoiceResponse()
    say(response, f"{intro} {speech.voicemail_prompt}".strip(), speech)
    _record(response, line, action)
    # Reached only when nothing was recorded.
    say(response, speech.no_message_text, speech)
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


def nobody_reached(line: Line, speech: Speech, voicemail_action: str) -> VoiceResponse:
    if line.voicemail:
        return voicemail(line, speech, voicemail_action, intro=speech.nobody_text)
    response = VoiceResponse()
    say(response, speech.call_later_text, speech)
    response.hangup()
    return response


def _closed_text(line: Line, speech: Speech, reason: str) -> str:
    """What a closed line says: the language's text with the hours in it, or (German without
    its own text) the words said before there were languages."""
    own = speech.holiday_text if reason == "holiday" else speech.closed_text
    if own is not None:
        return own.format(hours=spoken_hours(line, speech))
    opening = speech.hours or hours_text(line.hours)
    parts = ["" if speech.greeting_audio_url else "Guten Tag."]
    parts.append(
        "Heute ist ein Feiertag, die Leitung ist nicht besetzt."
        if reason == "holiday"
        else "Sie rufen außerhalb unserer Sprechzeiten an."
    )
    if opening:
        parts.append(f"Sie erreichen uns {opening}.")
    parts.append(EMERGENCY)
    return " ".join(part for part in parts if part)


def closed(
    line: Line,
    speech: Speech,
    reason: str,
    voicemail_action: str,
    *,
    choose_at: str | None = None,
) -> VoiceResponse:
    """Outside service hours or on a public holiday: the hours, 110, and voicemail."""
    text = _closed_text(line, speech, reason)
    response = _start(line, choose_at)
    if speech.greeting_audio_url:
        response.play(speech.greeting_audio_url)
    if line.voicemail:
        say(response, text, speech)
        _record(response, line, voicemail_action)
        say(response, speech.goodbye_text, speech)
    else:
        say(response, f"{text} {speech.goodbye_text}", speech)
    response.hangup()
    return response


def thanks(speech: Speech) -> VoiceResponse:
    response = VoiceResponse()
    say(response, speech.thanks_text, speech)
    response.hangup()
    return response


# --- answers from the configuration alone (fail open) -----------------------------------------


def fallback(
    config: HotlineConfig, line_slug: str | None, dialled: str, language: str | None = None
) -> VoiceResponse:
    """Connect the caller to the line's fallback number, or to the general number when the
    line is unknown (`line_slug` None; `dialled` is then the number the caller dialled), in the
    caller's `language` if chosen. Needs nothing but the configuration in memory: Twilio's
    fallback URL and every failure of a call webhook answer with it."""
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
    speech = line.in_language(language)
    say(response, speech.connecting_text, speech)
    response.dial(config.fallback_for(line_slug), caller_id=line.number, ring_tone=RING_TONE)
    return response


def last_resort(config: HotlineConfig) -> VoiceResponse:
    """When even `fallback` failed: the general number, nothing else."""
    response = VoiceResponse()
    response.dial(config.organisation.general_number)
    return response


def after_voicemail(
    config: HotlineConfig, line_slug: str | None, language: str | None = None
) -> VoiceResponse:
    """The caller has left a message (Twilio keeps the recording), but storing it failed: thank
    them anyway (in their language), and ring nobody now."""
    if line_slug is None:
        return hang_up()
    return thanks(config.lines[line_slug].in_language(language))


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
    _staff_say(response, "Sie werden verbunden.", line)
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
        _staff_say(response, f"{reason} Der Rückruf ist beendet.", line)
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
