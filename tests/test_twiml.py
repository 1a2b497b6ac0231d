"""hotline.twiml without HTTP: the answers that need nothing but the configuration, byte for
byte with the shipped file, and their words and voice from the configuration."""

from __future__ import annotations

import pytest

from app.simulator import parse
from config.model import HotlineConfig, Voice
from hotline import twiml

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def test_fallback_of_a_known_line_speaks_in_its_voice(config: HotlineConfig) -> None:
    assert str(twiml.fallback(config, "right-wing", "+497112794544")) == (
        f'{HEAD}<Response><Say language="de-DE" voice="Polly.Daniel-Neural">Einen Moment bitte, '
        'Sie werden verbunden.</Say><Dial callerId="+497112794544" ringTone="de">+497112794556'
        "</Dial></Response>"
    )


def test_fallback_of_an_unknown_number_dials_the_general_number(config: HotlineConfig) -> None:
    assert str(twiml.fallback(config, None, "+497111234567")) == (
        f'{HEAD}<Response><Say language="de-DE" voice="Polly.Vicki-Neural">Einen Moment bitte, '
        'Sie werden verbunden.</Say><Dial callerId="+497111234567" ringTone="de">+497112794556'
        "</Dial></Response>"
    )
    # Not a number (Twilio would fail the leg with it as caller ID): Twilio's default instead.
    assert 'callerId="' not in str(twiml.fallback(config, None, "sip:someone@example.org"))


def test_last_resort_and_the_refused_call_back(config: HotlineConfig) -> None:
    assert (
        str(twiml.last_resort(config)) == f"{HEAD}<Response><Dial>+497112794556</Dial></Response>"
    )
    assert str(twiml.outbound_call_refused(config)) == (
        f'{HEAD}<Response><Say language="de-DE" voice="Polly.Vicki-Neural">Entschuldigung, '
        "dieser Rückruf ist nicht möglich. Bitte starten Sie ihn im Webportal noch einmal.</Say>"
        "<Hangup /></Response>"
    )


def test_the_shipped_file_says_what_the_defaults_say(config: HotlineConfig) -> None:
    # Besides the other languages' words (German needs none but its opening).
    assert config.voice.model_copy(update={"languages": {}}) == Voice()


def test_words_and_voice_come_from_the_configuration(config: HotlineConfig) -> None:
    words = config.voice.model_copy(
        update={
            "default_voice": "Polly.Daniel-Neural",
            "connecting_text": "Bitte bleiben Sie dran.",
            "outbound_call_refused_text": "Das geht leider nicht.",
        }
    )
    # Validated again: the lines' words in each language are resolved at load.
    own = HotlineConfig.model_validate(config.model_dump() | {"voice": words.model_dump()})
    unknown = parse(str(twiml.fallback(own, None, "+497111234567")))
    say = unknown.find("Say")
    assert say is not None
    assert (say.text, say.attrib["voice"]) == ("Bitte bleiben Sie dran.", "Polly.Daniel-Neural")
    known = parse(str(twiml.fallback(own, "islamism", "+497112794555"))).find("Say")
    assert known is not None
    assert (known.text, known.attrib["voice"]) == ("Bitte bleiben Sie dran.", "Polly.Vicki-Neural")
    refused = parse(str(twiml.outbound_call_refused(own))).find("Say")
    assert refused is not None
    assert (refused.text, refused.attrib["voice"]) == (
        "Das geht leider nicht.",
        "Polly.Daniel-Neural",
    )


@pytest.mark.parametrize("slug", [None, "islamism"])
def test_after_a_voicemail_nobody_is_rung(config: HotlineConfig, slug: str | None) -> None:
    root = parse(str(twiml.after_voicemail(config, slug)))
    assert root.find("Dial") is None
    assert root.find("Hangup") is not None
