"""Who gets a call or a message (hotline.routing): pure functions over who is on call, tested
with plain asserts and Hypothesis."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.model import HotlineConfig, Line, Strategy, load_config
from foundation.models import Tier
from hotline import routing
from hotline.routing import Reached, Target
from tests.fakes import OnCall, Person


def person(n: int) -> Person:
    return Person(n, f"+4915100000{n:03d}")


ANNA, BEN, CEM, DINA = (person(n) for n in (1, 2, 3, 4))


@pytest.fixture
def line(config: HotlineConfig) -> Line:
    return config.lines["islamism"]


def ids(steps: Sequence[Sequence[Target]]) -> list[list[int]]:
    return [[target.counsellor_id for target in step] for step in steps]


# --- plan: the steps of a call ----------------------------------------------------------------


def test_busy_counsellors_are_not_rung(line: Line) -> None:
    on_call = OnCall([ANNA, BEN], [CEM])
    assert ids(routing.plan(on_call, line, busy={1})) == [[2], [3]]
    assert ids(routing.plan(on_call, line, busy={1, 2})) == [[3]]  # the next tier at once
    assert routing.plan(on_call, line, busy={1, 2, 3}) == []
    assert routing.wanted(on_call, line) == {1, 2, 3}
    everyone = line.model_copy(update={"strategy": "ring_all"})
    assert ids(routing.plan(on_call, everyone, busy={2})) == [[1, 3]]
    relatives = line.model_copy(update={"relatives_tiers": ("backup",)})
    assert routing.wanted(on_call, relatives, relative=True) == {3}


def test_primary_then_backup(line: Line) -> None:
    steps = routing.plan(OnCall([ANNA, BEN], [CEM]), line)
    assert steps == [[Target(1, ANNA.phone), Target(2, BEN.phone)], [Target(3, CEM.phone)]]


def test_an_empty_tier_is_skipped_and_nobody_is_no_step(line: Line) -> None:
    assert ids(routing.plan(OnCall([], [CEM]), line)) == [[3]]
    assert ids(routing.plan(OnCall([ANNA], []), line)) == [[1]]
    assert routing.plan(OnCall(), line) == []


def test_someone_on_both_tiers_rings_once_in_the_first(line: Line) -> None:
    assert ids(routing.plan(OnCall([ANNA], [ANNA, BEN]), line)) == [[1], [2]]
    assert ids(routing.plan(OnCall([ANNA], [ANNA]), line)) == [[1]]
    assert ids(routing.plan(OnCall([ANNA, ANNA], [BEN]), line)) == [[1], [2]]


def test_ring_all_rings_everyone_at_once(line: Line) -> None:
    everyone = line.model_copy(update={"strategy": Strategy.RING_ALL})
    assert ids(routing.plan(OnCall([ANNA, BEN], [BEN, CEM]), everyone)) == [[1, 2, 3]]
    assert routing.plan(OnCall(), everyone) == []


def test_relatives_ring_their_tiers_in_their_order(line: Line) -> None:
    backup_first = line.model_copy(update={"relatives_tiers": ("backup", "primary")})
    on_call = OnCall([ANNA], [BEN])
    assert ids(routing.plan(on_call, backup_first, relative=True)) == [[2], [1]]
    assert ids(routing.plan(on_call, backup_first, relative=False)) == [[1], [2]]
    only_backup = line.model_copy(update={"relatives_tiers": ("backup",)})
    assert ids(routing.plan(on_call, only_backup, relative=True)) == [[2]]
    assert routing.plan(OnCall([ANNA]), only_backup, relative=True) == []


def test_relatives_go_to_their_team(line: Line) -> None:
    assert routing.team_of(line, relative=True) == "islamism"  # no relatives team: the line's
    office = line.model_copy(update={"relatives_team": "office"})
    assert routing.team_of(office, relative=True) == "office"
    assert routing.team_of(office, relative=False) == "islamism"


# --- first_reachable: who a message or notice goes to -----------------------------------------


def test_the_first_primary_else_the_first_backup() -> None:
    assert routing.first_reachable(OnCall([ANNA, BEN], [CEM])) == Reached(
        1, ANNA.phone, Tier.PRIMARY
    )
    assert routing.first_reachable(OnCall([], [CEM, DINA])) == Reached(3, CEM.phone, Tier.BACKUP)
    assert routing.first_reachable(OnCall()) is None


def test_exclude_and_tiers_ask_for_the_next_one() -> None:
    """The text relay's failover: after the primary, the backup who is not her."""
    on_call = OnCall([ANNA], [ANNA, BEN])
    assert routing.first_reachable(on_call, exclude={1}) == Reached(2, BEN.phone, Tier.BACKUP)
    backup = routing.first_reachable(on_call, tiers=(Tier.BACKUP,), exclude={1})
    assert backup == Reached(2, BEN.phone, Tier.BACKUP)
    assert routing.first_reachable(on_call, tiers=(Tier.BACKUP,), exclude={1, 2}) is None
    assert routing.first_reachable(OnCall([ANNA]), tiers=(Tier.BACKUP,)) is None


# --- properties -------------------------------------------------------------------------------

# Few ids, so that the same counsellor turns up twice in a tier and across tiers.
people = st.lists(st.integers(min_value=1, max_value=6).map(person), max_size=6)
on_calls = st.builds(OnCall, people, people)
relatives_tiers = st.lists(st.sampled_from(["primary", "backup"]), min_size=1, max_size=3)


@cache
def shipped_line() -> Line:
    return load_config(None).lines["islamism"]


def _expected_order(on_call: OnCall, tiers: Sequence[Tier]) -> list[int]:
    order: list[int] = []
    for tier in tiers:
        for who in on_call.primary if tier is Tier.PRIMARY else on_call.backup:
            if who.id not in order:
                order.append(who.id)
    return order


@given(on_call=on_calls, tiers=relatives_tiers, relative=st.booleans(), ring_all=st.booleans())
def test_every_counsellor_rings_once_in_tier_order(
    on_call: OnCall, tiers: list[str], relative: bool, ring_all: bool
) -> None:
    from config.model import load_config

    line = (
        load_config(None)
        .lines["islamism"]
        .model_copy(
            update={
                "relatives_tiers": tuple(tiers),
                "strategy": Strategy.RING_ALL if ring_all else Strategy.SEQUENTIAL,
            }
        )
    )
    steps = routing.plan(on_call, line, relative=relative)
    asked = [Tier(name) for name in tiers] if relative else [Tier.PRIMARY, Tier.BACKUP]
    flat = [target for step in steps for target in step]
    assert [target.counsellor_id for target in flat] == _expected_order(on_call, asked)
    assert all(step for step in steps)  # no empty step
    assert all(target.phone == person(target.counsellor_id).phone for target in flat)
    assert len(steps) <= (1 if ring_all else len(set(asked)))


@given(on_call=on_calls, exclude=st.sets(st.integers(min_value=1, max_value=6)))
def test_first_reachable_is_who_a_call_would_ring_first(on_call: OnCall, exclude: set[int]) -> None:
    reached = routing.first_reachable(on_call, exclude=exclude)
    order = [n for n in _expected_order(on_call, routing.TIERS) if n not in exclude]
    if not order:
        assert reached is None
        return
    assert reached is not None
    assert reached.counsellor_id == order[0]
    in_primary = any(p.id == reached.counsellor_id for p in on_call.primary)
    assert reached.tier is (Tier.PRIMARY if in_primary else Tier.BACKUP)
