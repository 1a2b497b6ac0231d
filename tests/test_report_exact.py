"""The calls' statement of the reports (issue 17, `hotline.reports._calls`: one grouping of the
calls per caller, hour of the week and language, then per line, per hour and per language) counts
exactly what the calls say: on seeded random histories (across the October DST change, withheld
numbers, repeat callers, relatives, tiers, languages, calls still ringing, another line's calls,
calls before both periods), every count and every number of distinct people before protection
equals a plain Python count of the same calls, on both databases. Calls come in at any
microsecond: one at 10:59:59.7 is in the hour of 10:00 (PostgreSQL rounded it into the next
hour before)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from foundation import reports as r
from foundation.db import Database
from foundation.models import Call
from hotline import reports as h

BERLIN = ZoneInfo("Europe/Berlin")
OCTOBER = r.between(date(2026, 10, 1), date(2026, 10, 31))
LINES = ["islamism"]
OUTCOMES = ("accepted", "fallback", "voicemail", "hung_up", None)
CATEGORY = {"accepted": "accepted", "fallback": "fallback", "voicemail": "voicemail"}
CATEGORY["hung_up"] = "abandoned"


def random_calls(seed: int, n: int = 300) -> list[Call]:
    rng = random.Random(seed)
    first = datetime(2026, 8, 20, tzinfo=UTC)  # before both periods too (first-time callers)
    span = (OCTOBER.end + timedelta(days=3) - first).total_seconds()
    found = []
    for i in range(n):
        if rng.random() < 0.2:  # crowd the night of the DST change
            at = datetime(2026, 10, 24, 23, tzinfo=UTC) + timedelta(seconds=rng.randrange(10800))
        else:
            at = first + timedelta(seconds=rng.randrange(int(span)))
        if rng.random() < 0.1:  # the last moments of an hour: still that hour
            at = at.replace(minute=59, second=59, microsecond=rng.randrange(500_000, 10**6))
        else:
            at += timedelta(microseconds=rng.randrange(10**6))
        outcome = rng.choice(OUTCOMES)
        accepted = outcome == "accepted"
        found.append(
            Call(
                call_sid=f"CA{seed:04d}{i:028d}",
                line=rng.choice([*LINES, "right-wing"] if rng.random() < 0.1 else LINES),
                state="completed" if outcome else "ringing",
                outcome=outcome,
                caller_hash=None if rng.random() < 0.15 else f"c{int(rng.paretovariate(1.1))}",
                started_at=at,
                accepted_tier=rng.choice(("primary", "backup", None)) if accepted else None,
                ring_seconds=rng.choice((None, rng.randint(1, 30))) if accepted else None,
                talk_seconds=rng.choice((None, rng.randint(1, 900))) if accepted else None,
                closed_reason="hours" if rng.random() < 0.1 else None,
                from_relative=rng.random() < 0.2,
                language=rng.choice(("de", "tr", "ar", None)),
            )
        )
    return found


class People:
    """A count and its people, as the reports count them: distinct hashes, a withheld number a
    person per call."""

    def __init__(self) -> None:
        self.n, self.hashes, self.withheld = 0, set[str](), 0

    def add(self, call: Call) -> None:
        self.n += 1
        if call.caller_hash is None:
            self.withheld += 1
        else:
            self.hashes.add(call.caller_hash)

    def raw(self) -> r.Raw:
        return r.Raw(self.n, len(self.hashes) + self.withheld)


def expected(calls: list[Call], period: r.Period = OCTOBER) -> dict[str, dict[Any, Any]]:
    previous = period.previous()
    table: dict[str, dict[Any, People]] = defaultdict(lambda: defaultdict(People))
    seconds: dict[str, dict[Any, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    callers: dict[Any, set[str]] = defaultdict(set)
    for call in calls:
        counted = call.closed_reason is not None or call.outcome is not None
        at = call.started_at
        if call.line not in LINES or not counted or not previous.start <= at < period.end:
            continue
        p, line = (h.NOW if at >= period.start else h.BEFORE), call.line
        category = "outside_hours" if call.closed_reason else CATEGORY[str(call.outcome)]
        table["categories"][(p, line, category)].add(call)
        code = call.language or r.UNKNOWN_LANGUAGE
        table["language calls"][(p, line, code)].add(call)
        if category == "accepted":
            table["tiers"][(p, line, call.accepted_tier or "")].add(call)
            table["language accepted"][(p, line, code)].add(call)
            for kind, value in (("ring", call.ring_seconds), ("talk", call.talk_seconds)):
                if value is not None:
                    histogram = seconds[kind][(p, line)]
                    histogram[value] = histogram.get(value, 0) + 1
        else:
            table["language rest"][(p, line, code)].add(call)
        if call.from_relative:
            table["relatives"][(p, line)].add(call)
        if call.caller_hash:
            callers[(p, line)].add(call.caller_hash)
        if p == h.NOW:
            local = at.astimezone(BERLIN)
            table["heat"][(line, local.weekday() * 24 + local.hour)].add(call)
    found: dict[str, dict[Any, Any]] = {
        name: {key: people.raw() for key, people in cells.items()} for name, cells in table.items()
    }
    found["callers"] = {key: r.Raw(len(v), len(v)) for key, v in callers.items()}
    firsts = {}
    for (p, line), hashes in callers.items():
        start = period.start if p == h.NOW else previous.start
        earlier = {c.caller_hash for c in calls if c.line == line and c.started_at < start}
        firsts[(p, line)] = r.Raw(len(hashes - earlier), len(hashes - earlier))
    found["first_time"] = firsts
    accepted = found["categories"]
    for kind in ("ring", "talk"):
        found[kind] = {
            key: r.RawTiming(histogram, accepted[(*key, "accepted")].people)
            for key, histogram in seconds[kind].items()
        }
    return found


def _nonzero(table: dict[Any, Any]) -> dict[Any, Any]:
    return {key: value for key, value in table.items() if getattr(value, "value", 1)}


# A range across the DST change: neither it nor the one before is whole months, so the
# tallies' histograms come partly from `call_tally_seconds`, partly from the calls.
AROUND = r.between(date(2026, 9, 14), date(2026, 10, 27))
COUNTINGS = {"detail": h._calls, "tallies": h._calls_tallied}


def changed(calls: list[Call], seed: int) -> tuple[list[Call], list[Call]]:
    """Some calls change after they were stored, as the service changes them (an outcome, the
    seconds, an erasure's new hash, a line's language) and some go (the retention): the
    tallies' triggers follow. Returns (the calls now, those deleted)."""
    rng = random.Random(-seed)
    kept, gone = [], []
    for call in calls:
        roll = rng.random()
        if roll < 0.1:
            gone.append(call)
            continue
        if roll < 0.2:
            call.outcome, call.accepted_tier = "accepted", rng.choice(("primary", None))
            call.talk_seconds = rng.randint(1, 900)
        elif roll < 0.25:
            call.caller_hash = "erased"
        elif roll < 0.3:
            call.language = "en"
            call.ring_seconds = None
        kept.append(call)
    return kept, gone


@pytest.mark.parametrize(
    ("seed", "period", "counting"),
    [
        (1, OCTOBER, "detail"),
        (2, OCTOBER, "detail"),
        (3, OCTOBER, "detail"),
        (1, OCTOBER, "tallies"),
        (2, OCTOBER, "tallies"),
        (3, AROUND, "tallies"),
        (4, AROUND, "detail"),
    ],
)
def test_every_count_and_its_people_as_a_plain_count_of_the_calls(
    database: Database, seed: int, period: r.Period, counting: str
) -> None:
    calls = random_calls(seed)
    with database.write() as session:
        session.add_all(calls)
    if counting == "tallies":  # then changed: the triggers keep up
        with database.write() as session:
            calls = [session.merge(call) for call in calls]
            calls, gone = changed(calls, seed)
            for call in gone:
                session.delete(call)
        with database.read() as session:
            calls = [session.merge(call) for call in calls]
    want = expected(calls, period)
    with database.read() as session:
        scope = h._Scope(LINES, period, session.get_bind().dialect.name)
        h.tune(session)
        raw = h._empty()
        COUNTINGS[counting](session, scope, raw)
    assert _nonzero(raw.categories) == want["categories"]
    assert _nonzero(raw.tiers) == want["tiers"]
    assert _nonzero(raw.relatives) == want["relatives"]
    assert _nonzero(raw.callers) == want["callers"]
    assert _nonzero(raw.first_time) == _nonzero(want["first_time"])
    assert _nonzero(raw.heat) == want["heat"]
    assert raw.ring == want["ring"]
    assert raw.talk == want["talk"]
    for i, name in enumerate(("language calls", "language accepted", "language rest")):
        got = {key: found[i] for key, found in raw.languages.items()}
        assert _nonzero(got) == want[name], name
