"""Databases with the models' schema for the tests, made once per test process and reused.

Creating the schema is most of a database test's setup: `Base.metadata.create_all` takes about
a second on PostgreSQL (some sixty tables, their indexes and exclusion constraints) and dropping
the schema afterwards another 0.3 s, for each of some 800 PostgreSQL tests; on SQLite about
0.1 s each. Measured with the whole suite, that was a quarter of CI's time. So:

* SQLite: the schema is built once per process into a template file; each test gets a copy of
  that file (a file copy of some hundred kilobytes).
* PostgreSQL: a test's schema goes back to a per-process pool when it ends, emptied with one
  `TRUNCATE ... RESTART IDENTITY CASCADE` (ids start at 1 again, as in a new schema), and the
  next test takes it from there. A schema whose structure the test changed (a migration run
  over it, a table added or dropped: its fingerprint of columns, indexes and constraints differs
  from a fresh one's), or that cannot be emptied within a few seconds (a connection a test left
  open), is dropped instead, as every schema was before.

Tests that want an empty database (the migration tests) still take `db_url` alone and get a new
empty file or schema.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from foundation.db import Database, ensure_btree_gist, make_engine
from foundation.models import Base

_template: Path | None = None
_pools: dict[str, list[str]] = {}  # per server: schemas with the models' tables, no rows
_fingerprint: str | None = None
_admin: dict[str, Engine] = {}
# Rows create_all writes (the tallies' zone offsets, foundation.call_tallies): kept when a
# schema goes back to the pool.
KEPT_ROWS = frozenset({"tally_offsets"})
PREPARED: set[str] = set()  # URLs whose schema is in place: `database` skips create_all

_FINGERPRINT = text(
    """
    SELECT (
      coalesce((SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':'
                                  || coalesce(column_default, ''), ','
                                  ORDER BY table_name, column_name)
                FROM information_schema.columns WHERE table_schema = :schema), '')
      || '|' || coalesce((SELECT string_agg(indexdef, ',' ORDER BY indexname)
                          FROM pg_indexes WHERE schemaname = :schema), '')
      || '|' || coalesce((SELECT string_agg(c.conname || pg_get_constraintdef(c.oid), ','
                                            ORDER BY c.conname)
                          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                          WHERE n.nspname = :schema), '')
      || '|' || coalesce((SELECT string_agg(p.proname, ',' ORDER BY p.proname)
                          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = :schema), '')
      || '|' || coalesce((SELECT string_agg(t.tgname, ',' ORDER BY t.tgname)
                          FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid
                          JOIN pg_namespace n ON n.oid = r.relnamespace
                          WHERE n.nspname = :schema AND NOT t.tgisinternal), '')
    )
    """
)


def sqlite_copy(path: Path) -> str:
    """A new SQLite database at `path` with the models' schema (no rows); its URL."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="hotline-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "template.sqlite3"
        db = Database(make_engine(f"sqlite:///{template}"))
        Base.metadata.create_all(db.engine)
        db.dispose()  # the last connection closed: the WAL is checkpointed into the file
        _template = template
    shutil.copyfile(_template, path)
    url = f"sqlite:///{path}"
    PREPARED.add(url)
    return url


def _engine(base_url: str) -> Engine:
    if base_url not in _admin:
        _admin[base_url] = create_engine(base_url, pool_size=1, max_overflow=2)
        atexit.register(_drop_pool, base_url)
    return _admin[base_url]


def _url(base_url: str, schema: str) -> str:
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _fingerprint_of(engine: Engine, schema: str) -> str:
    """The schema's structure as text, its own name taken out (definitions name it)."""
    with engine.connect() as connection:
        found = str(connection.execute(_FINGERPRINT, {"schema": schema}).scalar_one())
    return found.replace(f'"{schema}".', "").replace(f"{schema}.", "")


def _drop(engine: Engine, schema: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _empty(engine: Engine, schema: str) -> bool:
    """Back to no rows and ids from 1, if its structure is still the models'; else False."""
    try:
        if _fingerprint_of(engine, schema) != _fingerprint:
            return False
        tables = ", ".join(
            f'"{schema}"."{table.name}"'
            for table in Base.metadata.sorted_tables
            if table.name not in KEPT_ROWS
        )
        with engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    except Exception:  # anything amiss: the schema is dropped, as before
        return False
    return True


@contextmanager
def postgresql_schema(base_url: str) -> Iterator[str]:
    """A PostgreSQL schema with the models' tables and no rows, from the pool or new; its URL
    (search path set to it). Back to the pool afterwards, or dropped."""
    global _fingerprint
    engine = _engine(base_url)
    pool = _pools.setdefault(base_url, [])
    if pool:
        schema = pool.pop()
    else:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with engine.begin() as connection:
            ensure_btree_gist(connection, "public")
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        built = make_engine(_url(base_url, schema))
        try:
            Base.metadata.create_all(built)
        finally:
            built.dispose()
        if _fingerprint is None:
            _fingerprint = _fingerprint_of(engine, schema)
    url = _url(base_url, schema)
    PREPARED.add(url)
    try:
        yield url
    finally:
        PREPARED.discard(url)
        if _empty(engine, schema):
            pool.append(schema)
        else:
            _drop(engine, schema)


def _drop_pool(base_url: str) -> None:
    engine = _admin.pop(base_url, None)
    if engine is None:
        return
    pool = _pools.pop(base_url, [])
    try:
        while pool:
            _drop(engine, pool.pop())
    finally:
        engine.dispose()
