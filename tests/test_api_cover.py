"""/api/v1/standins and /api/v1/absences end to end, on every test database: the rota page's
use cases run (its checks, its audit, its marks on the shifts), so who is on call and the
feeds follow; a key of one team sees and changes only that team's (foundation.access); times
across both DST changes of 2026."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from starlette.testclient import TestClient

from config.model import HotlineConfig
from foundation import apikeys
from foundation.db import Database
from foundation.models import Absence, AbsenceKind, AuditEntry, Shift, StandIn, Tier
from scheduling import absences, counsellors, shifts, standins
from scheduling.feeds import tokens as feed_tokens
from tests.conftest import add_counsellor, berlin, quoted, utc
from tests.test_api import check_against_openapi

STAND_INS, ABSENCES = "/api/v1/standins", "/api/v1/absences"
STAND_IN, ABSENCE = "/api/v1/standins/{stand_in_id}", "/api/v1/absences/{absence_id}"
ONE = {STAND_INS: STAND_IN, ABSENCES: ABSENCE}  # a collection's record, as the document names it


def counts(database: Database) -> tuple[int, ...]:
    """Rows that a refused request must not change, and the shifts' cover marks."""
    with database.read() as session:
        rows = tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (StandIn, Absence, Shift, AuditEntry)
        )
        return (*rows, session.scalar(select(func.sum(Shift.cover_revision))) or 0)


@pytest.fixture
def people(database: Database, config: HotlineConfig) -> dict[str, int]:
    """Anna and Ben in islamism, Rita in right-wing, Bea in both, Nora in no team, Dieter in
    islamism but deactivated."""
    with database.write() as session:
        found = {
            "anna": add_counsellor(session, config, "islamism", name="Anna Berger").id,
            "ben": add_counsellor(session, config, "islamism", name="Ben Kraus").id,
            "rita": add_counsellor(session, config, "right-wing", name="Rita Roth").id,
            "bea": add_counsellor(session, config, "islamism", "right-wing", name="Bea Beide").id,
            "nora": add_counsellor(session, config, name="Nora Neu").id,
            "dieter": add_counsellor(session, config, "islamism", name="Dieter Alt").id,
        }
        counsellors.set_active(session, found["dieter"], False, actor="tests")
    return found


def _times(start: datetime | str, end: datetime | str) -> dict[str, str]:
    """Times as sent: a string as it is, a datetime in ISO 8601 with its offset."""
    return {
        k: v if isinstance(v, str) else v.isoformat() for k, v in (("start", start), ("end", end))
    }


def stand_in(absent: int, substitute: int, start: Any, end: Any, **extra: Any) -> dict[str, Any]:
    people = {"absent_id": absent, "substitute_id": substitute}
    return {"team": "islamism", **people, **_times(start, end), **extra}


def absence(counsellor: int, start: Any, end: Any, **extra: Any) -> dict[str, Any]:
    return {"counsellor_id": counsellor, "kind": "holiday", **_times(start, end), **extra}


def add_shift(api: TestClient, person: int, start: datetime, end: datetime) -> int:
    body = {"team": "islamism", "counsellor_id": person, "tier": "primary"}
    response = api.post("/api/v1/shifts", json={**body, **_times(start, end)})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def primary(api: TestClient, at: datetime) -> list[int]:
    response = api.get(f"/api/v1/oncall?team=islamism&at={quoted(at)}")
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["primary"]]


def assert_created(api: TestClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """201 with the record and its Location, where it is read back as it was answered."""
    response = api.post(path, json=payload)
    assert response.status_code == 201, response.text
    check_against_openapi(response, path, "post")
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{path}/{created['id']}"
    one = api.get(response.headers["location"])
    assert one.status_code == 200
    check_against_openapi(one, ONE[path], "get")
    assert one.json() == created
    return created


def assert_listed(api: TestClient, path: str, cases: list[tuple[str, list[int]]]) -> None:
    """Each query of the listing answers exactly these ids, as the document says."""
    for query, expected in cases:
        listed = api.get(f"{path}?{query}")
        assert listed.status_code == 200, listed.text
        check_against_openapi(listed, path, "get")
        assert [r["id"] for r in listed.json()["items"]] == expected, query


def assert_deleted_and_audited(
    api: TestClient, database: Database, path: str, record_id: int, entity: str
) -> None:
    """Deleted (204), then gone (404 for both methods); created and deleted by the key."""
    one = ONE[path]
    deleted = api.delete(f"{path}/{record_id}")
    assert deleted.status_code == 204
    check_against_openapi(deleted, one, "delete")
    for method in ("delete", "get"):
        gone = api.request(method.upper(), f"{path}/{record_id}")
        assert gone.status_code == 404
        check_against_openapi(gone, one, method)
    with database.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id)
        ).all()
    assert [(e.action, e.entity_id) for e in entries] == [
        ("create", record_id),
        ("delete", record_id),
    ]
    assert all(e.actor.startswith("api-key:") and e.actor.endswith("tests") for e in entries)


def assert_refused(
    api: TestClient, database: Database, path: str, payload: dict[str, Any], field: str
) -> None:
    """422 naming the field, and nothing changed (a None in the payload: the field left out)."""
    before = counts(database)
    response = api.post(path, json={k: v for k, v in payload.items() if v is not None})
    assert response.status_code == 422, response.text
    check_against_openapi(response, path, "post")
    assert any(field in (d["field"] or "") for d in response.json()["details"]), response.text
    assert counts(database) == before


# --- stand-ins ----------------------------------------------------------------------------------


def test_enter_list_read_and_delete_a_stand_in(
    api: TestClient, database: Database, people: dict[str, int]
) -> None:
    start, end = berlin(2026, 12, 3, 9), berlin(2026, 12, 5, 9)
    payload = stand_in(people["anna"], people["ben"], start, end, note="  Fortbildung ")
    created = assert_created(api, STAND_INS, payload)
    assert created == {
        "id": created["id"],
        "team": "islamism",
        "absent_id": people["anna"],
        "absent_name": "Anna Berger",
        "substitute_id": people["ben"],
        "substitute_name": "Ben Kraus",
        "start": "2026-12-03T09:00:00+01:00",
        "end": "2026-12-05T09:00:00+01:00",
        "note": "Fortbildung",
    }
    with database.read() as session:
        row = session.get(StandIn, created["id"])
        assert row is not None
        assert (row.start_at, row.end_at) == (utc(2026, 12, 3, 8), utc(2026, 12, 5, 8))

    window = f"from={quoted(berlin(2026, 12, 1))}&to={quoted(berlin(2026, 12, 31))}"
    assert_listed(
        api,
        STAND_INS,
        [
            (f"team=islamism&{window}", [created["id"]]),
            (window, [created["id"]]),
            (f"team=right-wing&{window}", []),
            (f"counsellor_id={people['ben']}&{window}", [created["id"]]),
            (f"counsellor_id={people['anna']}&{window}", [created["id"]]),
            (f"counsellor_id={people['rita']}&{window}", []),
            (f"team=islamism&from={quoted(end)}", []),  # half-open: it ended as this began
            (f"team=islamism&from={quoted(end - timedelta(seconds=1))}", [created["id"]]),
        ],
    )
    assert_deleted_and_audited(api, database, STAND_INS, created["id"], "stand_in")
    assert api.get(f"{STAND_INS}?{window}").json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-12-03T09:00:00+01:00"}, "end"),  # end == start
        ({"end": "2026-12-03T08:00:00+01:00"}, "end"),
        ({"end": "2027-12-05T09:00:00+01:00"}, "end"),  # more than a year
        ({"start": "2026-12-03T09:00:00"}, "start"),  # no offset
        ({"start": "am Donnerstag"}, "start"),
        ({"substitute_id": "anna"}, "substitute_id"),  # for herself
        ({"substitute_id": "rita"}, "substitute_id"),  # not in the team
        ({"absent_id": "rita"}, "absent_id"),
        ({"absent_id": 999_999}, "absent_id"),
        ({"substitute_id": "dieter"}, "substitute_id"),  # deactivated
        ({"substitute_id": 0}, "substitute_id"),
        ({"team": "left-wing"}, "team"),
        ({"team": "right-wing"}, "absent_id"),  # Anna is not in right-wing
        ({"note": "x" * 501}, "note"),
        ({"colour": "red"}, "colour"),
        ({"substitute_id": None}, "substitute_id"),
    ],
)
def test_a_bad_stand_in_is_refused_and_changes_nothing(
    api: TestClient,
    database: Database,
    people: dict[str, int],
    change: dict[str, Any],
    field: str,
) -> None:
    change = {k: people.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    payload = stand_in(
        people["anna"], people["ben"], berlin(2026, 12, 3, 9), berlin(2026, 12, 5, 9)
    )
    assert_refused(api, database, STAND_INS, payload | change, field)


@pytest.mark.parametrize(
    "query",
    [
        "team=nobody",
        "from=2026-12-01T09:00:00",
        "from=2026-12-10T00:00:00%2B01:00&to=2026-12-01T00:00:00%2B01:00",
        "counsellor_id=x",
    ],
)
def test_bad_stand_in_and_absence_queries(api: TestClient, query: str) -> None:
    for path, one in ONE.items():
        response = api.get(f"{path}?{query}")
        assert response.status_code == 422, (path, response.text)
        check_against_openapi(response, path, "get")
        response = api.get(f"{path}/abc")
        assert response.status_code == 422
        check_against_openapi(response, one, "get")


# Each DST day: Anna's 24-hour (local) duty and a stand-in across the change, given as the
# rota page would have it, and instants in and out of it (a UTC instant, for the autumn's
# repeated hour, where 02:15 happens twice).
DST_DAYS = {
    "spring": (
        (berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 9)),  # 23 real hours
        ("2026-03-28T21:00:00+01:00", "2026-03-29T07:00:00+02:00"),  # 9 real hours
        (utc(2026, 3, 28, 20), utc(2026, 3, 29, 5)),
        [berlin(2026, 3, 29, 1, 59), berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 29, 6, 59)],
        [berlin(2026, 3, 28, 20, 59), berlin(2026, 3, 29, 7), berlin(2026, 3, 29, 8, 59)],
    ),
    "autumn": (
        (berlin(2026, 10, 24, 9), berlin(2026, 10, 25, 9)),  # 25 real hours
        ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),  # the repeated hour
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
        [utc(2026, 10, 25, 0, 45), utc(2026, 10, 25, 1, 15)],  # 02:45 CEST, 02:15 CET
        [utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 1, 45)],  # 02:15 CEST, 02:45 CET
    ),
}


@pytest.mark.parametrize("day", list(DST_DAYS))
def test_a_stand_in_across_a_dst_change(
    api: TestClient, database: Database, people: dict[str, int], day: str
) -> None:
    (shift_start, shift_end), (start, end), stored, inside, outside = DST_DAYS[day]
    anna, ben = people["anna"], people["ben"]
    add_shift(api, anna, shift_start, shift_end)
    response = api.post(STAND_INS, json=stand_in(anna, ben, start, end))
    assert response.status_code == 201, response.text
    check_against_openapi(response, STAND_INS, "post")
    body = response.json()
    assert (body["start"], body["end"]) == (start, end)  # in Berlin, with the offset of then
    with database.read() as session:
        row = session.get(StandIn, body["id"])
        assert row is not None
        assert (row.start_at, row.end_at) == stored
    for at in inside:
        assert primary(api, at) == [ben], at
    for at in outside:
        assert primary(api, at) == [anna], at
    before = api.get(f"/api/v1/oncall?team=islamism&at={quoted(inside[0])}").json()
    assert before["next_change"] == end
    # The same instants in UTC are the same stand-in: listed, and a reversed one is refused.
    in_utc = f"from={quoted(stored[0])}&to={quoted(stored[1])}"
    assert [s["id"] for s in api.get(f"{STAND_INS}?{in_utc}").json()["items"]] == [body["id"]]
    reversed_ = api.post(STAND_INS, json=stand_in(anna, ben, end, start))
    assert reversed_.status_code == 422
    assert reversed_.json()["details"][0]["field"] == "end"


def test_a_stand_in_entered_through_the_api_is_who_is_on_call_and_in_the_feeds(
    api: TestClient, database: Database, people: dict[str, int]
) -> None:
    anna, ben = people["anna"], people["ben"]
    with time_machine.travel(utc(2026, 11, 25, 12), tick=True):
        duty = add_shift(api, anna, berlin(2026, 12, 1, 9), berlin(2026, 12, 8, 9))
        with database.write() as session:
            _, feed = feed_tokens.issue(session, label="Handy", actor="tests", counsellor_id=ben)
        noon = berlin(2026, 12, 4, 12)
        assert primary(api, noon) == [anna]
        assert "Vertretung" not in api.get(f"/feeds/{feed}.ics").text

        created = api.post(
            STAND_INS, json=stand_in(anna, ben, berlin(2026, 12, 3), berlin(2026, 12, 5))
        )
        assert created.status_code == 201, created.text
        assert primary(api, noon) == [ben]
        assert primary(api, berlin(2026, 12, 5, 0, 1)) == [anna]
        ics = api.get(f"/feeds/{feed}.ics").text.replace("\r\n ", "")
        assert "SUMMARY:Rufbereitschaft Islamismus (primär\\, Vertretung)" in ics
        assert "DTSTART;TZID=Europe/Berlin:20261203T000000" in ics
        with database.read() as session:
            marked = session.get(Shift, duty)
            assert marked is not None
            assert marked.cover_revision == 1

        assert api.delete(f"{STAND_INS}/{created.json()['id']}").status_code == 204
        assert primary(api, noon) == [anna]
        assert "Vertretung" not in api.get(f"/feeds/{feed}.ics").text
        with database.read() as session:
            assert session.get(Shift, duty).cover_revision == 2  # type: ignore[union-attr]


# --- absences -----------------------------------------------------------------------------------


def test_enter_list_read_and_delete_an_absence(
    api: TestClient, database: Database, people: dict[str, int]
) -> None:
    start, end = berlin(2026, 12, 3), berlin(2026, 12, 10)
    created = assert_created(api, ABSENCES, absence(people["bea"], start, end, kind="sick"))
    assert created == {
        "id": created["id"],
        "counsellor_id": people["bea"],
        "counsellor_name": "Bea Beide",
        "kind": "sick",
        "start": "2026-12-03T00:00:00+01:00",
        "end": "2026-12-10T00:00:00+01:00",
        "note": None,
    }
    with database.read() as session:
        row = session.get(Absence, created["id"])
        assert row is not None
        assert (row.kind, row.start_at, row.end_at) == (
            AbsenceKind.SICK,
            utc(2026, 12, 2, 23),
            utc(2026, 12, 9, 23),
        )

    window = f"from={quoted(berlin(2026, 12, 1))}&to={quoted(berlin(2026, 12, 31))}"
    assert_listed(
        api,
        ABSENCES,
        [
            (f"team=islamism&{window}", [created["id"]]),  # Bea is in both teams
            (f"team=right-wing&{window}", [created["id"]]),
            (window, [created["id"]]),
            (f"counsellor_id={people['bea']}&{window}", [created["id"]]),
            (f"team=islamism&counsellor_id={people['bea']}&{window}", [created["id"]]),
            (f"team=islamism&counsellor_id={people['rita']}&{window}", []),
            (f"counsellor_id={people['anna']}&{window}", []),
            (f"from={quoted(end)}", []),
        ],
    )
    assert_deleted_and_audited(api, database, ABSENCES, created["id"], "absence")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "vacation"}, "kind"),
        ({"kind": None}, "kind"),
        ({"end": "2026-12-03T00:00:00+01:00"}, "end"),  # end == start
        ({"end": "2026-12-01T00:00:00+01:00"}, "end"),
        ({"end": "2027-12-05T00:00:00+01:00"}, "end"),  # more than a year
        ({"start": "2026-12-03T00:00:00"}, "start"),  # no offset
        ({"counsellor_id": 999_999}, "counsellor_id"),
        ({"counsellor_id": -3}, "counsellor_id"),
        ({"note": "x" * 501}, "note"),
        ({"team": "islamism"}, "team"),  # no such field: an absence is in every team
    ],
)
def test_a_bad_absence_is_refused_and_changes_nothing(
    api: TestClient,
    database: Database,
    people: dict[str, int],
    change: dict[str, Any],
    field: str,
) -> None:
    payload = absence(people["anna"], berlin(2026, 12, 3), berlin(2026, 12, 10))
    assert_refused(api, database, ABSENCES, payload | change, field)


def test_an_absence_opens_a_gap_that_a_stand_in_closes(
    api: TestClient, database: Database, people: dict[str, int]
) -> None:
    anna, ben = people["anna"], people["ben"]
    duty = add_shift(api, anna, berlin(2026, 12, 1, 9), berlin(2026, 12, 8, 9))
    noon = berlin(2026, 12, 4, 12)
    away = api.post(ABSENCES, json=absence(anna, berlin(2026, 12, 3), berlin(2026, 12, 6)))
    assert away.status_code == 201, away.text
    assert primary(api, noon) == []
    assert primary(api, berlin(2026, 12, 6, 0, 1)) == [anna]
    covered = api.post(
        STAND_INS, json=stand_in(anna, ben, berlin(2026, 12, 3), berlin(2026, 12, 6))
    )
    assert covered.status_code == 201
    assert primary(api, noon) == [ben]
    # Ben falls sick too: a substitute who is absent serves nothing.
    sick = api.post(ABSENCES, json=absence(ben, berlin(2026, 12, 4), berlin(2026, 12, 5)))
    assert primary(api, noon) == []
    assert api.delete(f"{ABSENCES}/{sick.json()['id']}").status_code == 204
    assert api.delete(f"{ABSENCES}/{away.json()['id']}").status_code == 204
    assert primary(api, noon) == [ben]
    with database.read() as session:
        assert session.get(Shift, duty).cover_revision == 5  # type: ignore[union-attr]


# --- scoped to one team -------------------------------------------------------------------------


@pytest.fixture
def scoped(client: TestClient, database: Database) -> TestClient:
    """The client with a key of islamism only."""
    with database.write() as session:
        _, plain = apikeys.create_api_key(session, "islamism", actor="tests", teams=["islamism"])
    client.headers["Authorization"] = f"Bearer {plain}"
    return client


def _records(database: Database, config: HotlineConfig, people: dict[str, int]) -> dict[str, int]:
    """A stand-in and an absence in each team (right-wing's: Rita's), entered as the page does,
    and a duty of Rita's, whose cover marks a refused request must not move."""
    start, end = berlin(2026, 12, 3), berlin(2026, 12, 5)
    with database.write() as session:
        made = {
            "own stand-in": standins.create_stand_in(
                session,
                config,
                standins.NewStandIn("islamism", people["anna"], people["ben"], start, end),
                actor="tests",
            ).id,
            "foreign stand-in": standins.create_stand_in(
                session,
                config,
                standins.NewStandIn("right-wing", people["rita"], people["bea"], start, end),
                actor="tests",
            ).id,
        }
        for name, person in (("own absence", "anna"), ("foreign absence", "rita")):
            new = absences.NewAbsence(people[person], AbsenceKind.OTHER, start, end)
            made[name] = absences.create_absence(session, new, actor="tests").id
        shifts.create_shift(
            session,
            config,
            shifts.NewShift("right-wing", people["rita"], Tier.PRIMARY, start, end),
            actor="tests",
        )
    return made


def test_a_key_of_one_team_sees_and_changes_only_that_teams_stand_ins_and_absences(
    scoped: TestClient,
    database: Database,
    config: HotlineConfig,
    people: dict[str, int],
) -> None:
    api = scoped
    made = _records(database, config, people)
    window = f"from={quoted(berlin(2026, 12, 1))}&to={quoted(berlin(2026, 12, 31))}"
    assert_listed(api, STAND_INS, [(window, [made["own stand-in"]]),
                                   (f"counsellor_id={people['bea']}&{window}", [])])  # fmt: skip
    assert_listed(api, ABSENCES, [(window, [made["own absence"]]),
                                  (f"counsellor_id={people['rita']}&{window}", [])])  # fmt: skip
    before = counts(database)
    for path in ONE:
        narrowed = api.get(f"{path}?team=right-wing&{window}")
        assert narrowed.status_code == 403, path
        check_against_openapi(narrowed, path, "get")
    # Named in the URL: another team's record is answered exactly like a missing one.
    for path, one in ONE.items():
        noun = "stand-in" if path == STAND_INS else "absence"
        for method in ("get", "delete"):
            answers = [
                api.request(method.upper(), f"{path}/{record_id}")
                for record_id in (made[f"foreign {noun}"], 999_999)
            ]
            assert [a.status_code for a in answers] == [404, 404], (path, method)
            assert answers[0].json()["error"] == answers[1].json()["error"] == "not_found"
            check_against_openapi(answers[0], one, method)
        assert api.get(f"{path}/{made[f'own {noun}']}").status_code == 200
    # Named in the body: another team, or a counsellor of no team of the key's (Rita of
    # right-wing, Nora of none, one that does not exist), is a 403.
    start, end = berlin(2026, 12, 10), berlin(2026, 12, 11)
    refused = [
        (STAND_INS, stand_in(people["rita"], people["bea"], start, end, team="right-wing")),
        *[(ABSENCES, absence(people.get(p, 999_999), start, end)) for p in ("rita", "nora", "-")],
    ]
    for path, payload in refused:
        response = api.post(path, json=payload)
        assert response.status_code == 403, (path, payload, response.text)
        check_against_openapi(response, path, "post")
    assert counts(database) == before

    # In its own team it may (Bea is in both teams: islamism's key enters her absence).
    own = [
        api.post(STAND_INS, json=stand_in(people["anna"], people["ben"], start, end)),
        api.post(ABSENCES, json=absence(people["bea"], start, end)),
    ]
    assert [r.status_code for r in own] == [201, 201]
    assert api.delete(f"{STAND_INS}/{made['own stand-in']}").status_code == 204
    assert api.delete(f"{ABSENCES}/{made['own absence']}").status_code == 204
    with database.read() as session:
        for model, key in ((StandIn, "foreign stand-in"), (Absence, "foreign absence")):
            assert session.get(model, made[key]) is not None


def test_stand_in_times_are_instants_whatever_the_offset(
    api: TestClient, people: dict[str, int]
) -> None:
    """UTC in, Berlin out: the same instant, whatever offset it was written with."""
    start = datetime(2026, 12, 3, 8, tzinfo=UTC)
    response = api.post(
        STAND_INS,
        json=stand_in(
            people["anna"], people["ben"], "2026-12-03T08:00:00Z", start + timedelta(hours=4)
        ),
    )
    assert response.status_code == 201, response.text
    assert (response.json()["start"], response.json()["end"]) == (
        "2026-12-03T09:00:00+01:00",
        "2026-12-03T13:00:00+01:00",
    )
