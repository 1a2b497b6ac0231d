"""The caller's language on the task list: a callback request filled in Turkish and a voicemail
left after choosing Turkish at the language menu say "Sprache: Türkisch" to the team's staff, so
that the call-back is in Turkish; the line's first language says nothing, and who sees no
client data sees no language either."""

from __future__ import annotations

import re

import time_machine
from sqlalchemy import select
from starlette.testclient import TestClient

from app.simulator import Behaviour
from config.model import HotlineConfig
from config.settings import Settings
from foundation.db import Database
from foundation.models import Call, CallbackRequest, Role, Voicemail
from hotline.tasks import callback_requests
from hotline.tasks.task_list import other_language
from scheduling.shifts import Rota
from tests.conftest import berlin
from tests.test_auth import make_user, sign_in
from tests.test_i18n import choose
from tests.test_voice import ISLAMISM, day_shifts, simulator

SATURDAY_NOON = berlin(2026, 12, 5, 12)  # the lines are closed: the caller leaves a message


def test_other_language_is_none_for_the_lines_first(config: HotlineConfig) -> None:
    assert config.lines["islamism"].languages[0] == "de"
    assert other_language(config, "islamism", "tr") == "tr"
    assert other_language(config, "islamism", "de") is None
    assert other_language(config, "islamism", None) is None  # a call from before 0027
    assert other_language(config, "right-wing", "ru") == "ru"
    assert other_language(config, "gone", "de") is None  # a line no longer configured
    assert other_language(config, "gone", "tr") == "tr"


def _languages(page: str) -> dict[str, str | None]:
    """Each task of the list ("callback-1", "voicemail-2") with the language it names."""
    tasks = re.findall(r'<li class="task" id="([a-z]+-\d+)">(.*?)</li>', page, re.S)
    return {
        task: next(iter(re.findall(r"<strong>(?:Sprache|Language): ([^<]+)</strong>", body)), None)
        for task, body in tasks
    }


def test_turkish_tasks_say_their_language_to_the_team(
    client: TestClient,
    browser: TestClient,
    settings: Settings,
    database: Database,
    config: HotlineConfig,
) -> None:
    day_shifts(database, config, "islamism", berlin(2026, 12, 5, 9), berlin(2026, 12, 6, 9))
    with time_machine.travel(SATURDAY_NOON, tick=False):
        calls = simulator(client, settings)
        calls.call(ISLAMISM, behaviour=Behaviour(language_digits="2", voicemail_seconds=40))
        calls.call(ISLAMISM, behaviour=Behaviour(voicemail_seconds=30))  # no key: German
    with database.read() as session:
        left = session.execute(
            select(Voicemail.id, Voicemail.duration_seconds, Call.language)
            .join(Call, Call.id == Voicemail.call_id)
            .order_by(Voicemail.id)
        ).all()
    assert [tuple(row[1:]) for row in left] == [(40, "tr"), (30, "de")]
    with database.write() as session:
        for language in ("tr", "de"):
            new = callback_requests.NewCallbackRequest(
                "islamism", "+4915123456789", "abends", "192.0.2.1", language=language
            )
            callback_requests.create_callback_request(session, settings, new, Rota(config))
        requests = session.scalars(select(CallbackRequest.id).order_by(CallbackRequest.id)).all()
    wanted: dict[str, str | None] = {
        f"voicemail-{left[0][0]}": "Türkisch",
        f"voicemail-{left[1][0]}": None,
        f"callback-{requests[0]}": "Türkisch",
        f"callback-{requests[1]}": None,
    }
    make_user(database, config, "beraterin", Role.COUNSELLOR, "islamism")
    make_user(database, config, "chef", Role.ADMIN)
    sign_in(browser, "beraterin")
    assert _languages(browser.get("/tasks").text) == wanted
    choose(browser, "en")
    english = {task: "Turkish" if name else None for task, name in wanted.items()}
    assert _languages(browser.get("/tasks").text) == english
    browser.cookies.clear()
    sign_in(browser, "chef")  # sees the list, not what callers left
    assert _languages(browser.get("/tasks").text) == dict.fromkeys(wanted)
