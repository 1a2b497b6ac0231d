"""The calls' tallies for the reports (issue 17), kept by the database itself.

A yearly report read the calls of two years (133,000 of them for a busy team) and hashed them
per caller, hour and language on every view: 400 ms of a report that must take under 300 ms
(bench/README.md, "reports"). These tables keep what that grouping gives, as calls come in:

- `call_tallies`: per line, local day (days since 1970-01-01 on the organisation's wall
  clock), caller (the keyed hash; "" for a withheld number or with hashing off) and language
  ("" when not known): how many calls (`n_calls`, in progress too: a caller's earlier calls
  make her a repeat caller), how many of them ended (`n_counted`), per outcome category and
  tier, of relatives, and the ended ones per local hour of the day (`h00`..`h23`);
- `call_tally_seconds`: per line, local month (year * 12 + month - 1), kind (1: ring, 2:
  talk) and whole second: how many accepted calls rang or talked that long (the report's
  medians and 90th percentiles).

Triggers on `calls` keep both right on every INSERT, UPDATE (of what they count) and DELETE,
whoever writes: the call's progress, an erasure that replaces the caller's hash, the
retention's roll-up that deletes the detail. Hand-written SQL because no library keeps
aggregates in the database; the same statement text serves a trigger (the new or old row)
and the backfill (`rebuild`, every row of `calls`), on PostgreSQL (a PL/pgSQL function) and
SQLite (trigger bodies). A local day needs the zone's UTC offsets, which SQLite cannot compute:
both read them from the table `tally_offsets` (every transition of the zone from 1970 to 2100,
from Python's zoneinfo, as the reports' own `hotline.reports.offsets`, with the zone's name).
A report reads the tallies only when that is the configured zone (`zone_of`), the detail
otherwise; `rezone` rebuilds them for another zone.

Migration 0031 creates them (`statements(dialect, zone)` as of that migration: a later change
to what is tallied comes with a migration of its own); `Base.metadata.create_all` (the tests)
too, for Europe/Berlin.
"""

# ruff: noqa: S608 - every statement is built from this module's constants, never from input
# (the one name from outside, the zone, is a zoneinfo key, quoted).
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from foundation.db import one_at_a_time

DEFAULT_ZONE = "Europe/Berlin"
FIRST_YEAR, LAST_YEAR = 1970, 2100  # the offsets' span
RING, TALK = 1, 2  # call_tally_seconds.kind

# (column, what it counts of a call) in the order of the columns; `counted` is "the call ended"
# (hotline.reports.counted), `accepted` "ended accepted" (hotline.reports.accepted).
COUNTS: tuple[tuple[str, str], ...] = (
    ("n_calls", "1"),
    ("n_counted", "counted"),
    ("n_outside", "outside"),
    ("n_accepted", "accepted"),
    ("n_fallback", "within_hours * fallback"),
    ("n_voicemail", "within_hours * voicemail"),
    ("n_hung_up", "within_hours * hung_up"),
    ("n_primary", "accepted * is_primary"),
    ("n_backup", "accepted * is_backup"),
    ("n_untiered", "accepted * untiered"),
    ("n_relatives", "counted * relative"),
)
HOURS = tuple(f"h{hour:02d}" for hour in range(24))
# What the report groups per caller and language (hotline.reports._calls_tallied): included in
# the index on (line, day) on PostgreSQL, so that a period's rows are read from the index alone
# (bench/README.md: 616 against 498-522 ms for the yearly report). The hour columns as well
# would pass PostgreSQL's 32 columns of an index: the heat map reads them from a second one,
# on (line, day, caller) with `HEAT` (migration 0032: without it the heat map read the table,
# whose pages of a busy server are not all in shared buffers; the calls' statement took 118
# against 66-70 ms).
REPORTED = (
    "caller",
    "language",
    "n_counted",
    "n_outside",
    "n_accepted",
    "n_fallback",
    "n_voicemail",
    "n_hung_up",
    "n_primary",
    "n_backup",
    "n_untiered",
    "n_relatives",
)
HEAT = ("n_counted", *HOURS)  # what the heat map reads per caller (in the index on PostgreSQL)
COUNT_COLUMNS = tuple(name for name, _ in COUNTS) + HOURS
KEY = ("line", "day", "caller", "language")
WATCHED = (  # the columns of `calls` the tallies depend on
    "line",
    "started_at",
    "caller_hash",
    "language",
    "outcome",
    "closed_reason",
    "accepted_tier",
    "from_relative",
    "ring_seconds",
    "talk_seconds",
)
OBJECTS_PG = (
    "DROP TRIGGER IF EXISTS calls_tally_rows ON calls",
    "DROP TRIGGER IF EXISTS calls_tally_update ON calls",
    "DROP FUNCTION IF EXISTS calls_tally_trigger()",
    "DROP FUNCTION IF EXISTS call_tally(calls, integer)",
)
OBJECTS_SQLITE = (
    "DROP TRIGGER IF EXISTS calls_tally_insert",
    "DROP TRIGGER IF EXISTS calls_tally_delete",
    "DROP TRIGGER IF EXISTS calls_tally_update",
)


def offsets(zone: str) -> list[tuple[int, int]]:
    """The zone's UTC offsets from 1970 to 2100: (from this second since 1970, offset in
    seconds), the first from 0. Found day by day, then to the minute."""
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        found = at.astimezone(tz).utcoffset()
        return int(found.total_seconds()) if found else 0

    day = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
    found = [(0, offset(day))]
    while day < end:
        following = day + timedelta(days=1)
        if offset(following) != found[-1][1]:
            minute = day
            while offset(minute + timedelta(hours=1)) == found[-1][1]:
                minute += timedelta(hours=1)
            while offset(minute) == found[-1][1]:
                minute += timedelta(minutes=1)
            found.append((int(minute.timestamp()), offset(minute)))
        day = following
    return found


def _epoch(dialect: str, column: str) -> str:
    """Whole seconds since 1970 of a stored instant, its fraction dropped (as
    hotline.reports.epoch)."""
    if dialect == "postgresql":
        return f"floor(date_part('epoch', {column}))::bigint"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _local(dialect: str, row: str) -> str:
    seconds = _epoch(dialect, f"{row}started_at")
    return (
        f"{seconds} + coalesce((SELECT o.utc_offset FROM tally_offsets o WHERE o.starts <= "
        f"{seconds} ORDER BY o.starts DESC LIMIT 1), 0)"
    )


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _facts(dialect: str, row: str) -> str:
    """One call's facts as 0/1 flags, a FROM-less SELECT (`row`: "NEW.", "c." or "calls.")."""
    outcomes = "'accepted', 'fallback', 'voicemail', 'hung_up'"
    within = f"{row}closed_reason IS NULL"
    tier = f"{row}accepted_tier"
    flags = {
        "counted": f"{row}closed_reason IS NOT NULL OR {row}outcome IN ({outcomes})",
        "outside": f"{row}closed_reason IS NOT NULL",
        "within_hours": within,
        "accepted": f"{within} AND {row}outcome = 'accepted'",
        "fallback": f"{row}outcome = 'fallback'",
        "voicemail": f"{row}outcome = 'voicemail'",
        "hung_up": f"{row}outcome = 'hung_up'",
        "is_primary": f"{tier} = 'primary'",
        "is_backup": f"{tier} = 'backup'",
        "untiered": f"{tier} IS NULL",
        "relative": f"{row}from_relative",
    }
    columns = [
        f"{row}line AS line",
        f"{_local(dialect, row)} AS loc",
        f"coalesce({row}caller_hash, '') AS caller",
        f"coalesce({row}language, '') AS language",
        *(f"{_flag(condition)} AS {name}" for name, condition in flags.items()),
        f"{row}ring_seconds AS ring",
        f"{row}talk_seconds AS talk",
    ]
    return "SELECT " + ", ".join(columns)


FLAGS = (
    "counted",
    "outside",
    "within_hours",
    "accepted",
    "fallback",
    "voicemail",
    "hung_up",
    "is_primary",
    "is_backup",
    "untiered",
    "relative",
)


def _fence(dialect: str) -> str:
    """What keeps the database from merging a subquery into the one around it, where it would
    evaluate the local time (an index probe) once for each of the 26 columns that use it: 70 s
    instead of 9 s to tally 500,000 calls on PostgreSQL (an OFFSET stops both databases'
    flattening; SQLite's needs a LIMIT, which PostgreSQL refuses as a negative one)."""
    return " OFFSET 0" if dialect == "postgresql" else " LIMIT -1 OFFSET 0"


def _facts_table(dialect: str, facts: str) -> str:
    """`facts` with the local day and hour: the columns the tallies are made of."""
    fence = _fence(dialect)
    return (
        "SELECT line, CAST(loc / 86400 AS INTEGER) AS day, CAST((loc % 86400) / 3600 AS INTEGER)"
        f" AS hour, caller, language, {', '.join(FLAGS)}, ring, talk FROM ({facts}{fence}) AS f"
        f"{fence}"
    )


def _month(dialect: str, day: str) -> str:
    if dialect == "postgresql":
        start = f"(date '1970-01-01' + CAST({day} AS integer))"
        return f"(extract(year FROM {start}) * 12 + extract(month FROM {start}) - 1)::integer"
    start = f"{day} * 86400, 'unixepoch'"
    return (
        f"(CAST(strftime('%Y', {start}) AS INTEGER) * 12"
        f" + CAST(strftime('%m', {start}) AS INTEGER) - 1)"
    )


def _values(sign: str, grouped: bool) -> list[str]:
    """The counts of the tallies' columns, times `sign`; summed when `grouped`."""
    found = [f"{sign} * ({what})" for _, what in COUNTS]
    found += [f"{sign} * counted * {_flag(f'hour = {hour}')}" for hour in range(24)]
    return [f"sum({value})" if grouped else value for value in found]


def _upsert(
    dialect: str, facts: str, sign: str, grouped: bool = False, accepted: str | None = None
) -> list[str]:
    """The statements that add a call's (or, grouped, every call's) counts to both tables;
    `accepted`: the facts of the accepted calls only, if other than `facts`."""
    source = _facts_table(dialect, facts)
    accepted_source = _facts_table(dialect, accepted) if accepted else None
    columns = [*KEY, *COUNT_COLUMNS]
    values = ", ".join(_values(sign, grouped))
    # Grouped (the backfill), in the order calls come in: a period's rows then lie together on
    # disk, as they do for the rows the triggers add day by day (the planner then reads a
    # year through the index; in hash order it read the whole table: 192 against 143 ms).
    group = " GROUP BY line, day, caller, language ORDER BY day, line" if grouped else ""
    updates = ", ".join(f"{name} = call_tallies.{name} + excluded.{name}" for name in COUNT_COLUMNS)
    tally = (
        f"INSERT INTO call_tallies ({', '.join(columns)}) "
        f"SELECT line, day, caller, language, {values} FROM ({source}) AS t WHERE true{group} "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
    )
    # One pass over the accepted calls for both kinds (a union read them twice).
    which = f"CASE k.kind WHEN {RING} THEN t.ring ELSE t.talk END"
    kinds = f"(SELECT {RING} AS kind UNION ALL SELECT {TALK}) AS k"
    seconds = (
        f"SELECT t.line, {_month(dialect, 't.day')} AS month, k.kind, {which} AS seconds "
        f"FROM ({accepted_source or source}) AS t CROSS JOIN {kinds} "
        f"WHERE t.accepted = 1 AND {which} IS NOT NULL"
    )
    count = f"sum({sign})" if grouped else sign
    group = " GROUP BY line, month, kind, seconds" if grouped else ""
    second = (
        "INSERT INTO call_tally_seconds (line, month, kind, seconds, n_calls) "
        f"SELECT line, month, kind, seconds, {count} FROM ({seconds}) AS s WHERE true{group} "
        "ON CONFLICT (line, month, kind, seconds) DO UPDATE SET "
        "n_calls = call_tally_seconds.n_calls + excluded.n_calls"
    )
    return [tally, second]


def _emptied(dialect: str, row: str) -> list[str]:
    """Deletes the rows a removed call left at zero."""
    local = _local(dialect, row)
    day = f"({local}) / 86400"
    return [
        f"DELETE FROM call_tallies WHERE n_calls <= 0 AND line = {row}line "
        f"AND day = {day} AND caller = coalesce({row}caller_hash, '') "
        f"AND language = coalesce({row}language, '')",
        f"DELETE FROM call_tally_seconds WHERE n_calls <= 0 AND line = {row}line "
        f"AND month = {_month(dialect, day)}",
    ]


def _offsets(zone: str) -> list[str]:
    """The rows of `tally_offsets` for `zone` (a table: the triggers' lookup is one probe of
    its primary key)."""
    quoted = zone.replace("'", "''")
    rows = ", ".join(f"({starts}, {offset}, '{quoted}')" for starts, offset in offsets(zone))
    return [
        "DELETE FROM tally_offsets",
        f"INSERT INTO tally_offsets (starts, utc_offset, zone) VALUES {rows}",
    ]


def statements(dialect: str, zone: str = DEFAULT_ZONE) -> list[str]:
    """The zone's offsets, and the functions and triggers that keep the tallies (dropped first
    if there)."""
    drops = OBJECTS_PG if dialect == "postgresql" else OBJECTS_SQLITE
    found = [*drops, *_offsets(zone)]
    if dialect == "postgresql":
        adds = "; ".join(_upsert(dialect, _facts(dialect, "c."), "sgn"))
        emptied = "; ".join(_emptied(dialect, "c."))
        changed = ", ".join(WATCHED)
        old = ", ".join(f"OLD.{name}" for name in WATCHED)
        new = ", ".join(f"NEW.{name}" for name in WATCHED)
        found += [
            "CREATE FUNCTION call_tally(c calls, sgn integer) RETURNS void LANGUAGE plpgsql AS "
            f"$tally$ BEGIN {adds}; IF sgn < 0 THEN {emptied}; END IF; END $tally$",
            "CREATE FUNCTION calls_tally_trigger() RETURNS trigger LANGUAGE plpgsql AS $trigger$ "
            "BEGIN IF TG_OP <> 'INSERT' THEN PERFORM call_tally(OLD, -1); END IF; "
            "IF TG_OP <> 'DELETE' THEN PERFORM call_tally(NEW, 1); END IF; RETURN NULL; "
            "END $trigger$",
            "CREATE TRIGGER calls_tally_rows AFTER INSERT OR DELETE ON calls "
            "FOR EACH ROW EXECUTE FUNCTION calls_tally_trigger()",
            f"CREATE TRIGGER calls_tally_update AFTER UPDATE OF {changed} ON calls FOR EACH ROW "
            f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION calls_tally_trigger()",
        ]
        return found

    def steps(*parts: list[str]) -> str:
        return " ".join(f"{statement};" for part in parts for statement in part)

    add_new = _upsert(dialect, _facts(dialect, "NEW."), "1")
    remove_old = _upsert(dialect, _facts(dialect, "OLD."), "-1") + _emptied(dialect, "OLD.")
    changed = " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in WATCHED)
    found += [
        f"CREATE TRIGGER calls_tally_insert AFTER INSERT ON calls BEGIN {steps(add_new)} END",
        f"CREATE TRIGGER calls_tally_delete AFTER DELETE ON calls BEGIN {steps(remove_old)} END",
        f"CREATE TRIGGER calls_tally_update AFTER UPDATE ON calls WHEN {changed} "
        f"BEGIN {steps(remove_old, add_new)} END",
    ]
    return found


def rebuild_statements(dialect: str) -> list[str]:
    """Empty both tables and tally every call again (set-based)."""
    every = _facts(dialect, "calls.") + " FROM calls"
    accepted = every + " WHERE calls.closed_reason IS NULL AND calls.outcome = 'accepted'"
    postgres = dialect == "postgresql"
    return [
        *(["SET LOCAL jit = off"] if postgres else []),  # 1.4 s to compile
        "DELETE FROM call_tallies",
        "DELETE FROM call_tally_seconds",
        *_upsert(dialect, every, "1", grouped=True, accepted=accepted),
        # The planner's statistics of the new rows (without, it guessed 8 rows for 62,794 and
        # sorted instead of hashing); autovacuum would take a while to get there.
        *(["ANALYZE call_tallies", "ANALYZE call_tally_seconds"] if postgres else []),
    ]


def _run(connection: Connection, statements_: Sequence[str]) -> None:
    for statement in statements_:
        # As written: no placeholders (psycopg would read the % of a modulo as one).
        connection.exec_driver_sql(statement, execution_options={"no_parameters": True})


def install(connection: Connection, zone: str = DEFAULT_ZONE) -> None:
    """The offsets of `zone`, and the functions and triggers (replaced if there)."""
    _run(connection, statements(connection.dialect.name, zone))


def rebuild(connection: Connection) -> None:
    """Tally every call again."""
    _run(connection, rebuild_statements(connection.dialect.name))


def rezone(connection: Connection, zone: str) -> None:
    """The tallies of `zone` (another day and hour for calls near midnight): its offsets,
    and every call tallied again."""
    install(connection, zone)
    rebuild(connection)


def keep_zone(connection: Connection, zone: str) -> bool:
    """The tallies in `zone` (the configuration's), rezoned if they are in another: at the
    start of every process and by `hotline db upgrade`. True if it rezoned. On PostgreSQL one
    process at a time (`foundation.db.one_at_a_time`): the others then find them in `zone`."""
    if zone_of(connection) == zone:
        return False
    if connection.dialect.name == "postgresql":
        one_at_a_time(connection)
        if zone_of(connection) == zone:
            return False
    rezone(connection, zone)
    return True


def zone_of(connection: Connection) -> str | None:
    """The zone the tallies are kept in (None: none, the tallies are not kept)."""
    return connection.execute(text("SELECT max(zone) FROM tally_offsets")).scalar()


def drop(connection: Connection) -> None:
    _run(connection, OBJECTS_PG if connection.dialect.name == "postgresql" else OBJECTS_SQLITE)


def before_drop(_target: Any, connection: Connection, **_kw: Any) -> None:
    """`Base.metadata`'s hook: what `after_create` made goes before the tables."""
    drop(connection)


def after_create(_target: Any, connection: Connection, **_kw: Any) -> None:
    """`Base.metadata`'s hook: the tallies' objects next to the tables create_all made."""
    install(connection)
