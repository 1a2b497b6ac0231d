"""Benchmark: the incoming-call webhook POST /twilio/voice under load, against a bare Starlette app.

    python bench/voice.py [--duration S] [--connections N] [--database-url URL] [--profile S]
                          [--workers N | --workers-compare [N]]

Builds a realistic rota (50 counsellors in the three configured teams, two years of daily
primary and backup shifts per team, a stand-in a month, a year of call records) in a temporary
SQLite file, or in a fresh schema of the PostgreSQL database of --database-url (dropped at the
end). Then, for each target in turn, serves it with uvicorn (one worker, its own process, a
loopback port, no access log, log level warning) and loads it with wrk (50 connections by
default), each request a signed POST with its own CallSid (bodies and signatures are computed
before the timed phase):

* ours: `web.app.create_app` over that database; every call is in service hours, so the webhook
        records the call and dials the counsellors on call (the expensive path);
* bare: the baseline, a Starlette app with the one route POST /twilio/voice answering the same
        TwiML document from a constant.

`--workers N` serves ours with N uvicorn worker processes (PostgreSQL only, as `hotline serve
--workers`); `--workers-compare [N]` measures ours with one worker and with N (default: the
machine's cores) in the same run, beside bare (always one worker), and prints the N-worker/
one-worker throughput ratio. Every worker builds the app from the environment
(`make_app` is uvicorn's factory in each spawned worker) and records its calls: the check of
the call records counts them all.

The service decides "open" by the wall clock: outside the islamism line's hours the server is
given a copy of the shipped configuration in which that line is open around the clock.
After the timed phase each target also answers one connection alone for a few seconds (latency
without queueing). `--profile S` then samples the server of ours with py-spy (the thread holding
the GIL) for S more seconds of the same load and prints where the time goes. Needs wrk
(`./scripts/bench voice` installs it with apt-get when it can; else `apt-get install -y wrk`)
and, for --profile, py-spy (`pip install py-spy`).

See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, insert, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from config.model import SHIPPED, WEEKDAYS, HotlineConfig, load_config
from config.settings import DEVELOPMENT_AUTH_TOKEN, Settings
from foundation.db import Database, make_engine, scratch_schema
from foundation.models import Base, Call, Counsellor, Shift, StandIn, Team, TeamMembership, Tier
from foundation.teams import sync_teams
from hotline import hours
from scheduling import shifts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' helpers

from tests.helpers import free_port  # noqa: E402

LINE = "islamism"
PATH = "/twilio/voice"
TEAM_SIZES = {"islamism": 20, "right-wing": 20, "office": 10}  # 50 counsellors
DAYS_BACK, DAYS_AHEAD = 365, 365  # two years of shifts around today
HANDOFF = clock(8, 0)  # daily shifts run 08:00 to 08:00 local time
CALLS_PER_DAY = 10  # call records of the past year
WARMUP_SECONDS = 3.0
ALONE_SECONDS = 3.0  # one connection: latency without queueing
ENV_DATABASE = "BENCH_VOICE_DATABASE_URL"
ENV_CONFIG = "BENCH_VOICE_CONFIG"
ENV_PUBLIC_URL = "BENCH_VOICE_PUBLIC_URL"
ENV_TWIML = "BENCH_VOICE_TWIML"
TARGET_RATIO = 0.5  # ours / bare throughput, at least
TARGET_P99_MS = 50.0

# wrk: each thread sends its slice of the precomputed requests (signature TAB body per line),
# each once while they last; counts answers that are not 200 with a <Number> (someone dialled).
WRK_SCRIPT = r"""
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

function init(args)
  local path, total, route = args[1], tonumber(args[2]), args[3]
  pool = {}
  local i = 0
  for line in io.lines(path) do
    if i % total == index - 1 then
      local tab = line:find("\t", 1, true)
      pool[#pool + 1] = wrk.format("POST", route, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
    i = i + 1
  end
  position, wrapped, bad = 0, 0, 0
end

function request()
  position = position + 1
  if position > #pool then
    position, wrapped = 1, 1
  end
  return pool[position]
end

function response(status, headers, body)
  if status ~= 200 or not body:find("<Number", 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local wrapped, bad = 0, 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + thread:get("wrapped")
    bad = bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f, "bad": %d, "wrapped": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, bad, wrapped, e.connect, e.read,
    e.write, e.status, e.timeout))
end
"""


# --- the servers' applications (built in the server process, from environment variables) ------


def make_app() -> Starlette:
    """ours: the service itself, as `hotline serve` builds it. uvicorn's factory in every worker
    process (spawned: nothing but the environment reaches it)."""
    config_path = os.environ.get(ENV_CONFIG) or None
    settings = Settings(
        config=load_config(config_path),
        database_url=os.environ[ENV_DATABASE],
        public_url=os.environ[ENV_PUBLIC_URL],
    )
    from web.app import create_app  # the server process only: the app and all it imports

    return create_app(settings)


def make_bare_app() -> Starlette:
    """bare: one route answering a constant TwiML document."""
    document = Path(os.environ[ENV_TWIML]).read_text(encoding="utf-8")

    async def incoming(_request: Request) -> Response:
        return Response(document, media_type="application/xml")

    return Starlette(routes=[Route(PATH, incoming, methods=["POST"])])


# --- the database ----------------------------------------------------------------------------


@contextmanager
def database(base_url: str | None, workdir: Path) -> Iterator[tuple[str, Database]]:
    """An empty database (its URL, and a handle for the benchmark's own use): a SQLite file in
    workdir, or a new schema of the PostgreSQL database, dropped afterwards."""
    if base_url is None:
        url = f"sqlite:///{workdir / 'voice.sqlite3'}"
        db = Database(make_engine(url))
        try:
            yield url, db
        finally:
            db.dispose()
        return
    with scratch_schema(base_url, "bench_voice_") as url:
        db = Database(make_engine(url))
        try:
            yield url, db
        finally:
            db.dispose()


def _handoff(config: HotlineConfig, day: datetime) -> datetime:
    """HANDOFF local time on the local date of `day`, in UTC."""
    zone = config.organisation.zone
    local = day.astimezone(zone).date()
    return datetime.combine(local, HANDOFF, tzinfo=zone).astimezone(UTC)


def populate(db: Database, config: HotlineConfig, now: datetime) -> dict[str, int]:
    """Teams, 50 counsellors, two years of daily shifts (primary and backup per team, handoff
    at 08:00 local), a stand-in a month per team and a year of call records; bulk-inserted."""
    Base.metadata.create_all(db.engine)
    with db.write() as session:
        sync_teams(session, config)
    rng = random.Random(1)
    stamp = now - timedelta(days=DAYS_BACK + 30)
    with db.write() as session:
        teams = {team.slug: team.id for team in session.scalars(select(Team))}
        members: dict[str, list[int]] = {}
        serial = 0
        for slug, size in TEAM_SIZES.items():
            people = [
                Counsellor(
                    name=f"Beraterin {slug} {i:02d}",
                    phone=f"+49151{serial + i:08d}",
                    email=f"{slug}.{i}@konex.example",
                    active=True,
                    created_at=stamp,
                    updated_at=stamp,
                )
                for i in range(size)
            ]
            serial += size
            session.add_all(people)
            session.flush()
            members[slug] = [person.id for person in people]
        session.execute(
            insert(TeamMembership),
            [{"team_id": teams[s], "counsellor_id": c} for s, ids in members.items() for c in ids],
        )
        first = _handoff(config, now - timedelta(days=DAYS_BACK))
        zone = config.organisation.zone
        shift_rows: list[dict[str, Any]] = []
        stand_in_rows: list[dict[str, Any]] = []
        for slug, ids in members.items():
            local = first.astimezone(zone)
            for day in range(DAYS_BACK + DAYS_AHEAD):
                start = local.astimezone(UTC)
                local = datetime.combine(local.date() + timedelta(days=1), HANDOFF, tzinfo=zone)
                end = local.astimezone(UTC)
                for tier, person in (
                    (Tier.PRIMARY, ids[day % len(ids)]),
                    (Tier.BACKUP, ids[(day + len(ids) // 2) % len(ids)]),
                ):
                    shift_rows.append(
                        {
                            "team_id": teams[slug],
                            "counsellor_id": person,
                            "tier": tier,
                            "start_at": start,
                            "end_at": end,
                            "created_at": stamp,
                            "updated_at": stamp,
                        }
                    )
                if day % 30 == 7:  # a stand-in a month: the day's primary is away 3 days
                    absent = ids[day % len(ids)]
                    stand_in_rows.append(
                        {
                            "team_id": teams[slug],
                            "absent_id": absent,
                            "substitute_id": rng.choice([c for c in ids if c != absent]),
                            "start_at": start,
                            "end_at": start + timedelta(days=3),
                            "note": "Urlaub",
                            "created_at": stamp,
                        }
                    )
        session.execute(insert(Shift), shift_rows)
        session.execute(insert(StandIn), stand_in_rows)
        call_rows = []
        for i in range(DAYS_BACK * CALLS_PER_DAY):
            started = now - timedelta(seconds=rng.uniform(3600, DAYS_BACK * 86400))
            slug = rng.choice(list(config.lines))
            call_rows.append(
                {
                    "call_sid": f"CA{secrets.token_hex(16)}",
                    "line": slug,
                    "team_id": teams[config.lines[slug].team],
                    "state": "completed",
                    "outcome": "accepted" if i % 5 else "voicemail",
                    "caller_hash": secrets.token_hex(32),
                    "started_at": started,
                    "ended_at": started + timedelta(minutes=12),
                }
            )
        session.execute(insert(Call), call_rows)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:  # table statistics, as autovacuum would gather
            connection.execute(text("ANALYZE"))
    return {
        "counsellors": serial,
        "shifts": len(shift_rows),
        "stand-ins": len(stand_in_rows),
        "calls": len(call_rows),
    }


def call_count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Call)) or 0)


def settled_call_count(db: Database, quiet: float = 0.5, limit: float = 10.0) -> int:
    """The number of call records once no more arrive for `quiet` seconds (longer than the
    hot path's flush interval: what a worker still had queued is written by then)."""
    deadline = time.monotonic() + limit
    count = call_count(db)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = call_count(db)
        if again == count:
            break
        count = again
    return count


# --- configuration: open while we measure -----------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[str]:
    lines = [f"[{'.'.join(prefix)}]"] if prefix else []
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", *_toml(value, (*prefix, key))]
    return lines


def always_open_config(path: Path) -> Path:
    """The shipped configuration, except that LINE is open around the clock, holidays too."""
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data["lines"][LINE]["hours"] = dict.fromkeys(WEEKDAYS, "00:00-24:00")
    data["lines"][LINE]["closed_on_holidays"] = False
    path.write_text("\n".join(_toml(data)) + "\n", encoding="utf-8")
    config = load_config(path)
    week = [datetime.now(UTC) + timedelta(minutes=m) for m in range(0, 7 * 24 * 60, 97)]
    if any(hours.closed_reason(config, config.lines[LINE], at) for at in week):
        raise SystemExit(f"{path}: line {LINE} is not open around the clock")
    return path


def config_for_run(workdir: Path, seconds: float) -> tuple[Path | None, str]:
    """None (the shipped file) if LINE is open now and `seconds` from now, else an always-open
    copy; and a description."""
    config = load_config(None)
    line = config.lines[LINE]
    now = datetime.now(UTC)
    reasons = {hours.closed_reason(config, line, now + timedelta(seconds=s)) for s in (0, seconds)}
    if reasons == {None}:
        return None, f"shipped configuration (line {LINE} is open now)"
    path = always_open_config(workdir / "always-open.toml")
    closed = ", ".join(sorted(r for r in reasons if r))
    return path, f"line {LINE} open 24/7 (shipped hours: closed now or soon, {closed})"


# --- requests ----------------------------------------------------------------------------------


def signed_requests(public_url: str, to: str, count: int) -> list[tuple[str, str]]:
    """`count` incoming-call webhooks as Twilio sends them, each with its own CallSid and
    caller: (X-Twilio-Signature, form body)."""
    validator = RequestValidator(DEVELOPMENT_AUTH_TOKEN)
    url = public_url + PATH
    out = []
    for _ in range(count):
        caller = f"+49170{secrets.randbelow(10**7):07d}"
        params = {
            "AccountSid": "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "CallSid": f"CA{secrets.token_hex(16)}",
            "CallStatus": "ringing",
            "Called": to,
            "CalledCountry": "DE",
            "Caller": caller,
            "CallerCountry": "DE",
            "Direction": "inbound",
            "From": caller,
            "FromCountry": "DE",
            "To": to,
            "ToCountry": "DE",
        }
        out.append((str(validator.compute_signature(url, params)), urlencode(params)))
    return out


def write_requests(path: Path, requests: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{sig}\t{body}\n" for sig, body in requests), encoding="utf-8")
    return path


def post(port: int, signature: str, body: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{PATH}",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return (
                response.status,
                response.headers.get("content-type", ""),
                response.read().decode(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode()


# --- server and load ------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


# uvicorn says this at log level info once per worker, when its app has started.
STARTED = "Application startup complete."


@contextmanager
def serve(
    factory: str, env: dict[str, str], port: int, log: Path, workers: int = 1
) -> Iterator[Server]:
    """uvicorn with `workers` workers in its own process, ready once every worker has started
    its app; stopped (SIGTERM, then SIGKILL) afterwards. Several workers run as `hotline serve
    --workers N` runs them (`app.server.run_workers`: uvicorn's supervisor, with TCP_NODELAY)."""
    command = [
        sys.executable, "-m", "uvicorn", f"bench.voice:{factory}", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "info",
    ]  # fmt: skip
    if workers > 1:
        command = [
            sys.executable, "-c",
            "import sys, uvicorn; from app.server import run_workers; run_workers(uvicorn.Config("
            "sys.argv[1], factory=True, host='127.0.0.1', port=int(sys.argv[2]), "
            "workers=int(sys.argv[3]), access_log=False, log_level='info'))",
            f"bench.voice:{factory}", str(port), str(workers),
        ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=os.environ | env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{factory}: the server exited:\n{log.read_text()}")
            # The port accepts as soon as uvicorn's supervisor binds it; a worker serves later.
            started = log.read_text(errors="replace").count(STARTED)
            if started >= workers:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{factory}: {started} of {workers} workers started on port {port} after 60 s"
                )
            time.sleep(0.05)
        yield Server(process, port, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bad: int  # not 200, or no <Number> in the answer
    wrapped: bool  # ran out of precomputed requests and sent some twice
    errors: dict[str, int]
    cpu_seconds: float = 0.0  # the server's, while loaded

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / self.requests if self.requests else math.nan

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_command(
    url: str, script: Path, pool: Path, seconds: float, connections: int, threads: int
) -> list[str]:
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(script), url, "--", str(pool), str(threads), PATH,
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its descendants (a supervisor's workers), from
    /proc: what a request costs the server, whatever else runs on the machine. 0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, pending = 0.0, [pid]
    while pending:
        each = pending.pop()
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{each}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def wrk(command: list[str]) -> Load:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(found[0].removeprefix("BENCH "))
    return Load(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        bad=raw["bad"],
        wrapped=bool(raw["wrapped"]),
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]},
    )


# --- checks -----------------------------------------------------------------------------------


def on_call_phones(db: Database, config: HotlineConfig) -> set[str]:
    """Phones of whoever is primary on call for LINE a minute either side of now (a handoff
    may fall between this and the request)."""
    found: set[str] = set()
    now = datetime.now(UTC)
    with db.read() as session:
        for at in (now - timedelta(minutes=1), now + timedelta(minutes=1)):
            primary = shifts.on_call(session, config, config.lines[LINE].team, at).primary
            found.update(person.phone for person in primary)
    if not found:
        raise SystemExit(f"nobody is primary on call for {LINE} now: the rota is wrong")
    return found


def check_answer(
    name: str, answer: tuple[int, str, str], phones: set[str], menu: tuple[str, ...] = ()
) -> None:
    """200, TwiML, and a <Dial> with a <Number> (the primary on call is rung); with `menu` (the
    Twilio language codes of a line of several languages), the language menu in front: a
    <Gather> announcing each language in its own. Fail loudly if not."""
    status, content_type, body = answer
    problems = []
    if menu and ("<Gather" not in body or not all(f'language="{code}"' in body for code in menu)):
        problems.append(f"no language menu in front ({', '.join(menu)})")
    if status != 200:
        problems.append(f"status {status}")
    if not content_type.startswith("application/xml"):
        problems.append(f"content type {content_type!r}")
    if "<Dial" not in body or "<Number" not in body:
        problems.append("no <Dial> with a <Number>: nobody is rung (closed? nobody on call?)")
    elif not any(f">{phone}</Number>" in body for phone in phones):
        problems.append(f"the primary on call ({', '.join(sorted(phones))}) is not rung")
    if problems:
        raise SystemExit(
            f"{name}: the answer is not the open-hours path that dials counsellors: "
            f"{'; '.join(problems)}\n{body[:1000]}"
        )


def server_log(log: Path) -> list[str]:
    """What the server logged at warning and up (uvicorn's own info lines left out: the
    service's loggers print warnings only, without uvicorn's prefix)."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("INFO:")]


# --- profiling --------------------------------------------------------------------------------


def profile(pid: int, seconds: float, out: Path) -> str:
    """py-spy samples of whichever server thread holds the GIL, as collapsed stacks; a
    summary."""
    # The virtualenv's scripts are beside its python, which need not be on PATH.
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return "py-spy is not installed (pip install py-spy): no profile"
    command = [
        spy, "record", "--pid", str(pid), "--duration", str(math.ceil(seconds)), "--rate", "250",
        "--gil", "--nonblocking", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        return f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return summarise(out)


# A sample goes to the layer of its innermost frame that matches one of these (file path parts).
LAYERS = [
    ("thread hand-off (connection pool, queues, anyio workers)", "sqlalchemy/pool/"),
    ("thread hand-off (connection pool, queues, anyio workers)", "/queue.py"),
    ("thread hand-off (connection pool, queues, anyio workers)", "/threading.py"),
    ("thread hand-off (connection pool, queues, anyio workers)", "anyio/"),
    ("DB driver (cursor execute/fetch)", "do_execute"),
    ("DB driver (cursor execute/fetch)", "psycopg/"),
    ("signature check (RequestValidator)", "request_validator.py"),
    ("holiday calendar (closed_reason → is_holiday)", "holidays/"),
    ("TwiML building (twilio.twiml, ElementTree)", "twiml/"),
    ("TwiML building (twilio.twiml, ElementTree)", "ElementTree.py"),
    ("SQLAlchemy ORM", "sqlalchemy/orm/"),
    ("SQLAlchemy Core (statements, compile cache, results)", "sqlalchemy/"),
    ("HTTP (uvicorn, h11)", "h11/"),
    ("HTTP (uvicorn, h11)", "uvicorn/"),
    ("Starlette", "starlette/"),
    ("asyncio event loop", "asyncio/"),
    ("prometheus metrics", "prometheus_client/"),
    ("our code (own frames)", "(web/"),
    ("our code (own frames)", "(hotline/"),
    ("our code (own frames)", "(scheduling/"),
    ("our code (own frames)", "(config/"),
]


def summarise(raw: Path) -> str:
    """Samples by layer (innermost matching frame), and our functions by inclusive share."""
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for key in {_frame(frame) for frame in frames}:
            inclusive[key] += count
        layer = "other"
        for frame in reversed(frames):
            where = _frame(frame)  # our files relative to the repository
            found = next((name for name, part in LAYERS if part in where), None)
            if found:
                layer = found
                break
        layers[layer] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples of the thread holding the GIL, by layer (innermost frame):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in layers.most_common()]
    lines.append("our functions, inclusive (with what they call):")
    ours = sorted(((k, n) for k, n in inclusive.items() if _ours(k)), key=lambda kn: -kn[1])
    lines += [f"  {100 * n / total:5.1f}%  {k}" for k, n in ours[:20]]
    return "\n".join(lines)


def _frame(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"; drop the line number.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path.removeprefix(str(ROOT) + '/')})"


def _ours(key: str) -> bool:
    return any(f"({part}/" in key for part in ("web", "hotline", "scheduling", "config"))


# --- main --------------------------------------------------------------------------------------


@dataclass
class Result:
    load: Load  # the timed phase
    warmup: Load
    alone: Load  # one connection: latency without queueing
    calls_added: int | None  # call records written during the timed phase
    log: list[str]  # whatever the server logged (warning and up)
    profile: str | None = None


@dataclass
class Target:
    name: str
    factory: str
    env: dict[str, str]
    unique: bool  # each request must be new (ours records calls); bare may reuse requests
    check: Any  # check(answer) raises SystemExit if the answer is wrong
    workers: int = 1


def measure(target: Target, workdir: Path, args: argparse.Namespace, db: Database | None) -> Result:
    """Serve the target, check one answer, warm up, time under load, time one connection
    alone; then, for ours with --profile, sample it under the same load."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    url = public_url + PATH
    env = target.env | {ENV_PUBLIC_URL: public_url}
    to = load_config(env.get(ENV_CONFIG) or None).lines[LINE].number
    script = workdir / "voice.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")

    def pool(phase: str, count: int) -> Path:
        # Enough for the phase when each request must be new; bare repeats a smaller pool.
        count = count if target.unique else min(count, 20_000)
        requests = signed_requests(public_url, to, count)
        return write_requests(workdir / f"{target.name}-{phase}.tsv", requests)

    def load(phase: str, seconds: float, connections: int, count: int) -> Load:
        threads = min(args.threads, connections)
        command = wrk_command(url, script, pool(phase, count), seconds, connections, threads)
        cpu = cpu_seconds(server.process.pid)
        measured = wrk(command)
        measured.cpu_seconds = cpu_seconds(server.process.pid) - cpu
        return measured

    log = workdir / f"{target.name}.log"
    summary = None
    with serve(target.factory, env, port, log, target.workers) as server:
        [(signature, body)] = signed_requests(public_url, to, 1)
        target.check(post(port, signature, body))
        warmup = load("warmup", WARMUP_SECONDS, args.connections, 8000)
        # Twice as many new requests as the warm-up rate needs for the timed phase.
        expected = max(5000, math.ceil(2 * warmup.rate * args.duration))
        before = settled_call_count(db) if db is not None else 0
        timed = load("timed", args.duration, args.connections, expected)
        added = settled_call_count(db) - before if db is not None else None
        alone = load("alone", ALONE_SECONDS, 1, 5000)
        if args.profile and target.unique and target.workers == 1:
            seconds = args.profile + 2
            command = wrk_command(
                url,
                script,
                pool("profile", max(5000, math.ceil(2 * timed.rate * seconds))),
                seconds,
                args.connections,
                args.threads,
            )
            with subprocess.Popen(command, stdout=subprocess.DEVNULL) as loader:
                time.sleep(1)
                summary = profile(server.process.pid, args.profile, workdir / "profile.txt")
                loader.wait()
    return Result(timed, warmup, alone, added, server_log(log), summary)


def report(name: str, result: Result) -> None:
    load, alone = result.load, result.alone
    print(
        f"  {name}: {load.rate:8,.0f} req/s  p50 {load.p50_ms:7.2f} ms  p90 {load.p90_ms:7.2f} ms"
        f"  p99 {load.p99_ms:7.2f} ms  max {load.max_ms:7.1f} ms  ({load.requests} requests in"
        f" {load.seconds:.1f} s; warm-up {result.warmup.rate:,.0f} req/s)"
    )
    print(
        f"  {'':{len(name)}}  alone (1 connection): {alone.rate:,.0f} req/s, p50 "
        f"{alone.p50_ms:.2f} ms, p99 {alone.p99_ms:.2f} ms"
    )
    print(f"  {'':{len(name)}}  server CPU per request (timed): {load.cpu_ms_per_request:.3f} ms")
    if result.calls_added is not None:
        print(f"    call records written while timed: {result.calls_added}")
    problems = []
    for phase, measured in (("timed", load), ("alone", alone)):
        if measured.bad:
            problems.append(f"{phase}: {measured.bad} answers were not 200 with a <Number>")
        if measured.errors:
            problems.append(f"{phase}: socket errors {measured.errors}")
    if result.calls_added is not None:
        if load.wrapped:
            problems.append("ran out of precomputed requests: some CallSids were sent twice")
        if result.calls_added < load.requests:
            problems.append("fewer call records than answered requests")
    if result.log:
        shown = "\n      ".join(result.log[:5])
        problems.append(f"the server logged {len(result.log)} lines, e.g.:\n      {shown}")
    for problem in problems:
        print(f"    WARNING: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, default=12, help="timed seconds per target (12)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL; a fresh schema is made in it and dropped (default: SQLite file)",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="S",
        help="afterwards, sample ours (one worker) with py-spy for S seconds under the same load",
    )
    parser.add_argument(
        "--profile-out", type=Path, metavar="PATH", help="keep py-spy's raw samples in PATH"
    )
    workers = parser.add_mutually_exclusive_group()
    workers.add_argument(
        "--workers", type=int, default=1, metavar="N", help="ours with N worker processes (1)"
    )
    workers.add_argument(
        "--workers-compare",
        type=int,
        nargs="?",
        const=os.cpu_count() or 1,
        metavar="N",
        help=f"ours with 1 and with N workers in the same run (N: the cores, {os.cpu_count()})",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.threads < 1 or args.profile < 0:
        parser.error("--duration, --connections and --threads must be positive")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    if args.workers < 1 or (args.workers_compare is not None and args.workers_compare < 2):
        parser.error("--workers must be at least 1, --workers-compare at least 2")
    many = args.workers_compare or args.workers
    if many > 1 and args.database_url is None:
        parser.error("more than one worker needs PostgreSQL (--database-url), as hotline serve")
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: ./scripts/bench voice installs it (apt-get, as root), or"
            " install it yourself (apt-get install -y wrk; brew install wrk); see bench/README.md"
        )
    # (name, workers) of ours, in the order measured
    ours_runs = [("ours", args.workers)]
    if args.workers_compare is not None:
        ours_runs = [("ours", 1), (f"ours x{args.workers_compare}", args.workers_compare)]
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        targets = len(ours_runs) + 1
        seconds = targets * (WARMUP_SECONDS + args.duration + ALONE_SECONDS) + args.profile + 120
        config_path, config_note = config_for_run(workdir, seconds)
        config = load_config(config_path)
        with database(args.database_url, workdir) as (url, db):
            backend = db.engine.dialect.name
            began = time.perf_counter()
            counts = populate(db, config, datetime.now(UTC))
            print(
                f"{backend}: {', '.join(f'{n} {k}' for k, n in counts.items())}; built in "
                f"{time.perf_counter() - began:.1f} s\n{config_note}\n"
                f"load: wrk, {args.threads} thread(s), {args.connections} connections, "
                f"{WARMUP_SECONDS:g} s warm-up + {args.duration:g} s timed per target; "
                f"load average before: {_load_average()}"
            )
            env = {ENV_DATABASE: url, ENV_CONFIG: str(config_path or "")}
            answer: dict[str, str] = {}

            line = config.lines[LINE]
            menu = (
                tuple(line.in_language(c).language for c in line.languages)
                if len(line.languages) > 1
                else ()
            )
            if menu:
                print(f"{LINE}: the language menu in front ({', '.join(line.languages)})")

            def check_ours(got: tuple[int, str, str]) -> None:
                check_answer("ours", got, on_call_phones(db, config), menu)
                answer.setdefault("twiml", got[2])  # bare answers the first one

            for name, count in ours_runs:
                target = Target(name, "make_app", env, True, check_ours, workers=count)
                results[name] = measure(target, workdir, args, db)
            twiml = workdir / "answer.xml"
            twiml.write_text(answer["twiml"], encoding="utf-8")

            def check_bare(got: tuple[int, str, str]) -> None:
                check_answer("bare", got, on_call_phones(db, config), menu)
                if got[2] != answer["twiml"]:
                    raise SystemExit("bare: not the document ours answered")

            bare_env = env | {ENV_TWIML: str(twiml)}
            bare = measure(
                Target("bare", "make_bare_app", bare_env, False, check_bare), workdir, args, None
            )
            if args.profile_out and (workdir / "profile.txt").exists():
                shutil.copyfile(workdir / "profile.txt", args.profile_out)
    print(f"\nload average after: {_load_average()}")
    for name, count in ours_runs:
        report(f"{name} ({count} worker{'s' if count > 1 else ''})", results[name])
    report("bare", bare)
    for name, result in results.items():
        ratio = result.load.rate / bare.load.rate
        cpu = bare.load.cpu_ms_per_request / result.load.cpu_ms_per_request
        print(
            f"  {name}/bare: throughput {ratio:.3f}, p50 "
            f"{result.load.p50_ms / bare.load.p50_ms:.0f}x, "
            f"p99 {result.load.p99_ms / bare.load.p99_ms:.0f}x; "
            f"bare's CPU per request / ours: {cpu:.3f}"
        )
    if args.workers_compare is not None:
        many_name = ours_runs[1][0]
        scale = results[many_name].load.rate / results["ours"].load.rate
        print(f"  {many_name}/ours (1 worker): throughput {scale:.3f}")
    ours = results["ours"]
    ratio = ours.load.rate / bare.load.rate
    met = ratio >= TARGET_RATIO
    print(f"  target: ours throughput >= {TARGET_RATIO} of bare: {'met' if met else 'MISSED'}")
    met = ours.load.p99_ms < TARGET_P99_MS
    print(f"  target: ours p99 < {TARGET_P99_MS:g} ms: {'met' if met else 'MISSED'}")
    if ours.profile is not None:
        print(f"\nprofile of ours ({args.profile:g} s under the same load):\n{ours.profile}")
    return 0


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
