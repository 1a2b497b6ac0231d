"""The `hotline` command: serve, db upgrade, demo, apikey create."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from config.model import ConfigError
from config.settings import Settings, SettingsError
from hotline import apikeys, db
from hotline.models import utcnow
from scheduling.demo import demo_today, load_demo
from scheduling.teams import sync_teams

log = logging.getLogger("hotline")
DEMO_KEY_NAME = "demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="konex hotline")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web service (schema upgraded on start)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")

    database = commands.add_parser("db", help="database schema")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser("upgrade", help="apply all migrations (Alembic)")

    commands.add_parser("demo", help="load demo counsellors and four weeks of rota")

    key = commands.add_parser("apikey", help="API keys")
    key_commands = key.add_subparsers(dest="apikey_command", required=True)
    create = key_commands.add_parser("create", help="print a new API key (shown once)")
    create.add_argument("--name", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_environ()
    except (ConfigError, SettingsError) as exc:
        print(f"hotline: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    handler = {
        "serve": _serve,
        "db": _db_upgrade,
        "demo": _demo,
        "apikey": _apikey_create,
    }[args.command]
    return handler(settings, args)


def _prepare(settings: Settings) -> db.Database:
    """Schema up to date and teams mirrored from the configuration."""
    db.upgrade(settings.database_url)
    database = db.Database(db.make_engine(settings.database_url))
    with database.write() as session:
        sync_teams(session, settings.config)
    return database


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    db.upgrade(settings.database_url)
    print("database schema is up to date")
    return 0


def _demo(settings: Settings, _args: argparse.Namespace) -> int:
    database = _prepare(settings)
    with database.write() as session:
        loaded = load_demo(session, settings.config, demo_today(utcnow(), settings.config))
    database.dispose()
    if not loaded:
        print("the database already has counsellors: demo data not loaded", file=sys.stderr)
        return 1
    print("demo data loaded: counsellors for every team and four weeks of rota")
    return 0


def _apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    database = _prepare(settings)
    try:
        with database.write() as session:
            _, plain = apikeys.create_api_key(session, args.name, actor="cli")
    except Exception as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"API key {args.name!r} created. It is shown only this once; store it now:")
    print(plain)
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app

    database = _prepare(settings)
    base = f"http://{args.host}:{args.port}"
    demo_key = None
    if args.demo:
        with database.write() as session:
            load_demo(session, settings.config, demo_today(utcnow(), settings.config))
            # A fresh demo key on every demo start (the old one is revoked): its plain text is
            # never stored, so this is the only way to hand one out again.
            apikeys.revoke_named(session, DEMO_KEY_NAME, actor="demo")
            _, demo_key = apikeys.create_api_key(session, DEMO_KEY_NAME, actor="demo")
    mode = "simulation mode (no Twilio credentials)" if settings.simulation else "live Twilio"
    print(f"konex hotline on {base} — {mode}, database {_safe_url(settings.database_url)}")
    print(f"  web page:      {base}/")
    print(f"  health:        {base}/healthz   {base}/readyz   {base}/metrics")
    print(f"  API document:  {base}/api/v1/openapi.json")
    if demo_key:
        print(f"  demo API key (shown once): {demo_key}")
        print(
            f"  try: curl -H 'Authorization: Bearer {demo_key}' "
            f"'{base}/api/v1/oncall?team=islamism'"
        )
    sys.stdout.flush()
    uvicorn.run(
        create_app(settings, database=database),
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=False,
    )
    database.dispose()
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
