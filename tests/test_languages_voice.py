"""Calls in the caller's language (issue 19): the language menu, each language's words in a voice
Twilio speaks it with, counsellors who speak it rung first, closed hours and voicemail, and the
relatives menu behind the language menu. Walked end to end by the simulator, which refuses a
<Say> whose language and voice Twilio would not speak."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select, update
from starlette.testclient import TestClient

from app.simulator import Behaviour, Simulator, parse
from config.languages import pair_problem
from config.model import SHIPPED, HotlineConfig
from config.settings import Settings
from foundation import outbox
from foundation.db import Database
from foundation.models import Call, Counsellor
from hotline import twiml
from tests.conftest import berlin
from tests.helpers import OnCall
from tests.test_config import LEFT_WING
from tests.test_voice import ISLAMISM, RIGHT_WING, WEDNESDAY_NOON, app_with, day_shifts, simulator

SATURDAY_NOON = berlin(2026, 12, 5, 12)  # the lines are closed on Saturdays
MENU = "/twilio/voice/language"


@pytest.fixture
def rota(database: Database, config: HotlineConfig) -> OnCall:
    return day_shifts(database, config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9))


@pytest.fixture
def sim(client: TestClient, settings: Settings) -> Iterator[Simulator]:
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        yield simulator(client, settings)


def the_call(database: Database) -> Call:
    with database.read() as session:
        return session.scalars(select(Call)).one()


def speaks(database: Database, counsellor_id: int, *languages: str) -> None:
    with database.write() as session:
        session.execute(
            update(Counsellor)
            .where(Counsellor.id == counsellor_id)
            .values(languages=list(languages))
        )


def test_the_menu_announces_each_language_in_its_own_voice(
    sim: Simulator, rota: OnCall, database: Database, config: HotlineConfig
) -> None:
    walk = sim.call(ISLAMISM)
    line = config.lines["islamism"]
    heard = walk.spoken()
    for digit, speech in enumerate(line.spoken, start=1):
        assert (speech.option(digit), speech.language, speech.voice) in heard
    assert ("Türkçe için 2 tuşuna basın.", "tr-TR", "Polly.Burcu-Neural") in heard
    # The bilingual opening comes first, German and English.
    assert heard[0][1:] == ("de-DE", "Polly.Vicki-Neural")
    assert heard[1][1:] == ("en-GB", "Polly.Amy-Neural")
    assert all(pair_problem(language, voice) is None for _, language, voice in heard)
    # No key: the first language, German, and the call goes on without another request.
    assert walk.connected_to == rota.primary
    assert "Guten Tag. Sie sind mit der Ausstiegsberatung verbunden." in walk.said()
    assert not any(path == MENU for path, _ in walk.requests)
    assert the_call(database).language == "de"


def test_the_right_wing_menu_announces_russian_in_a_russian_voice(
    client: TestClient, settings: Settings, database: Database, config: HotlineConfig
) -> None:
    line = config.lines["right-wing"]
    day_shifts(database, config, line.team, berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9))
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        heard = simulator(client, settings).call(RIGHT_WING).spoken()
    options = [(speech.option(digit), speech.language, speech.voice)
               for digit, speech in enumerate(line.spoken, start=1)]  # fmt: skip
    assert [entry for entry in heard if entry in options] == options
    russian = line.in_language("ru")
    assert (russian.language, russian.voice) == ("ru-RU", "Polly.Tatyana")
    assert any(text.startswith(russian.option(2)) for text, _, _ in heard)
    assert all(pair_problem(language, voice) is None for _, language, voice in heard)


@pytest.mark.parametrize(
    ("number", "digit", "code", "words"),
    [
        (ISLAMISM, "1", "de", "Sie sind mit der Ausstiegsberatung verbunden"),
        (ISLAMISM, "2", "tr", "Çıkış danışmanlığına bağlandınız"),
        (ISLAMISM, "3", "ar", "أنت متصل بخدمة استشارات الخروج"),
        (ISLAMISM, "4", "en", "You are through to the exit counselling service"),
        (RIGHT_WING, "2", "ru", "Вы позвонили в службу консультаций по выходу"),
        (RIGHT_WING, "3", "en", "You are through to the exit counselling service"),
    ],
)
def test_the_chosen_language_speaks_every_later_prompt(
    client: TestClient,
    settings: Settings,
    database: Database,
    config: HotlineConfig,
    number: str,
    digit: str,
    code: str,
    words: str,
) -> None:
    found = config.line_for_number(number)
    assert found is not None
    line = found[1]
    day_shifts(database, config, line.team, berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9))
    speech = line.in_language(code)
    # Nobody answers, the fallback neither: the all-prompts path to the voicemail.
    behaviour = Behaviour(default="no-answer", fallback="no-answer", language_digits=digit)
    with time_machine.travel(WEDNESDAY_NOON, tick=False):
        walk = simulator(client, settings).call(number, behaviour=behaviour)
    heard = walk.spoken()
    last_option = line.spoken[-1].option(len(line.languages))
    after_menu = heard[[text for text, _, _ in heard].index(last_option) + 1 :]
    assert any(words in text for text, _, _ in after_menu)
    assert {(language, voice) for _, language, voice in after_menu} == {
        (speech.language, speech.voice)
    }
    said = walk.said()
    assert speech.nobody_text in said
    assert speech.voicemail_prompt in said
    assert speech.thanks_text in said
    assert the_call(database).language == code
    # Every later step carried the language.
    steps = [path for path, _ in walk.requests if path.startswith("/twilio/voice/")]
    assert len(steps) >= 4  # the menu, the Dials, the fallback, the voicemail
    assert all(f"lang={code}" in path for path in steps if not path.startswith(MENU))


def test_a_turkish_caller_reaches_a_turkish_speaking_backup_before_the_german_primary(
    sim: Simulator, rota: OnCall, database: Database
) -> None:
    speaks(database, rota.backup_id, "de", "tr")
    walk = sim.call(ISLAMISM, behaviour=Behaviour(language_digits="2"))
    assert walk.details("ring") == [rota.backup]
    assert walk.connected_to == rota.backup
    assert walk.details("whisper-say")[0] == (
        "Anruf über die Islamismus-Leitung, Sprache Türkisch. "
        "Drücken Sie die 1, um das Gespräch anzunehmen."
    )
    call = the_call(database)
    assert (call.language, call.accepted_by_id) == ("tr", rota.backup_id)


def test_the_german_primary_still_takes_a_turkish_call_nobody_speaks(
    sim: Simulator, rota: OnCall, database: Database
) -> None:
    walk = sim.call(
        ISLAMISM,
        behaviour=Behaviour(language_digits="2", counsellors={rota.primary: "no-answer"}),
    )
    assert walk.details("ring") == [rota.primary, rota.backup]
    assert walk.connected_to == rota.backup


def test_a_german_caller_rings_as_before(sim: Simulator, rota: OnCall, database: Database) -> None:
    speaks(database, rota.backup_id, "de", "tr")
    walk = sim.call(ISLAMISM, behaviour=Behaviour(language_digits="1"))
    assert walk.details("ring") == [rota.primary]
    assert "Sprache" not in walk.details("whisper-say")[0]


def test_a_key_that_names_no_language_is_the_first(
    sim: Simulator, rota: OnCall, database: Database
) -> None:
    walk = sim.call(ISLAMISM, behaviour=Behaviour(language_digits="9"))
    assert walk.connected_to == rota.primary
    assert "Sie sind mit der Ausstiegsberatung verbunden" in walk.said()
    assert the_call(database).language == "de"


@pytest.mark.parametrize("digits", ["²", "١", "５", "0", "#", "1#", "", "\x00"])
def test_a_hostile_key_is_the_first_language_and_still_reaches_the_on_call_counsellor(
    sim: Simulator, rota: OnCall, database: Database, digits: str
) -> None:
    # "²" passed `isdigit` and failed `int`: the call went to the fallback number.
    walk = sim.call(ISLAMISM, behaviour=Behaviour(language_digits=digits))
    assert walk.connected_to == rota.primary
    assert the_call(database).language == "de"


def test_closed_hours_and_voicemail_in_arabic(
    client: TestClient, settings: Settings, database: Database, config: HotlineConfig
) -> None:
    day_shifts(database, config, "islamism", berlin(2026, 12, 5, 9), berlin(2026, 12, 6, 9))
    with time_machine.travel(SATURDAY_NOON, tick=False):
        walk = simulator(client, settings).call(
            ISLAMISM, behaviour=Behaviour(language_digits="3", voicemail_seconds=40)
        )
    arabic = config.lines["islamism"].in_language("ar")
    said = walk.said()
    assert "أنت تتصل خارج أوقات عملنا" in said
    assert "الاثنين والثلاثاء والأربعاء والخميس 09:00–18:00 والجمعة 09:00–16:00" in said
    assert arabic.thanks_text in said
    assert "ring" not in walk.kinds()
    assert walk.details("voicemail") == ["40"]
    closed = [entry for entry in walk.spoken() if "خارج أوقات عملنا" in entry[0]]
    assert [entry[1:] for entry in closed] == [("ar-AE", "Polly.Hala-Neural")]
    call = the_call(database)
    assert (call.language, call.closed_reason, call.outcome) == ("ar", "hours", "voicemail")
    with database.read() as session:
        (sms,) = outbox.recent(session, settings)  # the on-call counsellor is told
    assert "Sprache Arabisch" in sms.body


def test_closed_in_german_when_no_key_is_pressed(
    client: TestClient, settings: Settings, database: Database
) -> None:
    with time_machine.travel(SATURDAY_NOON, tick=False):
        walk = simulator(client, settings).call(ISLAMISM, behaviour=Behaviour(voicemail_seconds=0))
    assert "Sie rufen außerhalb unserer Sprechzeiten an." in walk.said()
    assert walk.said().endswith("Auf Wiederhören.")


RELATIVES = SHIPPED.read_text(encoding="utf-8").replace(
    "recording = false",
    'recording = false\nrelatives_menu = true\nrelatives_tiers = ["backup", "primary"]',
    1,
)


def test_the_relatives_menu_follows_the_language_menu_in_the_chosen_language(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    client, settings = app_with(tmp_path, db_url, database, RELATIVES)
    with client:
        rota = day_shifts(
            database, settings.config, "islamism", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(WEDNESDAY_NOON, tick=False):
            turkish_relative = simulator(client, settings).call(
                ISLAMISM,
                behaviour=Behaviour(language_digits="2", menu_digits="2"),
                call_sid="CA" + "1" * 32,
            )
            german_caller = simulator(client, settings).call(ISLAMISM, call_sid="CA" + "2" * 32)
    turkish = settings.config.lines["islamism"].in_language("tr")
    assert turkish.relatives_prompt in turkish_relative.said()
    assert turkish_relative.details("pressed") == ["2", "2"]  # at most two keys
    assert turkish_relative.details("ring")[0] == rota.backup  # the relatives' tiers
    german = settings.config.lines["islamism"].in_language("de")
    assert german.relatives_prompt in german_caller.said()
    assert german_caller.details("pressed") == []
    assert german_caller.details("ring")[0] == rota.primary
    with database.read() as session:
        calls = {c.call_sid: (c.language, c.from_relative) for c in session.scalars(select(Call))}
    assert calls == {"CA" + "1" * 32: ("tr", True), "CA" + "2" * 32: ("de", False)}


def test_a_line_of_one_language_has_no_menu(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    client, settings = app_with(
        tmp_path, db_url, database, SHIPPED.read_text(encoding="utf-8") + LEFT_WING
    )
    with client:
        day_shifts(
            database, settings.config, "left-wing", berlin(2026, 12, 2, 9), berlin(2026, 12, 3, 9)
        )
        with time_machine.travel(berlin(2026, 12, 2, 10, 30), tick=False):
            walk = simulator(client, settings).call("+497112794533")
    assert walk.spoken()[0] == (
        "Guten Tag. Sie sind mit der Ausstiegsberatung verbunden.",
        "de-DE",
        "Polly.Vicki-Neural",
    )
    assert "Für Deutsch" not in walk.said()
    assert walk.connected_to is not None


def test_the_menu_is_in_the_hot_paths_snapshot(
    sim: Simulator, rota: OnCall, database: Database
) -> None:
    first, second = sim.call(ISLAMISM), sim.call(ISLAMISM, behaviour=Behaviour(language_digits="4"))
    assert "Türkçe için 2 tuşuna basın." in first.said()
    assert "Türkçe için 2 tuşuna basın." in second.said()
    assert "You are through to the exit counselling service" in second.said()
    with database.read() as session:
        languages = sorted(c.language or "" for c in session.scalars(select(Call)))
    assert languages == ["de", "en"]


def test_the_fail_open_answer_speaks_the_callers_language(config: HotlineConfig) -> None:
    root = parse(str(twiml.fallback(config, "islamism", ISLAMISM, "tr")))
    say = root.find("Say")
    assert say is not None
    assert (say.text, say.attrib["language"]) == (
        "Lütfen bir dakika bekleyin, sizi bağlıyoruz.",
        "tr-TR",
    )
    assert root.findtext("Dial") == config.fallback_for("islamism")
    german = parse(str(twiml.fallback(config, "islamism", ISLAMISM))).find("Say")
    assert german is not None
    assert german.attrib["language"] == "de-DE"


def test_a_failing_language_step_still_connects_the_caller(
    sim: Simulator, rota: OnCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline import voice_calls

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(voice_calls, "language_chosen", boom)
    walk = sim.call(ISLAMISM, behaviour=Behaviour(language_digits="2"))
    assert walk.connected_to == "+497112794556"  # the line's fallback number
