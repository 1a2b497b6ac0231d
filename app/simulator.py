"""A Twilio stand-in that walks a call through the service's TwiML.

It signs every request exactly as Twilio does, reads the TwiML, and follows it the way Twilio
would: `<Dial>` with `<Number url>` (the counsellor's leg hears the whisper), `<Gather>` digits,
the Dial action with `DialCallStatus`, `<Record>` and its action, `<Redirect>`, `<Hangup>`.
What the people on the phones do is given by a `Behaviour`. Every verb and attribute is checked
against the ones Twilio documents, because Twilio silently ignores the ones it does not know.

Used by the tests and by `hotline simulate call`, which lets a coordinator try a rota without a
phone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

from config.languages import pair_problem

# Verbs, their attributes and the nouns/verbs they may contain, as Twilio documents them.
_ATTRIBUTES: dict[str, set[str]] = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "action", "method", "timeout", "numDigits", "finishOnKey", "input", "language",
        "speechTimeout", "hints", "actionOnEmptyResult", "profanityFilter", "speechModel",
        "enhanced", "partialResultCallback", "partialResultCallbackMethod",
    },
    "Dial": {
        "action", "method", "timeout", "callerId", "record", "hangupOnStar", "timeLimit",
        "answerOnBridge", "ringTone", "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "trim", "sequential", "referUrl", "referMethod",
    },
    "Number": {
        "sendDigits", "url", "method", "statusCallback", "statusCallbackEvent",
        "statusCallbackMethod", "byoc", "machineDetection", "amdStatusCallback",
    },
    "Record": {
        "action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
        "recordingStatusCallback", "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent", "transcribe", "transcribeCallback", "storageUrl",
    },
    "Redirect": {"method"},
    "Hangup": set(),
    "Reject": {"reason"},
}  # fmt: skip
_CHILDREN: dict[str, set[str]] = {
    "Response": {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Dial",
        "Record",
        "Redirect",
        "Hangup",
        "Reject",
    },
    "Gather": {"Say", "Play", "Pause"},
    "Dial": {"Number"},
}
MAX_STEPS = 60
LANGUAGE_MENU = "/twilio/voice/language"  # the action of a line's language menu

Post = Callable[[str, Mapping[str, str], Mapping[str, str]], tuple[int, str]]


class TwimlError(AssertionError):
    """The service answered with something Twilio would not do what it was meant to."""


@dataclass
class Behaviour:
    """What the humans do. Counsellors by phone number: "accept" (answers, presses 1),
    "mailbox" (their voicemail answers; no key), "wrong-key", "busy", "no-answer", "failed"."""

    counsellors: dict[str, str] = field(default_factory=dict)
    default: str = "accept"
    fallback: str = "answer"  # or "no-answer", "busy"
    menu_digits: str = ""  # pressed at the caller's Gather (e.g. "2": a relative)
    language_digits: str = ""  # pressed at the language menu (e.g. "2": the second language)
    voicemail_seconds: int = 30  # 0: the caller leaves no message
    talk_seconds: int = 300

    def of(self, phone: str) -> str:
        return self.counsellors.get(phone, self.default)


@dataclass
class Walk:
    """What happened, in order: (event, detail) pairs."""

    events: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def details(self, kind: str) -> list[str]:
        return [detail for event, detail in self.events if event == kind]

    @property
    def connected_to(self) -> str | None:
        found = self.details("connected")
        return found[-1] if found else None

    def said(self) -> str:
        return " ".join(self.details("say"))

    def spoken(self) -> list[tuple[str, str, str]]:
        """What the caller heard, as (text, language, voice) of each <Say>."""
        return [tuple(detail.split("\x1f")) for detail in self.details("spoken")]  # type: ignore[misc]


def _check(element: ElementTree.Element) -> None:
    allowed = _ATTRIBUTES.get(element.tag)
    if allowed is None:
        raise TwimlError(f"<{element.tag}> is not a TwiML verb")
    unknown = set(element.attrib) - allowed
    if unknown:
        raise TwimlError(f"<{element.tag}> has attributes Twilio does not know: {sorted(unknown)}")
    if element.tag == "Say" and {"language", "voice"} <= set(element.attrib):
        # An invalid pair makes the <Say> fail (Twilio's text-to-speech table).
        problem = pair_problem(element.attrib["language"], element.attrib["voice"])
        if problem:
            raise TwimlError(f"<Say>: {problem}")
    for child in element:
        if child.tag not in _CHILDREN.get(element.tag, set()):
            raise TwimlError(f"<{child.tag}> cannot be inside <{element.tag}>")
        _check(child)


def parse(document: str) -> ElementTree.Element:
    root = ElementTree.fromstring(document)  # noqa: S314 - our own service's answer
    if root.tag != "Response":
        raise TwimlError(f"not TwiML: root element <{root.tag}>")
    _check(root)
    return root


class Simulator:
    def __init__(self, post: Post, public_url: str, token: str) -> None:
        self._post = post
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(token)

    @staticmethod
    def _sid() -> str:
        return secrets.token_hex(16)

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(self.validator.compute_signature(url, dict(params)))

    def request(self, url: str, params: Mapping[str, str], walk: Walk | None = None) -> str:
        """POST like Twilio: the absolute URL is signed; the service must answer 200 TwiML."""
        if not url.startswith(self.public_url):
            raise TwimlError(f"URL outside the service: {url}")
        path = url.removeprefix(self.public_url)
        headers = {
            "X-Twilio-Signature": self.sign(url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, body = self._post(path, params, headers)
        if walk is not None:
            walk.requests.append((path, dict(params)))
        if status != 200:
            raise TwimlError(f"{path} answered {status}: {body[:200]}")
        return body

    def url(self, path: str, **query: str) -> str:
        return f"{self.public_url}{path}" + (f"?{urlencode(query)}" if query else "")

    def call(
        self,
        to: str,
        caller: str = "+4915199990000",
        behaviour: Behaviour | None = None,
        call_sid: str | None = None,
    ) -> Walk:
        """One call from `caller` to `to`, followed to its end."""
        behaviour = behaviour or Behaviour()
        sid = call_sid or f"CA{self._sid()}"
        base = {
            "CallSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": caller,
            "Caller": caller,
            "To": to,
            "Called": to,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        walk = Walk()
        document = self.request(self.url("/twilio/voice"), base, walk)
        for _ in range(MAX_STEPS):
            following = self._run(parse(document), base, behaviour, walk)
            if following is None:
                break
            url, extra = following
            document = self.request(url, base | {"CallStatus": "in-progress"} | extra, walk)
        else:
            raise TwimlError("the call never ended (a loop?)")
        self.request(
            self.url("/twilio/status"),
            base | {"CallStatus": "completed", "CallDuration": "60"},
            walk,
        )
        walk.events.append(("ended", ""))
        return walk

    def _run(
        self, root: ElementTree.Element, base: dict[str, str], behaviour: Behaviour, walk: Walk
    ) -> tuple[str, dict[str, str]] | None:
        """Execute one document; the next request to make, or None when the call is over."""
        for verb in root:
            tag = verb.tag
            if tag == "Say":
                self._say(verb, walk)
            elif tag == "Play":
                walk.events.append(("play", verb.text or ""))
            elif tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        self._say(inner, walk)
                language_menu = LANGUAGE_MENU in verb.attrib.get("action", "")
                digits = behaviour.language_digits if language_menu else behaviour.menu_digits
                if digits:
                    walk.events.append(("pressed", digits))
                    return verb.attrib["action"], {"Digits": digits}
            elif tag == "Redirect":
                return (verb.text or "").strip(), {}
            elif tag == "Dial":
                outcome = self._dial(verb, base, behaviour, walk)
                if "action" in verb.attrib:
                    return verb.attrib["action"], outcome
            elif tag == "Record":
                walk.events.append(("record", ""))
                if behaviour.voicemail_seconds > 0:
                    walk.events.append(("voicemail", str(behaviour.voicemail_seconds)))
                    recording = f"RE{self._sid()}"
                    return verb.attrib["action"], {
                        "RecordingSid": recording,
                        "RecordingDuration": str(behaviour.voicemail_seconds),
                        "RecordingUrl": f"https://api.twilio.com/Recordings/{recording}",
                    }
            elif tag in ("Hangup", "Reject"):
                walk.events.append((tag.lower(), ""))
                return None
        return None

    @staticmethod
    def _say(verb: ElementTree.Element, walk: Walk) -> None:
        text = verb.text or ""
        walk.events.append(("say", text))
        spoken = (text, verb.attrib.get("language", ""), verb.attrib.get("voice", ""))
        walk.events.append(("spoken", "\x1f".join(spoken)))

    def _dial(
        self, dial: ElementTree.Element, base: dict[str, str], behaviour: Behaviour, walk: Walk
    ) -> dict[str, str]:
        caller_id = dial.attrib.get("callerId", "")
        walk.events.append(("caller-id", caller_id))
        numbers = list(dial)
        if not numbers:  # <Dial>+49…</Dial>: the fallback number, a plain phone line
            fallback = (dial.text or "").strip()
            walk.events.append(("fallback", fallback))
            if behaviour.fallback == "answer":
                walk.events.append(("connected", fallback))
                return {
                    "DialCallStatus": "completed",
                    "DialCallDuration": str(behaviour.talk_seconds),
                }
            return {"DialCallStatus": behaviour.fallback, "DialCallDuration": "0"}
        phones = [(number.text or "").strip() for number in numbers]
        walk.events.append(("ring", ",".join(phones)))
        answering = [
            (number, phone)
            for number, phone in zip(numbers, phones, strict=True)
            if behaviour.of(phone) in ("accept", "mailbox", "wrong-key")
        ]
        if not answering:
            states = {behaviour.of(phone) for phone in phones}
            status = states.pop() if len(states) == 1 else "no-answer"
            walk.events.append((status, ",".join(phones)))
            return {"DialCallStatus": status, "DialCallDuration": "0"}
        number, phone = answering[0]  # the first to pick up wins; the others stop ringing
        action = behaviour.of(phone)
        if "url" not in number.attrib:
            walk.events.append(("connected", phone))
            return {"DialCallStatus": "completed", "DialCallDuration": str(behaviour.talk_seconds)}
        child = {
            "CallSid": f"CA{self._sid()}",
            "ParentCallSid": base["CallSid"],
            "AccountSid": base["AccountSid"],
            "From": caller_id,
            "To": phone,
            "Direction": "outbound-dial",
            "CallStatus": "in-progress",
        }
        connected = self._screen(number.attrib["url"], child, action, phone, walk)
        if connected:
            walk.events.append(("connected", phone))
            return {"DialCallStatus": "completed", "DialCallDuration": str(behaviour.talk_seconds)}
        return {"DialCallStatus": "completed", "DialCallDuration": "20"}

    def _screen(self, url: str, child: dict[str, str], action: str, phone: str, walk: Walk) -> bool:
        """The counsellor's leg: the whisper, and whether the caller gets bridged."""
        walk.events.append(("whisper", phone))
        document = self.request(url, child, walk)
        for _ in range(5):
            following: str | None = None
            digits = ""
            for verb in parse(document):
                if verb.tag == "Gather":
                    for inner in verb:
                        if inner.tag == "Say":
                            walk.events.append(("whisper-say", inner.text or ""))
                    if action in ("accept", "wrong-key"):
                        digits = "1" if action == "accept" else "5"
                        following = verb.attrib["action"]
                        break
                elif verb.tag == "Hangup":
                    walk.events.append((action, phone))
                    return False
                elif verb.tag == "Redirect":
                    following = (verb.text or "").strip()
                    break
            if following is None:
                return True  # the document ended without a hang-up: Twilio bridges
            walk.events.append(("counsellor-pressed", digits))
            document = self.request(following, child | ({"Digits": digits} if digits else {}), walk)
        raise TwimlError("screening never ended")
