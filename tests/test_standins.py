"""Stand-ins over the database: validation, and the rota honours them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from config.model import HotlineConfig
from foundation.db import Database
from foundation.errors import DomainError
from foundation.models import StandIn, Tier
from scheduling import shifts
from scheduling.shifts import NewShift, create_shift
from scheduling.standins import NewStandIn, create_stand_in, delete_stand_in, list_stand_ins
from tests.conftest import add_counsellor, berlin


def test_stand_in_replaces_the_absent_counsellor_while_it_lasts(
    database: Database, config: HotlineConfig
) -> None:
    with database.write() as session:
        absent = add_counsellor(session, config, "islamism", name="Abwesend")
        substitute = add_counsellor(session, config, "islamism", name="Vertretung")
        create_shift(
            session,
            config,
            NewShift(
                "islamism", absent.id, Tier.PRIMARY, berlin(2026, 12, 1, 9), berlin(2026, 12, 8, 9)
            ),
            actor="tests",
        )
        stand_in = create_stand_in(
            session,
            config,
            NewStandIn(
                "islamism", absent.id, substitute.id, berlin(2026, 12, 3), berlin(2026, 12, 5)
            ),
            actor="tests",
        )
        ids = absent.id, substitute.id, stand_in.id
    with database.read() as session:
        before = shifts.on_call(session, config, "islamism", berlin(2026, 12, 2, 12))
        during = shifts.on_call(session, config, "islamism", berlin(2026, 12, 4, 12))
        listed = list_stand_ins(
            session, config, "islamism", berlin(2026, 12, 1), berlin(2026, 12, 31)
        )
    assert [c.id for c in before.primary] == [ids[0]]
    assert [c.id for c in during.primary] == [ids[1]]
    assert during.next_change == berlin(2026, 12, 5)
    assert [s.id for s in listed] == [ids[2]]
    with database.write() as session:
        delete_stand_in(session, ids[2], actor="tests")
    with database.read() as session:
        assert [
            c.id
            for c in shifts.on_call(session, config, "islamism", berlin(2026, 12, 4, 12)).primary
        ] == [ids[0]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": berlin(2026, 12, 2)}, "end"),
        ({"substitute": "absent"}, "substitute_id"),
        ({"substitute": "outsider"}, "substitute_id"),
        ({"team": "left-wing"}, "team"),
    ],
)
def test_invalid_stand_ins_change_nothing(
    database: Database, config: HotlineConfig, change: dict[str, object], field: str
) -> None:
    with database.write() as session:
        people = {
            "absent": add_counsellor(session, config, "islamism").id,
            "substitute": add_counsellor(session, config, "islamism").id,
            "outsider": add_counsellor(session, config, "right-wing").id,
        }
    new = NewStandIn(
        str(change.get("team", "islamism")),
        people["absent"],
        people[str(change.get("substitute", "substitute"))],
        berlin(2026, 12, 3),
        change.get("end", berlin(2026, 12, 5)),  # type: ignore[arg-type]
    )
    with pytest.raises(DomainError) as caught, database.write() as session:
        create_stand_in(session, config, new, actor="tests")
    assert caught.value.field == field
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(StandIn)) == 0
