"""The languages a counsellor counsels in (issue 19): checked in the use case, on the API and
the counsellors page, in the demo, and at once in whom a caller of another language reaches."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from config.model import HotlineConfig
from foundation.db import Database
from foundation.errors import Invalid
from foundation.models import AuditEntry, Counsellor
from scheduling import counsellors as cases
from scheduling.counsellors import MAX_LANGUAGES, NewCounsellor, counsellor_languages
from scheduling.demo import load_demo

# --- the use case ------------------------------------------------------------------------------


def test_languages_are_kept_in_order_once_each_in_lower_case() -> None:
    assert counsellor_languages(["tr", "de", "TR", " ar ", "de"]) == ["tr", "de", "ar"]
    assert counsellor_languages(("DE",)) == ["de"]
    assert counsellor_languages(["en"] * MAX_LANGUAGES) == ["en"]


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ([], "at least one language"),
        (["xx"], "'xx' is not an ISO 639-1 language code"),
        ([""], "'' is not an ISO 639-1 language code"),
        (["deu"], "'deu' is not an ISO 639-1"),  # ISO 639-2/3, not -1
        (["de-DE"], "'de-DE' is not an ISO 639-1"),
        (["tr", 7], "an entry is not an ISO 639-1"),
        ([["de"]], "an entry is not"),
        (["d" * 5000], "an entry is not"),  # a long entry is not repeated back
        (["ａｒ"], "is not an ISO 639-1"),  # full-width letters are no code
        (["de"] * (MAX_LANGUAGES + 1), f"at most {MAX_LANGUAGES} languages"),
    ],
)
def test_anything_else_is_refused_naming_the_field(given: list[object], words: str) -> None:
    with pytest.raises(Invalid) as refused:
        counsellor_languages(given)
    assert refused.value.field == "languages"
    assert words in refused.value.message


def new(
    languages: tuple[str, ...] = ("de",), teams: tuple[str, ...] = ("islamism",)
) -> NewCounsellor:
    return NewCounsellor("Amira Yilmaz", "0151 23456789", None, teams, languages=languages)


def test_german_by_default(database: Database, config: HotlineConfig) -> None:
    with database.write() as session:
        made = cases.create_counsellor(
            session, config, NewCounsellor("Jonas", "0151 23456788", None, ()), actor="tests"
        )
        assert made.languages == ["de"]


def test_a_change_is_stored_and_audited(database: Database, config: HotlineConfig) -> None:
    with database.write() as session:
        made = cases.create_counsellor(session, config, new(("de", "tr")), actor="tests")
        counsellor_id = made.id
    with database.write() as session:
        cases.update_counsellor(
            session, config, counsellor_id, new(("TR", "ar", "tr")), actor="chef"
        )
    with database.read() as session:
        counsellor = session.get(Counsellor, counsellor_id)
        assert counsellor is not None
        assert counsellor.languages == ["tr", "ar"]
        entries = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.entity == "counsellor").order_by(AuditEntry.id)
            )
        )
    assert [(e.action, e.actor) for e in entries] == [("create", "tests"), ("update", "chef")]
    snapshots = [(e.before or {}).get("languages") for e in entries]
    snapshots += [(e.after or {}).get("languages") for e in entries]
    assert snapshots == [None, ["de", "tr"], ["de", "tr"], ["tr", "ar"]]


def test_a_refused_change_changes_nothing(database: Database, config: HotlineConfig) -> None:
    with database.write() as session:
        counsellor_id = cases.create_counsellor(session, config, new(("de", "tr")), actor="t").id
    with pytest.raises(Invalid), database.write() as session:
        cases.update_counsellor(session, config, counsellor_id, new(("de", "xx")), actor="t")
    with database.read() as session:
        counsellor = session.get(Counsellor, counsellor_id)
        assert counsellor is not None
        assert counsellor.languages == ["de", "tr"]
        assert len(list(session.scalars(select(AuditEntry)))) == 1


def test_the_demo_has_speakers_of_the_shipped_lines_languages(
    database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        assert load_demo(session, config, date(2026, 12, 2))
    with database.read() as session:
        spoken = {c.name: c.languages for c in session.scalars(select(Counsellor))}
    assert spoken["Amira Yilmaz"] == ["de", "tr"]
    assert spoken["Jonas Becker"] == ["de"]
    for line in config.lines.values():  # every language a shipped line offers has a speaker
        for code in line.languages:
            assert any(code in languages for languages in spoken.values()), code
