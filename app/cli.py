"""The `hotline` command: serve, scheduler, db upgrade, backup, demo, rekey, apikey create, feed
issue, user add, simulate call, twilio check / configure."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import secrets
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import compose
from app.logs import configure_logging
from config.model import ConfigError
from config.settings import Settings, SettingsError
from foundation import apikeys, call_tallies, db, outbox, second_factor, signals, users
from foundation.clock import utcnow
from foundation.errors import DomainError
from foundation.models import ApiKey, Role, User
from foundation.teams import sync_teams
from hotline import providers
from scheduling.demo import demo_today, load_demo

log = logging.getLogger("hotline")
DEMO_KEY_NAME = "demo"
DEMO_ADMIN = "admin"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="konex hotline")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web service (schema upgraded on start)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="web worker processes (N > 1 needs PostgreSQL; about one per core)",
    )

    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="do not run the scheduler in this process (run `hotline scheduler` elsewhere)",
    )

    commands.add_parser("scheduler", help="run the scheduler alone (reminders, shift notices)")

    database = commands.add_parser("db", help="database schema")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser("upgrade", help="apply all migrations (Alembic)")

    backup = commands.add_parser(
        "backup", help="copy the SQLite database to PATH while the service runs"
    )
    backup.add_argument("path", help="file to write the copy to")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")

    commands.add_parser("demo", help="load demo counsellors and four weeks of rota")

    rekey = commands.add_parser(
        "rekey", help="re-encrypt stored client data with the first HOTLINE_ENCRYPTION_KEY"
    )
    rekey.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    key = commands.add_parser("apikey", help="API keys")
    key_commands = key.add_subparsers(dest="apikey_command", required=True)
    create = key_commands.add_parser("create", help="print a new API key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--team",
        action="append",
        default=[],
        help="team slug (repeatable); without it the key covers every team",
    )
    create.add_argument("--read-only", action="store_true", help="the key may only read")
    create.add_argument(
        "--expires-days", type=int, default=None, help="the key stops working after D days"
    )
    key_commands.add_parser("list", help="list the keys (never their secret)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    feed = commands.add_parser("feed", help="calendar feeds")
    feed_commands = feed.add_subparsers(dest="feed_command", required=True)
    issue = feed_commands.add_parser("issue", help="print a new feed URL (shown once)")
    owner = issue.add_mutually_exclusive_group(required=True)
    owner.add_argument("--counsellor", type=int, help="a counsellor's shifts and appointments")
    owner.add_argument("--team", help="a team's rota (team slug)")
    issue.add_argument("--label", default="", help="e.g. phone, laptop")
    user = commands.add_parser("user", help="web accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create a web account (the first one: an admin)")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    add.add_argument("--team", action="append", default=[], help="team slug (repeatable)")
    add.add_argument("--counsellor-id", type=int, default=None)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    reset_2fa = user_commands.add_parser(
        "reset-2fa", help="reset a lost second factor (the account enrols again)"
    )
    reset_2fa.add_argument("--username", required=True)

    twilio = commands.add_parser("twilio", help="the settings of the numbers at Twilio")
    twilio_commands = twilio.add_subparsers(dest="twilio_command", required=True)
    twilio_commands.add_parser(
        "check", help="show what differs from what the service needs (exit 1 while anything does)"
    )
    twilio_commands.add_parser("configure", help="set what differs at Twilio, then check again")

    simulate = commands.add_parser("simulate", help="walk a call through the service, no phone")
    simulate_commands = simulate.add_subparsers(dest="simulate_command", required=True)
    call = simulate_commands.add_parser(
        "call", help="simulate a call to a line, printed step by step"
    )
    call.add_argument("--line", required=True, help="line slug, e.g. islamism")
    call.add_argument(
        "--counsellors",
        choices=["accept", "mailbox", "wrong-key", "busy", "no-answer", "failed"],
        default="accept",
        help="what every counsellor on call does (default: presses 1)",
    )
    call.add_argument("--fallback", choices=["answer", "no-answer", "busy"], default="answer")
    call.add_argument("--relative", action="store_true", help="press 2 at the relatives menu")
    call.add_argument(
        "--language",
        default="",
        metavar="KEY",
        help="press this key at the language menu (1: the line's first language)",
    )
    call.add_argument(
        "--voicemail", type=int, default=20, metavar="SECONDS", help="message length (0: none)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        settings = Settings.from_environ()
    except (ConfigError, SettingsError) as exc:
        print(f"hotline: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    handler = {
        "serve": _serve,
        "scheduler": _scheduler,
        "db": _db_upgrade,
        "backup": _backup,
        "demo": _demo,
        "apikey": _apikey,
        "simulate": _simulate_call,
        "user": _user,
        "rekey": _rekey,
        "feed": _feed_issue,
        "twilio": _twilio,
    }[args.command]
    try:
        return handler(settings, args)
    except db.SchemaTooNew as exc:
        print(f"hotline: refusing to start: {exc}", file=sys.stderr)
        return 2


def _prepare(settings: Settings) -> db.Database:
    """Schema up to date and teams mirrored from the configuration; rota changes made through
    this process reach the web processes at once (`foundation.signals`)."""
    db.upgrade(settings.database_url)
    signals.ROTA.watch()
    database = db.Database(db.make_engine(settings.database_url))
    with database.write() as session:
        sync_teams(session, settings.config)
        call_tallies.keep_zone(session.connection(), settings.config.organisation.timezone)
    return database


def _scheduler(settings: Settings, _args: argparse.Namespace) -> int:
    from scheduling.scheduler import run_forever

    database = _prepare(settings)
    mode = "simulation mode: messages go to the outbox" if settings.simulation else "live Twilio"
    print(f"konex hotline scheduler — {mode}, database {_safe_url(settings.database_url)}")
    sys.stdout.flush()
    try:
        run_forever(compose.jobs(database, settings, providers.for_settings(database, settings)))
    finally:
        database.dispose()
    return 0


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    db.upgrade(settings.database_url)
    database = db.Database(db.make_engine(settings.database_url))
    try:
        with database.write() as session:
            zone = settings.config.organisation.timezone
            if call_tallies.keep_zone(session.connection(), zone):
                print(f"the reports' call tallies are now kept in {zone}")
    finally:
        database.dispose()
    print("database schema is up to date")
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    """SQLite's online backup of the configured database; never migrates or changes it."""
    from pathlib import Path

    from foundation import backup

    try:
        size = backup.backup(settings.database_url, Path(args.path), force=args.force)
    except backup.NotSQLite as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except (backup.BackupError, OSError) as exc:
        print(f"hotline: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {_safe_url(settings.database_url)} to {args.path} ({size} bytes)")
    return 0


def _demo(settings: Settings, _args: argparse.Namespace) -> int:
    database = _prepare(settings)
    with database.write() as session:
        loaded = load_demo(
            session, settings.config, demo_today(utcnow(), settings.config), settings
        )
    database.dispose()
    if not loaded:
        print("the database already has counsellors: demo data not loaded", file=sys.stderr)
        return 1
    print("demo data loaded: counsellors for every team, four weeks of rota and a few clients")
    return 0


def _rekey(settings: Settings, args: argparse.Namespace) -> int:
    """Seal every encrypted column again with the first key, so older keys can be dropped."""
    from foundation import crypto

    if args.batch_size < 1:
        print("hotline: --batch-size must be at least 1", file=sys.stderr)
        return 2
    database = _prepare(settings)
    try:
        counts = crypto.rekey(database, crypto.box(settings), batch=args.batch_size)
    except crypto.DecryptionError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    for count in counts:
        print(f"{count.table}: {count.rows} rows, {count.resealed} values re-encrypted")
    print("every encrypted value now uses the first key; older keys may be removed")
    return 0


def _feed_issue(settings: Settings, args: argparse.Namespace) -> int:
    """A fresh feed URL, printed once, alone on the last line (only its hash is stored)."""
    from foundation.teams import team_by_slug
    from scheduling.feeds import tokens

    database = _prepare(settings)
    try:
        with database.write() as session:
            team_id = None
            if args.team is not None:
                team_id = team_by_slug(session, args.team, settings.config).id
            _, plain = tokens.issue(
                session,
                counsellor_id=args.counsellor,
                team_id=team_id,
                label=args.label or "Kalender",
                actor="cli",
            )
    except DomainError as exc:
        print(f"hotline: {exc.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    owner = f"counsellor {args.counsellor}" if args.team is None else f"team {args.team!r}"
    print(f"Feed URL for {owner} created. It is shown only this once; subscribe to it now:")
    print(tokens.feed_url(settings.public_url, plain))
    return 0


def _apikey(settings: Settings, args: argparse.Namespace) -> int:
    database = _prepare(settings)
    try:
        with database.write() as session:
            if args.apikey_command == "create":
                key, plain = apikeys.create_api_key(
                    session,
                    args.name,
                    actor="cli",
                    teams=args.team,
                    read_only=args.read_only,
                    expires_days=args.expires_days,
                )
                lines = [
                    f"API key {key.id} {args.name!r} created ({_key_scope(key)}). "
                    "It is shown only this once; store it now:",
                    plain,
                ]
            elif args.apikey_command == "list":
                lines = [_key_line(key) for key in apikeys.list_keys(session)] or ["no API keys"]
            else:
                key = apikeys.revoke(session, args.id, actor="cli")
                lines = [f"API key {key.id} {key.name!r} revoked"]
    except DomainError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print("\n".join(lines))
    return 0


def _key_scope(key: ApiKey) -> str:
    teams = "every team" if key.all_teams else "teams " + ", ".join(t.slug for t in key.teams)
    expiry = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
    return f"{teams}, {'read-only' if key.read_only else 'read and write'}{expiry}"


def _key_line(key: ApiKey) -> str:
    if key.revoked_at is not None:
        state = f"revoked {key.revoked_at:%Y-%m-%d}"
    elif not apikeys.is_live(key):
        state = "expired"
    else:
        state = "live"
    used = f"{key.last_used_at:%Y-%m-%d %H:%M} UTC" if key.last_used_at else "never"
    return f"{key.id}\t{key.name}\t{state}\t{_key_scope(key)}\tlast used {used}"


# More web processes than this a core only compete for it (and for the database's connections);
# a larger --workers is a typo, refused before any process starts.
MAX_WORKERS_PER_CORE = 4


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app

    if args.workers < 1:
        print("hotline: --workers must be at least 1", file=sys.stderr)
        return 2
    most = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
    if args.workers > most:
        print(
            f"hotline: --workers {args.workers} is more than {most} ({MAX_WORKERS_PER_CORE} a "
            "core): about one per core serves best, and each holds its own database connections",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and settings.database_url.startswith("sqlite"):
        print(
            f"hotline: --workers {args.workers} needs PostgreSQL: SQLite lets one process write "
            "at a time; serve with one worker, or set HOTLINE_DATABASE_URL to PostgreSQL",
            file=sys.stderr,
        )
        return 2
    database = _prepare(settings)
    base = f"http://{args.host}:{args.port}"
    if not os.environ.get("HOTLINE_PUBLIC_URL", "").strip():
        # Not behind a proxy: webhook signatures and feed links use the address served here.
        settings = dataclasses.replace(settings, public_url=base)
    demo_key = None
    demo_password = ""
    if args.demo:
        with database.write() as session:
            load_demo(session, settings.config, demo_today(utcnow(), settings.config), settings)
            # A fresh demo key on every demo start (the old one is revoked): its plain text is
            # never stored, so this is the only way to hand one out again.
            apikeys.revoke_named(session, DEMO_KEY_NAME, actor="demo")
            _, demo_key = apikeys.create_api_key(session, DEMO_KEY_NAME, actor="demo")
            demo_password = _demo_admin(session, settings)
    mode = "simulation mode (no Twilio credentials)" if settings.simulation else "live Twilio"
    print(f"konex hotline on {base} — {mode}, database {_safe_url(settings.database_url)}")
    print(f"  web page:      {base}/")
    print(f"  health:        {base}/healthz   {base}/readyz   {base}/metrics")
    print(f"  API document:  {base}/api/v1/openapi.json")
    print(
        f"  Twilio:        {settings.public_url}/twilio/voice "
        f"(fallback: {settings.fallback_base}/twilio/fallback)"
    )
    if settings.simulation:
        print("  try a call:    .venv/bin/hotline simulate call --line islamism")
    if demo_key:
        print(f"  demo sign-in:  {DEMO_ADMIN} / {demo_password}   (a new password on every start)")
        print(f"  demo API key (shown once): {demo_key}")
        print(
            f"  try: curl -H 'Authorization: Bearer {demo_key}' "
            f"'{base}/api/v1/oncall?team=islamism'"
        )
    if args.workers > 1:
        where = "not here" if args.no_scheduler else "once, in this supervising process"
        print(f"  processes:     {args.workers} web workers; the scheduler runs {where}")
    sys.stdout.flush()
    try:
        if args.workers == 1:
            uvicorn.run(
                create_app(
                    settings, database=database, jobs=None if args.no_scheduler else compose.jobs
                ),
                host=args.host,
                port=args.port,
                log_level="info",
                access_log=False,
            )
        else:
            _serve_workers(settings, database, args)
    finally:
        database.dispose()
    return 0


def _twilio(settings: Settings, args: argparse.Namespace) -> int:
    """Each number's settings at Twilio against what the service needs; `configure` sets what
    differs and reads them again. 0: all right; 1: something differs, a number is not in the
    account, or Twilio could not be asked; 2: no Twilio account or no public URL."""
    from hotline.providers import twilio_numbers as numbers

    command = f"hotline twilio {args.twilio_command}"
    problem = numbers.unusable(settings)
    if problem:
        print(f"{command}: {problem}", file=sys.stderr)
        return 2
    warning = numbers.fallback_warning(settings)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"voice under {settings.public_url}, fallback under {settings.fallback_base}")
    try:
        found = numbers.read(settings, numbers.wanted(settings))
        if args.twilio_command == "configure":
            for each in found:
                for difference in each.differences if each.sid else ():
                    print(
                        f"{each.wanted.label}: setting {difference.field} to {difference.needed!r}"
                    )
            found = numbers.configure(settings, found)
    except numbers.TwilioUnavailable as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    for each in found:
        if each.sid is None:
            print(
                f"{command}: {each.wanted.label}: not a number of this Twilio account",
                file=sys.stderr,
            )
        for difference in each.differences:
            print(f"{each.wanted.label}: {difference}")
        if each.right:
            print(f"{each.wanted.label}: ok")
    return 0 if all(each.right for each in found) else 1


def _serve_workers(settings: Settings, database: db.Database, args: argparse.Namespace) -> None:
    """`hotline serve --workers N`: uvicorn's supervisor starts N worker processes, each building
    the app from the environment (`app.server.create`), and restarts one that dies. The schema,
    the teams and the demo data were made ready here, once, before. The scheduler, unless
    --no-scheduler, runs once, in this process (a worker never runs it): N workers would poll N
    times over for nothing (every message is sent once however many run), and a worker that
    dies and is started again must not take it along."""
    import uvicorn

    from app import server
    from scheduling.scheduler import Scheduler

    # Spawned workers read their settings from the environment: what this command derived
    # from its options goes there too.
    os.environ["HOTLINE_PUBLIC_URL"] = settings.public_url
    scheduler = None
    if not args.no_scheduler:
        scheduler = Scheduler(
            compose.jobs(database, settings, providers.for_settings(database, settings))
        )
        scheduler.start()
    try:
        config = uvicorn.Config(
            "app.server:create",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="info",
            access_log=False,
        )
        server.run_workers(config)  # uvicorn.run(workers=N), but with TCP_NODELAY
    finally:
        if scheduler is not None:
            scheduler.shutdown()


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())


def _simulate_call(settings: Settings, args: argparse.Namespace) -> int:
    from app.asgi import post_form
    from app.simulator import Behaviour, Simulator
    from web.app import create_app

    line = settings.config.lines.get(args.line)
    if line is None:
        known = ", ".join(sorted(settings.config.lines))
        print(f"hotline: unknown line {args.line!r} (known: {known})", file=sys.stderr)
        return 2
    database = _prepare(settings)
    try:
        with database.read() as session:
            before = {message.id for message in outbox.recent(session, settings)}
        app = create_app(settings, database=database)
        simulator = Simulator(
            lambda path, params, headers: post_form(app, path, params, headers),
            settings.public_url,
            settings.webhook_tokens()[0],
        )
        behaviour = Behaviour(
            default=args.counsellors,
            fallback=args.fallback,
            menu_digits="2" if args.relative else "",
            language_digits=args.language,
            voicemail_seconds=max(0, args.voicemail),
        )
        walk = simulator.call(line.number, caller="anonymous", behaviour=behaviour)
        with database.read() as session:
            sent = [m for m in outbox.recent(session, settings) if m.id not in before]
    finally:
        database.dispose()
    names = _counsellor_names(settings)
    print(f"simulated call to {line.display_name} ({line.number}):")
    for kind, detail in walk.events:
        if kind == "say":
            continue  # printed with its language, as "spoken"
        if kind == "spoken":
            text, language, _voice = detail.split("\x1f")
            kind, detail = f"say ({language})", text
        print(f"  {kind:<18} {names.get(detail, detail)}".rstrip())
    for message in reversed(sent):
        label = f"sms ({message.status})"
        print(f"  {label:<18} to {names.get(message.to, message.to)}: {message.body}")
    return 0


def _counsellor_names(settings: Settings) -> dict[str, str]:
    from sqlalchemy import select

    from foundation.models import Counsellor

    database = db.Database(db.make_engine(settings.database_url))
    try:
        with database.read() as session:
            return {c.phone: f"{c.name} ({c.phone})" for c in session.scalars(select(Counsellor))}
    finally:
        database.dispose()


def _demo_admin(session: Session, settings: Settings) -> str:
    """The demo's admin account, with a fresh random password (printed, never stored)."""
    password = secrets.token_urlsafe(12)
    existing = session.scalar(select(User).where(User.username == DEMO_ADMIN))
    if existing is None:
        users.create_user(
            session,
            settings.config,
            users.NewUser(DEMO_ADMIN, password, Role.ADMIN, tuple(settings.config.teams)),
            actor="demo",
        )
    else:
        users.set_password(session, existing, password, actor="demo")
    return password


def _user(settings: Settings, args: argparse.Namespace) -> int:
    return (
        _reset_second_factor(settings, args)
        if args.user_command == "reset-2fa"
        else (_user_add(settings, args))
    )


def _reset_second_factor(settings: Settings, args: argparse.Namespace) -> int:
    database = _prepare(settings)
    try:
        with database.write() as session:
            name = second_factor.reset_named(session, args.username, actor="cli")
    except DomainError as exc:
        print(f"hotline: {exc.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"second factor of {name!r} reset: the account enrols again at its next sign-in")
    return 0


def _user_add(settings: Settings, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("hotline: the passwords differ", file=sys.stderr)
            return 1
    database = _prepare(settings)
    try:
        with database.write() as session:
            user = users.create_user(
                session,
                settings.config,
                users.NewUser(
                    args.username, password, Role(args.role), tuple(args.team), args.counsellor_id
                ),
                actor="cli",
            )
            name, role = user.username, user.role.value
    except DomainError as exc:
        print(f"hotline: {exc.message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"user {name!r} ({role}) created")
    return 0
