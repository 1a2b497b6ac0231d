"""Several processes on one PostgreSQL database: `hotline serve --workers N`, and rota changes that
reach every process at once (`foundation.signals`)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import anyio
import pytest
import uvicorn
from sqlalchemy import text
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from app import server
from app.cli import main
from config.model import SHIPPED, load_config
from config.settings import DEVELOPMENT_AUTH_TOKEN
from foundation import apikeys, signals
from foundation.clock import utcnow
from foundation.db import Database, make_engine, scratch_schema, upgrade
from foundation.models import Counsellor
from foundation.teams import sync_teams
from tests.conftest import PG_URL
from tests.helpers import free_port, put_on_call

ISLAMISM = "+497112794555"
STARTUP_LIMIT = 60  # seconds, on a loaded machine


def test_serve_refuses_workers_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'hotline.sqlite3'}")
    assert main(["serve", "--workers", "2"]) == 2
    assert "hotline: --workers 2 needs PostgreSQL: SQLite" in capsys.readouterr().err
    assert not (tmp_path / "hotline.sqlite3").exists()  # refused before anything was done
    assert main(["serve", "--workers", "0"]) == 2


def test_the_workers_connections_send_without_delay() -> None:
    """The socket `hotline serve --workers N` hands its workers gives every accepted connection
    TCP_NODELAY, as one worker's has: uvicorn's own leaves Nagle's algorithm on (about 40 ms per
    request on a keep-alive connection, uvicorn issue 3149)."""
    config = uvicorn.Config("app.server:create", factory=True, host="127.0.0.1", port=0, workers=2)
    listener = server.listening_socket(config)
    assert listener.proto == socket.IPPROTO_TCP
    accepted: list[int] = []

    async def accept_one() -> None:
        import asyncio

        loop = asyncio.get_running_loop()

        class Note(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        served = await loop.create_server(Note, sock=listener)
        async with served:
            port = listener.getsockname()[1]
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):  # bounded: 1 s
                if accepted:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    anyio.run(accept_one)
    assert accepted
    assert accepted[0] != 0


def test_a_worker_builds_the_app_from_the_environment_without_the_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each process of `hotline serve --workers N` runs (`app.server.create`): the settings
    from the environment the parent completed, and never the scheduler (the parent runs it)."""
    for name in ("HOTLINE_CONFIG", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'hotline.sqlite3'}"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", "http://127.0.0.1:8123")
    upgrade(url)
    app = server.create()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert app.state.scheduler is None
        assert app.state.settings.public_url == "http://127.0.0.1:8123"


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("HOTLINE_TEST_DATABASE_URL is not set")
    with scratch_schema(PG_URL, "t_") as url:
        yield url


def always_open(tmp_path: Path) -> Path:
    """The shipped configuration with the lines open around the clock, every day: the servers
    run on the real clock."""
    shipped = SHIPPED.read_text(encoding="utf-8")
    opened = re.sub(r'"09:00-1[68]:00"', '"00:00-24:00"', shipped)
    opened = re.sub(
        r'(fri = "00:00-24:00"\n)', r'\1sat = "00:00-24:00"\nsun = "00:00-24:00"\n', opened
    )
    opened = opened.replace("closed_on_holidays = true", "closed_on_holidays = false")
    path = tmp_path / "hotline.toml"
    path.write_text(opened, encoding="utf-8")
    return path


@contextmanager
def served(url: str, config: Path, log: Path, *options: str) -> Iterator[int]:
    """`hotline serve OPTIONS` as a real program on a free port, until the block ends (SIGINT,
    as Ctrl-C; it must then exit cleanly)."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HOTLINE_", "TWILIO_"))
    }
    environment.update(HOTLINE_DATABASE_URL=url, HOTLINE_CONFIG=str(config))
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hotline",
                "serve",
                "--port",
                f"{port}",
                *options,
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()


def started_workers(log: Path, count: int, port: int) -> list[int]:
    """The process ids of the `count` uvicorn servers of a `hotline serve`, once each has
    finished its startup (uvicorn's log lines) and /readyz answers."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        lines = log.read_text()
        pids = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", lines)]
        if len(pids) == count and lines.count("Application startup complete") == count:
            break
        assert "Traceback" not in lines, lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/readyz")
    assert connection.getresponse().status == 200
    connection.close()
    return pids


def owner(connection: http.client.HTTPConnection, pids: list[int]) -> int:
    """Which of the processes `pids` holds the server's end of `connection` (from /proc: the
    socket's inode by its two ports, then whose file descriptors name it)."""
    assert connection.sock is not None
    client = connection.sock.getsockname()[1]
    server = connection.port
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            if (local, remote) == (server, client):
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no process of {pids} holds port {client}")


def one_connection_each(port: int, pids: list[int]) -> dict[int, http.client.HTTPConnection]:
    """A kept-alive connection to each of the worker processes (new connections go to whichever
    worker accepts first: at most 40 tries)."""
    kept: dict[int, http.client.HTTPConnection] = {}
    for _ in range(40):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        pid = owner(connection, pids)
        if pid in kept:
            connection.close()
        else:
            kept[pid] = connection
        if len(kept) == len(pids):
            return kept
    raise AssertionError(f"only {sorted(kept)} of the workers {pids} answered")


calls = iter(range(10**6))


def call(connection: http.client.HTTPConnection) -> str:
    """A signed incoming call to the islamism line; the TwiML answer."""
    url = f"http://127.0.0.1:{connection.port}/twilio/voice"
    params = {"CallSid": f"CA{next(calls):032d}", "To": ISLAMISM, "From": "+4917612345678"}
    signature = RequestValidator(DEVELOPMENT_AUTH_TOKEN).compute_signature(url, params)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    connection.request("POST", "/twilio/voice", urlencode(params), headers)
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status == 200, body
    return body


@pytest.mark.postgresql
def test_workers_answer_and_a_rota_change_reaches_every_process_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    """`hotline serve --workers 2` on PostgreSQL: two processes answer (as two servers would,
    each with its own memory); a stand-in entered through one rings at the next call through
    the other within a second, though it had the old answer in memory (fresh for 5 s). The
    scheduler runs in the supervising process meanwhile, and everything stops cleanly."""
    config_path = always_open(tmp_path)
    config = load_config(config_path)
    upgrade(pg_url)
    database = Database(make_engine(pg_url))
    try:
        with database.write() as session:
            sync_teams(session, config)
            _, key = apikeys.create_api_key(session, "tests", actor="tests")
        now = utcnow()
        rota = put_on_call(
            database, config, now - timedelta(hours=1), now + timedelta(hours=2), spare=True
        )
    finally:
        database.dispose()
    log = tmp_path / "serve.log"
    with served(pg_url, config_path, log, "--workers", "2") as port:
        workers = started_workers(log, 2, port)
        assert "2 web workers; the scheduler runs once, in this supervising process" in (
            log.read_text()
        )
        first, second = one_connection_each(port, workers).values()
        for connection in (first, second):  # each worker keeps this answer in memory
            assert rota.primary in call(connection)
            assert rota.primary in call(connection)
        start = utcnow()
        stand_in = {
            "team": "islamism",
            "absent_id": rota.primary_id,
            "substitute_id": rota.other_id,
            "start": (start - timedelta(minutes=5)).isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        }
        first.request(
            "POST",
            "/api/v1/standins",
            json.dumps(stand_in),
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = first.getresponse()
        assert response.status == 201, response.read()
        response.read()
        changed = time.monotonic()
        for connection in (second, first):
            while rota.other not in (answer := call(connection)):
                assert rota.primary in answer
                assert time.monotonic() - changed < 1, "the change did not arrive within 1 s"
                time.sleep(0.02)
            assert rota.primary not in answer
        first.close()
        second.close()
    lines = log.read_text()
    assert lines.count("scheduling.scheduler: scheduler started") == 1  # not in the workers
    assert "Scheduler has been shut down" in lines


@pytest.mark.postgresql
def test_the_listener_listens_again_after_losing_its_connection(pg_url: str) -> None:
    """PostgreSQL ends the listening connection (as at a restart): the listener connects again,
    counts that as a change (what was sent meanwhile is lost), and hears the next change of
    another process; not its own (counted at its flush), nor those of another schema."""
    upgrade(pg_url)
    database = Database(make_engine(pg_url))
    watched = signals.Signal("hotline_test_signal", (Counsellor,))  # nobody else sends on it
    listener = signals.Listener(database.engine, watched)
    notify = text("SELECT pg_notify('hotline_test_signal', :schema || ' ' || :sender)")

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.run)
            first = await until(lambda: listener.backend_pid)
            before = watched.version
            with database.write() as session:
                session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            await until(lambda: listener.backend_pid not in (None, first))
            assert watched.version > before  # the reconnection
            before = watched.version
            with database.write() as session:
                schema = session.scalar(text("SELECT current_schema()"))
                for where, sender in (
                    ("t_another_schema", "elsewhere"),
                    (schema, watched.sender),  # this process: it counted its change itself
                    (schema, "elsewhere"),  # last: the others have been read when it arrives
                ):
                    session.execute(notify, {"schema": where, "sender": sender})
            await until(lambda: watched.version > before)
            assert watched.version == before + 1
            tasks.cancel_scope.cancel()

    try:
        anyio.run(scenario)
    finally:
        database.dispose()
    assert listener.backend_pid is None


async def until(condition: Callable[[], object], limit: float = 5.0) -> object:
    deadline = time.monotonic() + limit
    while not (value := condition()):
        assert time.monotonic() < deadline, "not within the limit"
        await anyio.sleep(0.01)
    return value
